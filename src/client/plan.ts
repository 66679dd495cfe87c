/**
 * Turning staged operations into the core's `Change`s against a concrete repository state:
 * wildcard purges expanded (notary's `PurgeDelegationKeys`), witnessed invalid delegations brought
 * back with their content, the signers a publish may use, the snapshot mode, and a fast path for
 * bulk target edits.
 *
 * Why the fast path: the core's edit model copies a role's target map on every change, which is
 * quadratic for the 10,000-target bulk staging Vouch promises in about a second. A run of target
 * additions and removals (mixed with root-only changes, which commute with them) is validated
 * change by change against a probe draft whose target maps are empty (the same checks, O(1) each),
 * folded into one map per role, and handed to the core as the starting state plus a `witness` of
 * each touched role, so the core still signs, versions and snapshots as usual.
 */
import { applyChange, draftFrom, emptyTargets, type Change, type RepoState } from '../tuf/edit.ts';
import { canonicalKeyId, type PublicKey } from '../tuf/keys.ts';
import type { FileMeta, Metadata, TargetsSigned } from '../tuf/metadata.ts';
import { parseRoleName } from '../tuf/roles.ts';
import type { Signer } from '../tuf/signer.ts';
import type { RoleName } from '../tuf/types.ts';
import type { Operation } from './changes.ts';
import { holdsKey, signersForKeys, type KeySource } from './keys.ts';
import type { Logger } from './log.ts';

/** Keys a role lists in `state` (root's for base roles, the parent file's for delegations). */
export function roleKeys(state: RepoState, role: string): PublicKey[] {
  const root = state.root?.signed;
  if (root === undefined) return [];
  if (role === 'root' || role === 'targets' || role === 'snapshot' || role === 'timestamp') {
    return (root.roles.get(role)?.keyIds ?? []).flatMap((id) => root.keys.get(id) ?? []);
  }
  const parent = state.targets?.get(role.slice(0, role.lastIndexOf('/')));
  const entry = parent?.signed.delegations.roles.find((r) => r.name === role);
  return (entry?.keyIds ?? []).flatMap((id) => parent?.signed.delegations.keys.get(id) ?? []);
}

function canonicalOf(key: PublicKey): string {
  try {
    return canonicalKeyId(key);
  } catch {
    return key.id;
  }
}

/** `delegation purge`: remove keys from every delegation below the wildcard's parent we can sign. */
function expandPurge(state: RepoState, scope: string, keyIds: readonly string[], held: ReadonlySet<string>, log: Logger): Change[] {
  const start = scope.slice(0, -2); // `targets/*` → `targets`
  const wanted = new Set(keyIds);
  const out: Change[] = [];
  for (const [fileRole, file] of state.targets ?? []) {
    if (fileRole !== start && !fileRole.startsWith(`${start}/`)) continue;
    const hits = file.signed.delegations.roles.flatMap((d) => {
      const ids = d.keyIds.filter((id) => {
        const key = file.signed.delegations.keys.get(id);
        return wanted.has(id) || (key !== undefined && wanted.has(canonicalOf(key)));
      });
      return ids.length > 0 ? [{ name: d.name, ids }] : [];
    });
    if (hits.length === 0) continue;
    if (!roleKeys(state, fileRole).some((k) => holdsKey(held, k))) {
      log.warn(`role ${fileRole} contains keys being purged but you do not have the necessary keys present to sign it; keys will not be purged from ${fileRole} or its immediate children`);
      continue;
    }
    for (const h of hits) out.push({ kind: 'updateDelegation', name: h.name, removeKeys: h.ids });
  }
  return out;
}

export function toChanges(ops: readonly Operation[], state: RepoState, held: ReadonlySet<string>, log: Logger): Change[] {
  return ops.flatMap((op) => (op.kind === 'change' ? [op.change] : expandPurge(state, op.scope, op.keyIds, held, log)));
}

/** `state` with every witnessed, currently invalid delegation restored (content kept). */
export function withWitnessed(state: RepoState, changes: readonly Change[], invalid: ReadonlyMap<RoleName, Metadata<TargetsSigned>>): RepoState {
  const targets = new Map(state.targets ?? []);
  let touched = false;
  for (const c of changes) {
    if (c.kind !== 'witness' || targets.has(c.role)) continue;
    const file = invalid.get(c.role as RoleName);
    if (file !== undefined) {
      targets.set(c.role, file);
      touched = true;
    }
  }
  return touched ? { ...state, targets } : state;
}

/** Every key the publish could sign with: in root, in any delegation, or added by a change. */
export function publishSigners(source: KeySource, held: ReadonlySet<string>, state: RepoState, changes: readonly Change[]): Signer[] {
  const keys: PublicKey[] = [...(state.root?.signed.keys.values() ?? [])];
  for (const file of state.targets?.values() ?? []) keys.push(...file.signed.delegations.keys.values());
  for (const c of changes) {
    if (c.kind === 'rotateBaseRole') keys.push(...c.keys);
    if (c.kind === 'updateDelegation') keys.push(...(c.addKeys ?? []));
  }
  return signersForKeys(source, held, keys, '');
}

/** The client signs the snapshot when it holds a snapshot key of the root being published. */
export function snapshotMode(state: RepoState, changes: readonly Change[], held: ReadonlySet<string>): 'client' | 'server' {
  let keys = roleKeys(state, 'snapshot');
  for (const c of changes) if (c.kind === 'rotateBaseRole' && c.role === 'snapshot') keys = [...c.keys];
  return keys.some((k) => holdsKey(held, k)) ? 'client' : 'server';
}

function commutesWithTargets(c: Change): boolean {
  if (c.kind === 'rotateBaseRole') return true;
  if (c.kind === 'setThreshold') return c.role === 'root' || c.role === 'targets' || c.role === 'snapshot' || c.role === 'timestamp';
  return c.kind === 'witness';
}

const FAST_PATH_MIN = 64;

/**
 * The bulk fast path: returns an equivalent (state, changes) pair whose changes no longer hold
 * the target edits, or undefined when the changes do not qualify (delegation edits present).
 */
export function foldTargetEdits(state: RepoState, changes: readonly Change[]): { current: RepoState; changes: Change[] } | undefined {
  const edits = changes.filter((c) => c.kind === 'addTarget' || c.kind === 'removeTarget');
  if (edits.length < FAST_PATH_MIN || !changes.every((c) => c.kind === 'addTarget' || c.kind === 'removeTarget' || commutesWithTargets(c))) return undefined;
  const probeTargets = new Map<string, Metadata<TargetsSigned>>();
  for (const [role, meta] of state.targets ?? []) probeTargets.set(role, { ...meta, signed: { ...meta.signed, targets: new Map() } });
  const probe = draftFrom({ ...state, targets: probeTargets });
  const work = new Map<string, Map<string, FileMeta>>();
  for (const c of edits) {
    applyChange(probe, c); // every check the core makes, against an empty target map
    if (c.kind !== 'addTarget' && c.kind !== 'removeTarget') continue;
    const role = parseRoleName(c.role);
    let m = work.get(role);
    if (m === undefined) {
      m = new Map(state.targets?.get(role)?.signed.targets ?? []);
      work.set(role, m);
    }
    if (c.kind === 'addTarget') m.set(c.name, c.meta);
    else m.delete(c.name);
  }
  const targets = new Map(state.targets ?? []);
  for (const [role, m] of work) {
    const original = state.targets?.get(role);
    const view: TargetsSigned = { ...(original?.signed ?? emptyTargets()), targets: m };
    targets.set(role, {
      role: role as RoleName, signed: view, signatures: original?.signatures ?? [],
      bytes: original?.bytes ?? new Uint8Array(), signedBytes: original?.signedBytes ?? new Uint8Array(),
    });
  }
  const rest = changes.filter((c) => c.kind !== 'addTarget' && c.kind !== 'removeTarget');
  const witnesses: Change[] = [...work.keys()].map((role) => ({ kind: 'witness', role }));
  return { current: { ...state, targets }, changes: [...rest, ...witnesses] };
}


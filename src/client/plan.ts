/**
 * Turning staged operations into the core's `Change`s against a concrete repository state:
 * wildcard purges expanded (notary's `PurgeDelegationKeys`), witnessed invalid delegations brought
 * back with their content, the signers a publish may use, and the snapshot mode. (Bulk target
 * edits need no special path: the core's `applyChanges` is linear in the number of changes.)
 */
import type { Change, RepoState } from '../tuf/edit.ts';
import { canonicalKeyId, type PublicKey } from '../tuf/keys.ts';
import type { Metadata, TargetsSigned } from '../tuf/metadata.ts';
import { isBaseRole, parentRole } from '../tuf/roles.ts';
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

/**
 * Roles whose files `changes` make the publisher sign, snapshot included (roles re-signed only for
 * being near expiry are not predicted: their keys unlock when used).
 */
export function signingRoles(changes: readonly Change[]): string[] {
  const roles = new Set<string>();
  const parentOf = (name: string): string | undefined => parentRole(name as RoleName);
  for (const c of changes) {
    if (c.kind === 'addTarget' || c.kind === 'removeTarget' || c.kind === 'witness') roles.add(c.role);
    else if (c.kind === 'updateDelegation' || c.kind === 'removeDelegation') roles.add(parentOf(c.name) ?? 'targets');
    else if (c.kind === 'rotateBaseRole') {
      roles.add('root');
      if (c.role === 'targets' || c.role === 'snapshot') roles.add(c.role);
    } else roles.add(isBaseRole(c.role) ? 'root' : (parentOf(c.role) ?? 'targets'));
  }
  roles.add('snapshot');
  return [...roles];
}

/** Asks `source` to unlock, in the background, the keys `state` lists for `roles` (a hint). */
export function prefetchSigningKeys(source: KeySource, state: RepoState, roles: Iterable<string>): void {
  if (source.prefetch === undefined) return;
  const ids = new Set<string>();
  for (const role of roles) for (const key of roleKeys(state, role)) ids.add(canonicalOf(key));
  if (ids.size > 0) source.prefetch([...ids]);
}

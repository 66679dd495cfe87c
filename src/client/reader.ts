/**
 * Read-only queries over a verified collection, with notary's semantics (client/reader.go):
 *
 * - `walkTargets`: breadth-first from `targets` over loaded, valid roles; a role is visited when
 *   it lies in the subtree of `rolePath`, is not skipped, and (with a target path) may sign it.
 * - `listTargets(roles)`: one entry per name; roles are consulted in the given priority order
 *   (default `targets`, i.e. the whole tree) and the first role that signs a name wins.
 * - `getTargetByName(name, roles)`: the first match; `No valid trust data for <name>` otherwise.
 * - `getDelegationRoles`: every delegation declared by a visited file, key IDs made canonical.
 * Entries outside a role's effective paths are ignored, as notary ignores them.
 */
import { canonicalKeyId, type PublicKey } from '../tuf/keys.ts';
import type { FileMeta, Metadata, SignatureEntry, TargetsSigned } from '../tuf/metadata.ts';
import { pathAllowed, TARGETS } from '../tuf/roles.ts';
import type { TrustedCollection } from '../tuf/trusted.ts';
import type { RoleName } from '../tuf/types.ts';
import { noSuchTarget } from './errors.ts';

export interface TargetWithRole {
  readonly name: string;
  readonly meta: FileMeta;
  readonly role: RoleName;
}

export interface TargetSignedStruct {
  readonly role: RoleName;
  readonly paths: readonly string[];
  readonly keyIds: readonly string[];
  readonly threshold: number;
  readonly target: TargetWithRole;
  readonly signatures: readonly SignatureEntry[];
}

export interface DelegationInfo {
  readonly name: RoleName;
  readonly paths: readonly string[];
  /** Canonical key IDs (the private key file names), as notary shows them. */
  readonly keyIds: readonly string[];
  readonly threshold: number;
}

export interface WalkOptions {
  readonly targetPath?: string;
  readonly rolePath?: string;
  readonly skip?: readonly string[];
}

type Visitor = (role: RoleName, file: Metadata<TargetsSigned>, paths: readonly string[]) => 'stop' | void;

function isInSubtree(role: string, rolePath: string): boolean {
  return rolePath === '' || role === rolePath || role.startsWith(`${rolePath}/`);
}

export function walkTargets(tc: TrustedCollection, opts: WalkOptions, visit: Visitor): void {
  const rolePath = opts.rolePath ?? '';
  const targetPath = opts.targetPath ?? '';
  const queue: RoleName[] = [TARGETS];
  while (queue.length > 0) {
    const role = queue.shift() as RoleName;
    const file = tc.targets.get(role);
    if (file === undefined) continue;
    const children = tc.childrenOf(role).map((r) => r.name);
    if (rolePath.startsWith(`${role}/`)) {
      queue.push(...children);
      continue;
    }
    const paths = tc.pathsOf(role);
    const pathOk = targetPath === '' || pathAllowed(paths, targetPath);
    if (!pathOk || !isInSubtree(role, rolePath) || (opts.skip ?? []).includes(role)) continue;
    if (visit(role, file, paths) === 'stop') return;
    queue.push(...children);
  }
}

export function listTargets(tc: TrustedCollection, roles: readonly string[] = []): TargetWithRole[] {
  const order = roles.length === 0 ? [TARGETS as string] : roles;
  const out: TargetWithRole[] = [];
  // Names already listed; built only once a second role contributes (one role's file cannot
  // repeat a name, and most collections list everything in `targets`).
  let seen: Set<string> | undefined;
  let visited = 0;
  for (const rolePath of order) {
    const skip = order.filter((r) => r !== rolePath);
    walkTargets(tc, { rolePath, skip }, (role, file, paths) => {
      if (visited++ === 1) seen = new Set(out.map((t) => t.name));
      // The base role (and any role delegated "") may sign every name: no per-name prefix check.
      const unrestricted = paths.includes('');
      for (const [name, meta] of file.signed.targets) {
        if (seen?.has(name) === true || (!unrestricted && !pathAllowed(paths, name))) continue;
        seen?.add(name);
        out.push({ name, meta, role });
      }
    });
  }
  return out;
}

export function findTarget(tc: TrustedCollection, name: string, roles: readonly string[] = []): TargetWithRole | undefined {
  const order = roles.length === 0 ? [TARGETS as string] : roles;
  for (const rolePath of order) {
    const skip = order.filter((r) => r !== rolePath);
    let hit: TargetWithRole | undefined;
    walkTargets(tc, { targetPath: name, rolePath, skip }, (role, file) => {
      const meta = file.signed.targets.get(name);
      if (meta === undefined) return undefined;
      hit = { name, meta, role };
      return 'stop';
    });
    if (hit !== undefined) return hit;
  }
  return undefined;
}

export function getTargetByName(tc: TrustedCollection, name: string, roles: readonly string[] = []): TargetWithRole {
  const hit = findTarget(tc, name, roles);
  if (hit === undefined) throw noSuchTarget(name);
  return hit;
}

/** Every role that signs `name` (all targets when `name` is empty), with the role's signatures. */
export function getAllTargetMetadataByName(tc: TrustedCollection, name: string): TargetSignedStruct[] {
  const out: TargetSignedStruct[] = [];
  walkTargets(tc, { targetPath: name }, (role, file, paths) => {
    const entries = name === '' ? [...file.signed.targets] : file.signed.targets.has(name) ? [[name, file.signed.targets.get(name) as FileMeta] as const] : [];
    const { keyIds, threshold } = roleKeysOf(tc, role);
    for (const [n, meta] of entries) {
      out.push({ role, paths, keyIds, threshold, target: { name: n, meta, role }, signatures: file.signatures });
    }
  });
  if (out.length === 0) throw noSuchTarget(name);
  return out;
}

function roleKeysOf(tc: TrustedCollection, role: RoleName): { keyIds: string[]; threshold: number } {
  if (role === TARGETS) {
    const r = tc.root?.signed.roles.get('targets');
    return { keyIds: [...(r?.keyIds ?? [])], threshold: r?.threshold ?? 1 };
  }
  const { role: entry } = tc.delegationOf(role);
  return { keyIds: [...entry.keyIds], threshold: entry.threshold };
}

function canonicalOrSelf(id: string, keys: ReadonlyMap<string, PublicKey>): string {
  const key = keys.get(id);
  if (key === undefined) return id;
  try {
    return canonicalKeyId(key);
  } catch {
    return id;
  }
}

export function getDelegationRoles(tc: TrustedCollection): DelegationInfo[] {
  const out: DelegationInfo[] = [];
  walkTargets(tc, {}, (_role, file) => {
    for (const d of file.signed.delegations.roles) {
      out.push({
        name: d.name,
        paths: [...(d.paths ?? [])],
        keyIds: d.keyIds.map((id) => canonicalOrSelf(id, file.signed.delegations.keys)),
        threshold: d.threshold,
      });
    }
  });
  return out;
}

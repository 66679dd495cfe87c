/**
 * The immutable edit model of a publisher: a `RepoDraft` of unsigned typed views taken from the
 * trusted metadata, and the typed `Change`s a changelist can hold (docs/formats.md §10.4),
 * each validated before it is applied. `applyChange` never mutates; it returns a new draft that
 * records which roles must be re-signed (`dirty`) and which delegations were deleted (`removed`).
 *
 * Rules kept from notary 0.7 (tuf/tuf.go): a delegation's parent must exist; new paths must lie
 * within the parent's effective paths; root keys stay in `keys` after a root rotation while other
 * unused keys are dropped; unused delegation keys are dropped whenever a targets file is edited.
 * Vouch is stricter where notary publishes broken data: control characters in names, custom data
 * that is not canonicalizable, and thresholds above the number of keys are refused up front.
 */
import { canonicalString, parseJson, type JsonValue } from './canonical.ts';
import { MisuseError, ValidationError } from './errors.ts';
import { canonicalKeyId, publicKeyJson, type PublicKey } from './keys.ts';
import { checkHashStructure, type DelegatedRole, type FileMeta, type Metadata, type RoleKeys, type RootSigned, type SnapshotSigned, type TargetsSigned } from './metadata.ts';
import { isBaseRole, isDelegationName, parentRole, parseDelegationName, parseRoleName, restrictPaths, pathAllowed } from './roles.ts';
import { fileMetaToJson } from './serialize.ts';
import { parseExpiry } from './time.ts';
import type { KeyId, RoleName } from './types.ts';

export type BaseRoleName = 'root' | 'targets' | 'snapshot' | 'timestamp';

export type Change =
  | { readonly kind: 'addTarget'; readonly role: string; readonly name: string; readonly meta: FileMeta }
  | { readonly kind: 'removeTarget'; readonly role: string; readonly name: string }
  | {
      readonly kind: 'updateDelegation';
      readonly name: string;
      readonly threshold?: number;
      readonly addKeys?: readonly PublicKey[];
      /** Canonical key IDs (as notary's changelist holds them); TUF key IDs are accepted too. */
      readonly removeKeys?: readonly string[];
      readonly addPaths?: readonly string[];
      readonly removePaths?: readonly string[];
      readonly clearPaths?: boolean;
    }
  | { readonly kind: 'removeDelegation'; readonly name: string }
  | { readonly kind: 'rotateBaseRole'; readonly role: BaseRoleName; readonly keys: readonly PublicKey[] }
  | { readonly kind: 'setThreshold'; readonly role: string; readonly threshold: number }
  | { readonly kind: 'witness'; readonly role: string };

/** The trusted metadata a publisher starts from; anything may be absent for a new repository. */
export interface RepoState {
  readonly root?: Metadata<RootSigned>;
  /** `targets` and every loaded delegation file, by role name. */
  readonly targets?: ReadonlyMap<string, Metadata<TargetsSigned>>;
  readonly snapshot?: Metadata<SnapshotSigned>;
}

export interface RepoDraft {
  readonly root: RootSigned | undefined;
  /** The root role as last signed: when it differs, the old root keys must sign too (§5.5). */
  readonly originalRootRole: RoleKeys | undefined;
  readonly targets: ReadonlyMap<RoleName, TargetsSigned>;
  readonly dirty: ReadonlySet<RoleName>;
  readonly removed: ReadonlySet<RoleName>;
}

export function draftFrom(state: RepoState): RepoDraft {
  const targets = new Map<RoleName, TargetsSigned>();
  for (const [name, meta] of state.targets ?? []) targets.set(name as RoleName, meta.signed);
  const root = state.root?.signed;
  return { root, originalRootRole: root?.roles.get('root'), targets, dirty: new Set(), removed: new Set() };
}

/** An empty targets view at version 0, as notary's `NewTargets`; it is always re-signed. */
export function emptyTargets(): TargetsSigned {
  return {
    type: 'Targets',
    version: 0,
    expires: parseExpiry('0001-01-01T00:00:00Z'),
    unrecognized: {},
    targets: new Map(),
    delegations: { keys: new Map(), roles: [] },
  };
}

function invalidRole(role: string, reason: string): ValidationError {
  return new ValidationError('INVALID_ROLE', `tuf: invalid role ${role}. ${reason}`, 'role');
}

function requireRoot(d: RepoDraft): RootSigned {
  if (d.root === undefined) throw new MisuseError('root role has not been loaded');
  return d.root;
}

const GO_ESCAPES: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };

/** Refuses strings that cannot be signed, with Go's wording (vector 6) before any signing. */
export function checkSignableString(s: string, what: string, path: string): void {
  // eslint-disable-next-line no-control-regex
  const m = /[\u0000-\u001f]/.exec(s);
  if (m !== null) {
    const c = m[0];
    const quoted = GO_ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    throw new ValidationError('NOT_CANONICALIZABLE', `${what} cannot be signed: invalid character '${quoted}' in string literal`, path);
  }
  if (!s.isWellFormed()) throw new ValidationError('NOT_CANONICALIZABLE', `${what} cannot be signed: it is not valid Unicode`, path);
}

/** Custom target data checked to be canonicalizable (integers only, no control characters). */
export function checkCustom(custom: JsonValue, path = 'custom'): JsonValue {
  try {
    canonicalString(custom);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    throw new ValidationError('NOT_CANONICALIZABLE', `custom data cannot be signed: ${e.message}`, path, { cause: e });
  }
  return custom;
}

/** Parses `--custom` file bytes; the value is later written in canonical form (vector 7). */
export function parseCustom(bytes: Uint8Array): JsonValue {
  return checkCustom(parseJson(bytes, 'custom data'));
}

function checkFileMeta(name: string, meta: FileMeta): void {
  const path = `targets.${name}`;
  if (!Number.isSafeInteger(meta.length) || meta.length < 0) {
    throw new ValidationError('INVALID_METADATA', `target ${name} has an invalid length ${meta.length}`, `${path}.length`);
  }
  const problem = checkHashStructure(meta.hashes);
  if (problem !== undefined) throw new ValidationError('INVALID_METADATA', `target ${name} checksum invalid: ${problem}`, `${path}.hashes`);
  if (meta.custom !== undefined) checkCustom(meta.custom, `${path}.custom`);
  canonicalString(fileMetaToJson(meta));
}

function checkThreshold(role: string, threshold: number): void {
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new ValidationError('INVALID_METADATA', `invalid threshold specified for ${role}: ${threshold}`, 'threshold');
  }
}

function checkUsable(role: string, keyCount: number, threshold: number): void {
  if (keyCount < threshold) {
    throw new ValidationError(
      'INVALID_METADATA',
      `role ${role} has fewer keys than its threshold of ${threshold}; it would not be usable until keys are added to it`,
      'threshold',
    );
  }
}

/** The delegation entry for `name` in its parent, if every ancestor is delegated too. */
export function findDelegation(d: RepoDraft, name: RoleName): DelegatedRole | undefined {
  const parent = parentRole(name);
  if (parent === undefined) return undefined;
  if (parent !== 'targets' && findDelegation(d, parent) === undefined) return undefined;
  return d.targets.get(parent)?.delegations.roles.find((r) => r.name === name);
}

/** True for `targets` (once root exists) and for every delegation reachable from it. */
export function roleExists(d: RepoDraft, name: RoleName): boolean {
  if (name === 'targets') return d.root !== undefined;
  return findDelegation(d, name) !== undefined;
}

/** A role's paths restricted by its ancestors'; `targets` has the implicit path `""`. */
export function effectivePaths(d: RepoDraft, name: RoleName): string[] {
  if (name === 'targets') return [''];
  const role = findDelegation(d, name);
  const parent = parentRole(name);
  if (role === undefined || parent === undefined) return [];
  return restrictPaths(effectivePaths(d, parent), role.paths ?? []);
}

function targetsRole(d: RepoDraft, role: string): RoleName {
  const name = parseRoleName(role);
  if (name !== 'targets' && !isDelegationName(name)) throw invalidRole(name, `role is not a valid targets role name: ${name}`);
  requireRoot(d);
  if (!roleExists(d, name)) throw invalidRole(name, 'delegation does not exist');
  return name;
}

function withFile(d: RepoDraft, role: RoleName, file: TargetsSigned): RepoDraft {
  const targets = new Map(d.targets);
  targets.set(role, pruneUnusedKeys(file));
  return { ...d, targets, dirty: new Set([...d.dirty, role]) };
}

/** Drops delegation keys no role lists (notary's RemoveUnusedKeys). */
export function pruneUnusedKeys(file: TargetsSigned): TargetsSigned {
  const used = new Set<string>(file.delegations.roles.flatMap((r) => r.keyIds));
  const keys = new Map([...file.delegations.keys].filter(([id]) => used.has(id)));
  if (keys.size === file.delegations.keys.size) return file;
  return { ...file, delegations: { ...file.delegations, keys } };
}

function sameFileMeta(a: FileMeta | undefined, b: FileMeta): boolean {
  return a !== undefined && canonicalString(fileMetaToJson(a)) === canonicalString(fileMetaToJson(b));
}

/**
 * Target maps that `applyChanges` created during one call: nothing outside that call holds them,
 * so further target edits may change them in place instead of copying (copying on every change is
 * quadratic for a bulk add of 10,000 targets).
 */
type OwnedMaps = Set<ReadonlyMap<string, FileMeta>>;

/** `file` with one target set or deleted: in place when the call owns the map, else on a copy. */
function editTargets(d: RepoDraft, role: RoleName, file: TargetsSigned, edit: (m: Map<string, FileMeta>) => void, owned?: OwnedMaps): RepoDraft {
  if (owned?.has(file.targets) === true) {
    edit(file.targets as Map<string, FileMeta>);
    // Already recorded as this role's file and dirty: the draft itself is unchanged.
    if (d.targets.get(role) === file && d.dirty.has(role)) return d;
    return withFile(d, role, file);
  }
  const targets = new Map(file.targets);
  edit(targets);
  owned?.add(targets);
  return withFile(d, role, { ...file, targets });
}

function addTarget(d: RepoDraft, role: string, name: string, meta: FileMeta, owned?: OwnedMaps): RepoDraft {
  const roleName = targetsRole(d, role);
  checkSignableString(name, `target name ${JSON.stringify(name)}`, 'name');
  checkFileMeta(name, meta);
  if (!pathAllowed(effectivePaths(d, roleName), name)) {
    throw new ValidationError('INVALID_METADATA', `could not add target ${JSON.stringify(name)}: it is outside the paths delegated to ${roleName}`, 'name');
  }
  const file = d.targets.get(roleName) ?? emptyTargets();
  if (sameFileMeta(file.targets.get(name), meta)) return d;
  return editTargets(d, roleName, file, (m) => m.set(name, meta), owned);
}

function removeTarget(d: RepoDraft, role: string, name: string, owned?: OwnedMaps): RepoDraft {
  const roleName = targetsRole(d, role);
  const file = d.targets.get(roleName);
  if (file === undefined || !file.targets.has(name)) return d;
  return editTargets(d, roleName, file, (m) => m.delete(name), owned);
}

function mergePaths(current: readonly string[], c: Extract<Change, { kind: 'updateDelegation' }>): string[] | undefined {
  const remove = new Set(c.removePaths ?? []);
  let paths = c.clearPaths === true ? [] : current.filter((p) => !remove.has(p));
  for (const p of c.addPaths ?? []) if (!paths.includes(p)) paths = [...paths, p];
  return paths.length === 0 ? undefined : paths;
}

function removeKeyIds(role: DelegatedRole, keys: ReadonlyMap<string, PublicKey>, remove: readonly string[]): KeyId[] {
  if (remove.length === 0) return [...role.keyIds];
  const drop = new Set(remove);
  return role.keyIds.filter((id) => {
    if (drop.has(id)) return false;
    const key = keys.get(id);
    if (key === undefined) return true;
    try {
      return !drop.has(canonicalKeyId(key));
    } catch {
      return true; // a certificate that does not parse has no canonical ID to match
    }
  });
}

function checkDelegationInput(d: RepoDraft, name: RoleName, parent: RoleName, c: Extract<Change, { kind: 'updateDelegation' }>): void {
  requireRoot(d);
  if (parent !== 'targets' && !roleExists(d, parent)) throw invalidRole(parent, 'delegation does not exist');
  if (c.threshold !== undefined) checkThreshold(name, c.threshold);
  for (const [i, p] of [...(c.addPaths ?? []), ...(c.removePaths ?? [])].entries()) {
    if (typeof p !== 'string') throw new ValidationError('INVALID_METADATA', `delegation path ${i} is not a string`, 'paths');
    checkSignableString(p, `delegation path ${JSON.stringify(p)}`, 'paths');
  }
  const add = c.addPaths ?? [];
  if (restrictPaths(effectivePaths(d, parent), add).length !== add.length) throw invalidRole(name, 'invalid paths to add to role');
  for (const k of c.addKeys ?? []) canonicalString(publicKeyJson(k));
}

function updateDelegation(d: RepoDraft, c: Extract<Change, { kind: 'updateDelegation' }>): RepoDraft {
  const name = parseDelegationName(c.name, 'name');
  const parent = parentRole(name) as RoleName;
  checkDelegationInput(d, name, parent, c);
  const file = d.targets.get(parent) ?? emptyTargets();
  const existing = file.delegations.roles.find((r) => r.name === name);
  const addKeys = c.addKeys ?? [];
  if (existing === undefined && addKeys.length === 0) throw invalidRole(name, 'a new delegation needs at least one key');
  const base: DelegatedRole = existing ?? { name, keyIds: [], threshold: 1, paths: undefined, unrecognized: {} };
  const keyIds = removeKeyIds(base, file.delegations.keys, c.removeKeys ?? []);
  for (const k of addKeys) if (!keyIds.includes(k.id)) keyIds.push(k.id);
  const threshold = c.threshold ?? base.threshold;
  if (keyIds.length === 0) return removeDelegation(d, name);
  checkUsable(name, keyIds.length, threshold);
  const role: DelegatedRole = { ...base, keyIds, threshold, paths: mergePaths(base.paths ?? [], c) };
  const keys = new Map(file.delegations.keys);
  for (const k of addKeys) keys.set(k.id, k);
  const roles = existing === undefined ? [...file.delegations.roles, role] : file.delegations.roles.map((r) => (r.name === name ? role : r));
  return withFile(d, parent, { ...file, delegations: { keys, roles } });
}

function removeDelegation(d: RepoDraft, nameIn: string): RepoDraft {
  const name = parseDelegationName(nameIn, 'name');
  requireRoot(d);
  const parent = parentRole(name) as RoleName;
  const file = d.targets.get(parent);
  if (file === undefined || !file.delegations.roles.some((r) => r.name === name)) return d;
  const next = withFile(d, parent, { ...file, delegations: { ...file.delegations, roles: file.delegations.roles.filter((r) => r.name !== name) } });
  // The role's own file and its whole subtree leave the repository (and the snapshot) with it.
  const gone = (r: string) => r === name || r.startsWith(`${name}/`);
  const targets = new Map([...next.targets].filter(([r]) => !gone(r)));
  const removed = new Set([...d.removed, ...[...d.targets.keys()].filter(gone), name]);
  return { ...next, targets, removed, dirty: new Set([...next.dirty].filter((r) => !gone(r))) };
}

function rotateBaseRole(d: RepoDraft, role: string, keys: readonly PublicKey[]): RepoDraft {
  const root = requireRoot(d);
  if (!isBaseRole(role)) throw invalidRole(role, 'invalid base role name');
  const name = role as RoleName;
  const current = root.roles.get(name);
  if (current === undefined) throw invalidRole(role, 'role does not exist');
  if (keys.length === 0) throw new ValidationError('INVALID_KEY', `cannot rotate the ${role} key to no keys`, 'keys');
  if (role === 'root' && keys.some((k) => !k.keyType.endsWith('-x509'))) {
    throw new ValidationError('INVALID_KEY', 'root keys must be x509 certificates (ecdsa-x509 or rsa-x509)', 'keys');
  }
  const keyIds = [...new Set(keys.map((k) => k.id))];
  checkUsable(role, keyIds.length, current.threshold);
  const rootKeys = new Map(root.keys);
  if (role !== 'root') {
    // Keys only this role used are deleted; root certificates stay for chain verification (§1.3).
    const elsewhere = new Set([...root.roles].filter(([r]) => r !== role).flatMap(([, rk]) => rk.keyIds));
    for (const id of current.keyIds) if (!elsewhere.has(id)) rootKeys.delete(id);
  }
  for (const k of keys) rootKeys.set(k.id, k);
  const roles = new Map(root.roles);
  roles.set(name, { ...current, keyIds });
  const dirty = new Set([...d.dirty, 'root' as RoleName]);
  if (role === 'targets' || role === 'snapshot') dirty.add(name);
  return { ...d, root: { ...root, keys: rootKeys, roles }, dirty };
}

function setThreshold(d: RepoDraft, role: string, threshold: number): RepoDraft {
  const name = parseRoleName(role);
  if (isDelegationName(name)) {
    requireRoot(d);
    if (findDelegation(d, name) === undefined) throw invalidRole(name, 'delegation does not exist');
    return updateDelegation(d, { kind: 'updateDelegation', name, threshold });
  }
  const root = requireRoot(d);
  checkThreshold(name, threshold);
  const current = root.roles.get(name);
  if (current === undefined) throw invalidRole(name, 'role does not exist');
  checkUsable(name, current.keyIds.length, threshold);
  if (current.threshold === threshold) return d;
  const roles = new Map(root.roles);
  roles.set(name, { ...current, threshold });
  return { ...d, root: { ...root, roles }, dirty: new Set([...d.dirty, 'root' as RoleName]) };
}

function witness(d: RepoDraft, role: string): RepoDraft {
  const name = parseRoleName(role);
  requireRoot(d);
  if (name === 'timestamp') throw invalidRole(name, 'the server signs the timestamp');
  if (name === 'targets' || isDelegationName(name)) {
    targetsRole(d, name);
    return withFile(d, name, d.targets.get(name) ?? emptyTargets());
  }
  return { ...d, dirty: new Set([...d.dirty, name]) };
}

export function applyChange(d: RepoDraft, c: Change): RepoDraft {
  return applyOne(d, c, undefined);
}

function applyOne(d: RepoDraft, c: Change, owned: OwnedMaps | undefined): RepoDraft {
  switch (c.kind) {
    case 'addTarget':
      return addTarget(d, c.role, c.name, c.meta, owned);
    case 'removeTarget':
      return removeTarget(d, c.role, c.name, owned);
    case 'updateDelegation':
      return updateDelegation(d, c);
    case 'removeDelegation':
      return removeDelegation(d, c.name);
    case 'rotateBaseRole':
      return rotateBaseRole(d, c.role, c.keys);
    case 'setThreshold':
      return setThreshold(d, c.role, c.threshold);
    case 'witness':
      return witness(d, c.role);
  }
}

/**
 * `applyChange` for each change in order, with the same checks and result, in time linear in the
 * number of target edits: the target maps this call creates are edited in place (never `d`'s).
 */
export function applyChanges(d: RepoDraft, changes: Iterable<Change>): RepoDraft {
  const owned: OwnedMaps = new Set();
  let out = d;
  for (const c of changes) out = applyOne(out, c, owned);
  return out;
}

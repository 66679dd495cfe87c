/**
 * Parsing of notary-dialect metadata from untrusted bytes (docs/formats.md §1) into read-only
 * typed views, keeping what signatures need: the exact file bytes (hashed by the parent role),
 * the generic `signed` tree (re-canonicalised for verification, unknown members included) and
 * the signatures.
 *
 * Contract: every structural rule notary applies (`isValid*Structure`) is applied here and fails
 * with `ValidationError` in notary's wording (`<role> type metadata invalid: <msg>`). Parsing never
 * verifies signatures, hashes, versions or expiry: that is `trusted.ts`'s job.
 */
import { canonicalBytes, isJsonObject, parseJson, type JsonObject, type JsonValue } from './canonical.ts';
import { ValidationError } from './errors.ts';
import { parsePublicKey, type PublicKey } from './keys.ts';
import { BASE_ROLES, isDelegationName, parentRole } from './roles.ts';
import { parseExpiry, type Expiry } from './time.ts';
import type { KeyId, RoleName } from './types.ts';

export type RoleType = 'Root' | 'Targets' | 'Snapshot' | 'Timestamp';

export interface SignatureEntry {
  readonly keyid: string;
  readonly method: string;
  readonly sig: Uint8Array;
}

/** Fields every signed role shares, plus the members Vouch does not model (kept for re-signing). */
export interface SignedCommon {
  readonly type: RoleType;
  readonly version: number;
  readonly expires: Expiry;
  readonly unrecognized: JsonObject;
}

export interface FileMeta {
  readonly length: number;
  /** Algorithm → digest bytes. Only sha256 and sha512 are checked; others are carried. */
  readonly hashes: ReadonlyMap<string, Uint8Array>;
  readonly custom?: JsonValue;
  readonly unrecognized: JsonObject;
}

/** A role as root or a delegating targets file describes it. */
export interface RoleKeys {
  readonly keyIds: readonly KeyId[];
  readonly threshold: number;
  readonly unrecognized: JsonObject;
}

export interface DelegatedRole extends RoleKeys {
  readonly name: RoleName;
  /** `undefined` when the member is absent (the role can sign nothing). */
  readonly paths: readonly string[] | undefined;
}

export interface RootSigned extends SignedCommon {
  readonly type: 'Root';
  readonly consistentSnapshot: boolean;
  readonly keys: ReadonlyMap<string, PublicKey>;
  readonly roles: ReadonlyMap<string, RoleKeys>;
}

export interface TargetsSigned extends SignedCommon {
  readonly type: 'Targets';
  readonly targets: ReadonlyMap<string, FileMeta>;
  readonly delegations: {
    readonly keys: ReadonlyMap<string, PublicKey>;
    readonly roles: readonly DelegatedRole[];
  };
}

export interface SnapshotSigned extends SignedCommon {
  readonly type: 'Snapshot';
  readonly meta: ReadonlyMap<string, FileMeta>;
}

export interface TimestampSigned extends SignedCommon {
  readonly type: 'Timestamp';
  readonly meta: ReadonlyMap<string, FileMeta>;
}

export type AnySigned = RootSigned | TargetsSigned | SnapshotSigned | TimestampSigned;

/** A parsed role file. `T` is the typed view of its `signed` member. */
export interface Metadata<T extends AnySigned = AnySigned> {
  readonly role: RoleName;
  readonly signed: T;
  readonly signatures: readonly SignatureEntry[];
  /** The exact file bytes: what snapshot and timestamp hash. */
  readonly bytes: Uint8Array;
  /** The canonical bytes of `signed` that signatures must cover (§2.3). */
  readonly signedBytes: Uint8Array;
}

/** Size caps per role: notary reads at most 1 MiB of timestamp and 100 MiB of anything else. */
export const MAX_TIMESTAMP_BYTES = 1 << 20;
export const MAX_METADATA_BYTES = 100 << 20;
const MAX_HASH_ENTRIES = 16;

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** UTF-16 code unit → 6-bit value; 0x80 marks every unit outside the alphabet. */
const BASE64_VALUES = new Uint8Array(0x10000).fill(0x80);
for (let i = 0; i < BASE64_ALPHABET.length; i++) BASE64_VALUES[BASE64_ALPHABET.charCodeAt(i)] = i;
const PAD = 0x3d; // '='

/**
 * Standard base64 with padding, decoded, or undefined: whole 4-character groups of the standard
 * alphabet, `=` only as the last one or two characters. (A table decoder: a targets file holds
 * tens of thousands of digests, and this is several times faster than a regular expression plus
 * Buffer.from.)
 */
function decodeStdBase64(s: string): Uint8Array | undefined {
  const n = s.length;
  if (n % 4 !== 0) return undefined;
  const pad = n === 0 || s.charCodeAt(n - 1) !== PAD ? 0 : s.charCodeAt(n - 2) === PAD ? 2 : 1;
  const out = new Uint8Array((n / 4) * 3 - pad);
  const body = n - (pad > 0 ? 4 : 0);
  let o = 0;
  let bad = 0;
  for (let i = 0; i < body; i += 4) {
    const a = BASE64_VALUES[s.charCodeAt(i)] as number;
    const b = BASE64_VALUES[s.charCodeAt(i + 1)] as number;
    const c = BASE64_VALUES[s.charCodeAt(i + 2)] as number;
    const d = BASE64_VALUES[s.charCodeAt(i + 3)] as number;
    bad |= a | b | c | d;
    out[o++] = (a << 2) | (b >> 4);
    out[o++] = ((b & 15) << 4) | (c >> 2);
    out[o++] = ((c & 3) << 6) | d;
  }
  if (pad > 0) {
    const a = BASE64_VALUES[s.charCodeAt(body)] as number;
    const b = BASE64_VALUES[s.charCodeAt(body + 1)] as number;
    const c = pad === 1 ? (BASE64_VALUES[s.charCodeAt(body + 2)] as number) : 0;
    bad |= a | b | c;
    out[o++] = (a << 2) | (b >> 4);
    if (pad === 1) out[o] = ((b & 15) << 4) | (c >> 2);
  }
  return (bad & 0x80) === 0 ? out : undefined;
}

/** Strict standard base64 with padding, as Go's `[]byte` JSON decoding requires. */
export function decodeBase64(s: unknown, path: string): Uint8Array {
  const bytes = typeof s === 'string' ? decodeStdBase64(s) : undefined;
  if (bytes === undefined) throw new ValidationError('INVALID_METADATA', `${path} is not valid base64`, path);
  return bytes;
}

function invalid(role: string, msg: string, path = ''): ValidationError {
  return new ValidationError('INVALID_METADATA', `${role} type metadata invalid: ${msg}`, path);
}

function expectObject(v: unknown, role: string, path: string): JsonObject {
  if (!isJsonObject(v)) throw invalid(role, `${path} must be an object`, path);
  return v;
}

function expectInt(v: unknown, role: string, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(role, `${path} must be an integer`, path);
  return v;
}

function expectString(v: unknown, role: string, path: string): string {
  if (typeof v !== 'string') throw invalid(role, `${path} must be a string`, path);
  return v;
}

function expectStringArray(v: unknown, role: string, path: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalid(role, `${path} must be an array of strings`, path);
  return v as string[];
}

/** The `unrecognized` of everything that has none: shared, so frozen. */
const NO_MEMBERS: JsonObject = Object.freeze({});

/** Members not in `known`; built with defineProperty semantics so `__proto__` stays a member. */
function rest(obj: JsonObject, known: readonly string[]): JsonObject {
  // Usually there are none: skip building the entry arrays (once per target in a large file).
  let unknown = false;
  for (const k in obj) {
    if (!known.includes(k)) {
      unknown = true;
      break;
    }
  }
  if (!unknown) return NO_MEMBERS;
  return Object.fromEntries<JsonValue>(Object.entries(obj).filter(([k]) => !known.includes(k)));
}

const HASH_SIZES: Record<string, number> = { sha256: 32, sha512: 64 };

const FILE_META_MEMBERS = ['length', 'hashes', 'custom'];

/**
 * The FileMeta `v` recorded under `name` in `role`'s `parent` object (`signed.targets`,
 * `signed.meta`). Error paths are built only on failure: a targets file can hold tens of
 * thousands of these.
 */
export function parseFileMeta(v: unknown, role: string, parent: string, name: string): FileMeta {
  if (!isJsonObject(v)) throw invalid(role, `${parent}.${name} must be an object`, `${parent}.${name}`);
  const length = v.length;
  if (typeof length !== 'number' || !Number.isSafeInteger(length)) throw invalid(role, `${parent}.${name}.length must be an integer`, `${parent}.${name}.length`);
  if (length < 0) throw invalid(role, `${parent}.${name}.length cannot be negative`, `${parent}.${name}.length`);
  const h = v.hashes ?? {};
  if (!isJsonObject(h)) throw invalid(role, `${parent}.${name}.hashes must be an object`, `${parent}.${name}.hashes`);
  const hashes = new Map<string, Uint8Array>();
  for (const alg in h) {
    if (hashes.size === MAX_HASH_ENTRIES) throw invalid(role, `${parent}.${name}.hashes has too many entries`, `${parent}.${name}.hashes`);
    const digest = h[alg];
    const bytes = typeof digest === 'string' ? decodeStdBase64(digest) : undefined;
    if (bytes === undefined) throw new ValidationError('INVALID_METADATA', `${parent}.${name}.hashes.${alg} is not valid base64`, `${parent}.${name}.hashes.${alg}`);
    hashes.set(alg, bytes);
  }
  const meta: FileMeta = { length, hashes, unrecognized: rest(v, FILE_META_MEMBERS) };
  return v.custom === undefined ? meta : { ...meta, custom: v.custom };
}

/** notary's CheckValidHashStructures: known algorithms must have the right size, one is needed. */
export function checkHashStructure(hashes: ReadonlyMap<string, Uint8Array>): string | undefined {
  let known = 0;
  for (const [alg, digest] of hashes) {
    const size = Object.hasOwn(HASH_SIZES, alg) ? HASH_SIZES[alg] : undefined;
    if (size === undefined) continue;
    if (digest.length !== size) return `${alg} checksum invalid`;
    known++;
  }
  return known === 0 ? 'at least one supported hash needed' : undefined;
}

function parseKeys(v: unknown, role: string, path: string): Map<string, PublicKey> {
  const o = expectObject(v ?? {}, role, path);
  const keys = new Map<string, PublicKey>();
  for (const [id, key] of Object.entries(o)) keys.set(id, parsePublicKey(key, `${path}.${id}`));
  return keys;
}

function parseRoleKeys(
  v: unknown,
  containing: string,
  roleName: string,
  keys: ReadonlyMap<string, PublicKey>,
  path: string,
  known: readonly string[],
): RoleKeys {
  const o = expectObject(v, containing, path);
  const keyIds = expectStringArray(o.keyids ?? [], containing, `${path}.keyids`);
  const threshold = expectInt(o.threshold, containing, `${path}.threshold`);
  if (threshold < 1) throw invalid(containing, `invalid threshold specified for ${roleName}: ${threshold} `, `${path}.threshold`);
  for (const id of keyIds) {
    if (!keys.has(id)) throw invalid(containing, `key ID ${id} specified in ${roleName} without corresponding key`, `${path}.keyids`);
  }
  return { keyIds: keyIds as KeyId[], threshold, unrecognized: rest(o, known) };
}

function parseCommon(signed: JsonObject, role: string, expected: RoleType, known: readonly string[]): SignedCommon {
  const type = signed._type;
  if (type !== expected) throw invalid(role, `expected type ${expected}, not ${typeof type === 'string' ? type : JSON.stringify(type) ?? typeof type}`, 'signed._type');
  const version = expectInt(signed.version, role, 'signed.version');
  if (version < 1) throw invalid(role, expected === 'Root' ? 'version cannot be less than 1' : 'version cannot be less than one', 'signed.version');
  const expires = parseExpiry(signed.expires);
  return { type: expected, version, expires, unrecognized: rest(signed, ['_type', 'version', 'expires', ...known]) };
}

export function parseRootSigned(signed: JsonObject): RootSigned {
  const common = parseCommon(signed, 'root', 'Root', ['consistent_snapshot', 'keys', 'roles']);
  const keys = parseKeys(signed.keys, 'root', 'signed.keys');
  const rolesObj = expectObject(signed.roles, 'root', 'signed.roles');
  const roles = new Map<string, RoleKeys>();
  for (const base of BASE_ROLES) {
    if (!isJsonObject(rolesObj[base])) throw invalid('root', `missing ${base} role specification`, `signed.roles.${base}`);
  }
  for (const [name, r] of Object.entries(rolesObj)) {
    roles.set(name, parseRoleKeys(r, 'root', name, keys, `signed.roles.${name}`, ['keyids', 'threshold']));
  }
  const cs = signed.consistent_snapshot;
  if (cs !== undefined && typeof cs !== 'boolean') throw invalid('root', 'consistent_snapshot must be a boolean', 'signed.consistent_snapshot');
  return { ...common, type: 'Root', consistentSnapshot: cs === true, keys, roles };
}

export function parseTargetsSigned(signed: JsonObject, role: RoleName): TargetsSigned {
  const common = parseCommon(signed, role, 'Targets', ['targets', 'delegations']);
  const targetsObj = expectObject(signed.targets ?? {}, role, 'signed.targets');
  const targets = new Map<string, FileMeta>();
  for (const name in targetsObj) targets.set(name, parseFileMeta(targetsObj[name], role, 'signed.targets', name));
  const del = expectObject(signed.delegations ?? {}, role, 'signed.delegations');
  const keys = parseKeys(del.keys, role, 'signed.delegations.keys');
  if (del.roles !== undefined && del.roles !== null && !Array.isArray(del.roles)) {
    throw invalid(role, 'delegations.roles must be an array', 'signed.delegations.roles');
  }
  const roles: DelegatedRole[] = [];
  const seen = new Set<string>();
  for (const [i, r] of (Array.isArray(del.roles) ? del.roles : []).entries()) {
    const path = `signed.delegations.roles[${i}]`;
    const o = expectObject(r, role, path);
    const name = expectString(o.name, role, `${path}.name`);
    if (!isDelegationName(name) || parentRole(name as RoleName) !== role) throw invalid(role, `delegation role ${name} invalid`, `${path}.name`);
    if (seen.has(name)) throw invalid(role, `delegation role ${name} is listed twice`, `${path}.name`);
    seen.add(name);
    const base = parseRoleKeys(o, role, name, keys, path, ['keyids', 'threshold', 'name', 'paths']);
    const paths = o.paths === undefined || o.paths === null ? undefined : expectStringArray(o.paths, role, `${path}.paths`);
    roles.push({ ...base, name: name as RoleName, paths });
  }
  return { ...common, type: 'Targets', targets, delegations: { keys, roles } };
}

function parseMetaMap(v: unknown, role: string): Map<string, FileMeta> {
  const o = expectObject(v ?? {}, role, 'signed.meta');
  const meta = new Map<string, FileMeta>();
  for (const name in o) meta.set(name, parseFileMeta(o[name], role, 'signed.meta', name));
  return meta;
}

function requireSha256(meta: ReadonlyMap<string, FileMeta>, role: string, file: string): void {
  const fm = meta.get(file);
  if (fm === undefined || !fm.hashes.has('sha256')) throw invalid(role, `missing ${file} sha256 checksum information`, `signed.meta.${file}`);
  const problem = checkHashStructure(fm.hashes);
  if (problem !== undefined) throw invalid(role, `invalid ${file} checksum information, ${problem}`, `signed.meta.${file}`);
}

export function parseSnapshotSigned(signed: JsonObject): SnapshotSigned {
  const common = parseCommon(signed, 'snapshot', 'Snapshot', ['meta']);
  const meta = parseMetaMap(signed.meta, 'snapshot');
  requireSha256(meta, 'snapshot', 'root');
  requireSha256(meta, 'snapshot', 'targets');
  for (const [name, fm] of meta) {
    const problem = checkHashStructure(fm.hashes);
    if (problem !== undefined) throw invalid('snapshot', `invalid ${name} checksum information, ${problem}`, `signed.meta.${name}`);
  }
  return { ...common, type: 'Snapshot', meta };
}

export function parseTimestampSigned(signed: JsonObject): TimestampSigned {
  const common = parseCommon(signed, 'timestamp', 'Timestamp', ['meta']);
  const meta = parseMetaMap(signed.meta, 'timestamp');
  requireSha256(meta, 'timestamp', 'snapshot');
  return { ...common, type: 'Timestamp', meta };
}

function parseSignatures(v: unknown, role: string): SignatureEntry[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) throw invalid(role, 'signatures must be an array', 'signatures');
  if (v.length > 1024) throw invalid(role, 'too many signatures', 'signatures');
  return v.map((s, i) => {
    const o = expectObject(s, role, `signatures[${i}]`);
    return {
      keyid: expectString(o.keyid, role, `signatures[${i}].keyid`),
      method: expectString(o.method, role, `signatures[${i}].method`).toLowerCase(),
      sig: decodeBase64(o.sig, `signatures[${i}].sig`),
    };
  });
}

/** Splits a file into envelope parts without interpreting `signed`. */
export function parseEnvelope(bytes: Uint8Array, role: string, maxBytes?: number): { signed: JsonObject; signatures: SignatureEntry[] } {
  const cap = maxBytes ?? (role === 'timestamp' ? MAX_TIMESTAMP_BYTES : MAX_METADATA_BYTES);
  if (bytes.length > cap) {
    throw new ValidationError('TOO_LARGE', `${role} metadata is ${bytes.length} bytes, over the limit of ${cap}`);
  }
  const doc = parseJson(bytes, `${role} metadata`);
  if (!isJsonObject(doc)) throw new ValidationError('MALFORMED_JSON', `${role} metadata must be a JSON object`);
  if (!isJsonObject(doc.signed)) throw invalid(role, 'signed must be an object', 'signed');
  return { signed: doc.signed, signatures: parseSignatures(doc.signatures, role) };
}

function roleKind(role: string): RoleType {
  switch (role) {
    case 'root':
      return 'Root';
    case 'snapshot':
      return 'Snapshot';
    case 'timestamp':
      return 'Timestamp';
    default:
      if (role === 'targets' || isDelegationName(role)) return 'Targets';
      throw new ValidationError('INVALID_ROLE', `tuf: invalid role ${role}. not a valid role name`, 'role');
  }
}

export function parseMetadata(role: 'root', bytes: Uint8Array, maxBytes?: number): Metadata<RootSigned>;
export function parseMetadata(role: 'snapshot', bytes: Uint8Array, maxBytes?: number): Metadata<SnapshotSigned>;
export function parseMetadata(role: 'timestamp', bytes: Uint8Array, maxBytes?: number): Metadata<TimestampSigned>;
export function parseMetadata(role: string, bytes: Uint8Array, maxBytes?: number): Metadata;
/**
 * Parses one role file. `role` is the name it was fetched or uploaded as; it decides the
 * expected `_type` and, for delegations, which children it may declare.
 */
export function parseMetadata(role: string, bytes: Uint8Array, maxBytes?: number): Metadata {
  const kind = roleKind(role);
  const { signed, signatures } = parseEnvelope(bytes, role, maxBytes);
  let typed: AnySigned;
  switch (kind) {
    case 'Root':
      typed = parseRootSigned(signed);
      break;
    case 'Snapshot':
      typed = parseSnapshotSigned(signed);
      break;
    case 'Timestamp':
      typed = parseTimestampSigned(signed);
      break;
    case 'Targets':
      typed = parseTargetsSigned(signed, role as RoleName);
      break;
  }
  return { role: role as RoleName, signed: typed, signatures, bytes, signedBytes: canonicalBytes(signed) };
}

/** Narrowing helpers for code that loaded a role by name. */
export function isTargets(m: Metadata): m is Metadata<TargetsSigned> {
  return m.signed.type === 'Targets';
}

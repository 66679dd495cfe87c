/**
 * Translation between notary's change files and the core's typed `Change`s (docs/formats.md §10.4).
 *
 * Contract:
 * - `*Change` builders produce the exact inner JSON notary writes (Go struct order): FileMeta as
 *   `{"length","hashes","custom"}`, TUFDelegation with `omitempty` members, TUFRootData
 *   `{"keys","role"}`.
 * - `toOperation` reads one change into a typed operation, or throws `INVALID_CHANGE` naming the
 *   file and what is wrong. Wildcard scopes (`targets/*`) become a purge of key IDs, expanded
 *   against the repository at publish time.
 * - Vouch extension: `{action:update, role:root, type:role, path:<role>, data:{"role","threshold"}}`
 *   sets a base role's threshold. notary 0.7 refuses such a file (`action not yet supported for
 *   root: update`) instead of silently dropping it.
 */
import { canonicalString, htmlEscape, isJsonObject, parseJson, type JsonValue } from '../tuf/canonical.ts';
import type { Change, BaseRoleName } from '../tuf/edit.ts';
import { ValidationError } from '../tuf/errors.ts';
import { parsePublicKey, type PublicKey } from '../tuf/keys.ts';
import type { FileMeta } from '../tuf/metadata.ts';
import { isBaseRole } from '../tuf/roles.ts';
import { ClientError } from './errors.ts';
import type { NotaryChange } from './changelist.ts';

export type Operation =
  | { readonly kind: 'change'; readonly change: Change }
  /** `delegation purge`: remove these canonical key IDs from every delegation matching `scope`. */
  | { readonly kind: 'purgeKeys'; readonly scope: string; readonly keyIds: readonly string[] };

/** notary's TUFDelegation (all members optional, as `omitempty` writes them). */
export interface DelegationEdit {
  readonly threshold?: number;
  readonly addKeys?: readonly PublicKey[];
  readonly removeKeys?: readonly string[];
  readonly addPaths?: readonly string[];
  readonly removePaths?: readonly string[];
  readonly clearPaths?: boolean;
}

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

function goKeyJson(k: PublicKey): string {
  return `{"keytype":${htmlEscape(JSON.stringify(k.keyType))},"keyval":{"public":"${Buffer.from(k.publicBytes).toString('base64')}","private":null}}`;
}

function goStrings(list: readonly string[]): string {
  return `[${list.map((s) => htmlEscape(JSON.stringify(s))).join(',')}]`;
}

/** Go's encoding of a FileMeta: length, hashes (sorted), then custom when present. */
export function fileMetaData(meta: FileMeta): Uint8Array {
  const hashes = [...meta.hashes.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const h = hashes.map(([alg, d]) => `${htmlEscape(JSON.stringify(alg))}:"${Buffer.from(d).toString('base64')}"`).join(',');
  const custom = meta.custom === undefined ? '' : `,"custom":${htmlEscape(canonicalString(meta.custom))}`;
  return utf8(`{"length":${meta.length},"hashes":{${h}}${custom}}`);
}

export function addTargetChange(role: string, name: string, meta: FileMeta): NotaryChange {
  return { action: 'create', role, type: 'target', path: name, data: fileMetaData(meta) };
}

export function removeTargetChange(role: string, name: string): NotaryChange {
  return { action: 'delete', role, type: 'target', path: name, data: null };
}

export function delegationData(e: DelegationEdit): Uint8Array {
  const parts: string[] = [];
  if (e.threshold !== undefined && e.threshold !== 0) parts.push(`"threshold":${e.threshold}`);
  if (e.addKeys !== undefined && e.addKeys.length > 0) parts.push(`"add_keys":[${e.addKeys.map(goKeyJson).join(',')}]`);
  if (e.removeKeys !== undefined && e.removeKeys.length > 0) parts.push(`"remove_keys":${goStrings(e.removeKeys)}`);
  if (e.addPaths !== undefined && e.addPaths.length > 0) parts.push(`"add_paths":${goStrings(e.addPaths)}`);
  if (e.removePaths !== undefined && e.removePaths.length > 0) parts.push(`"remove_paths":${goStrings(e.removePaths)}`);
  if (e.clearPaths === true) parts.push('"clear_paths":true');
  return utf8(`{${parts.join(',')}}`);
}

export function delegationChange(action: 'create' | 'update', role: string, e: DelegationEdit): NotaryChange {
  return { action, role, type: 'delegation', path: '', data: delegationData(e) };
}

export function removeDelegationChange(role: string): NotaryChange {
  return { action: 'delete', role, type: 'delegation', path: '', data: null };
}

export function witnessChange(role: string): NotaryChange {
  return { action: 'update', role, type: 'witness', path: '', data: null };
}

export function rotateRoleChange(role: BaseRoleName, keys: readonly PublicKey[]): NotaryChange {
  return { action: 'create', role: 'root', type: 'role', path: role, data: utf8(`{"keys":[${keys.map(goKeyJson).join(',')}],"role":${JSON.stringify(role)}}`) };
}

export function baseThresholdChange(role: BaseRoleName, threshold: number): NotaryChange {
  return { action: 'update', role: 'root', type: 'role', path: role, data: utf8(`{"role":${JSON.stringify(role)},"threshold":${threshold}}`) };
}

// --- reading ---

function bad(c: NotaryChange & { file?: string }, why: string, cause?: unknown): ClientError {
  const where = c.file !== undefined ? `change file ${c.file}` : 'change';
  return new ClientError('INVALID_CHANGE', `${where} (${c.action} ${c.type} ${c.path} in ${c.role}): ${why}`, cause === undefined ? undefined : { cause });
}

function inner(c: NotaryChange): Record<string, JsonValue> {
  if (c.data === null) throw bad(c, 'it carries no data');
  let v: JsonValue;
  try {
    v = parseJson(c.data, 'change data');
  } catch (e) {
    throw bad(c, e instanceof Error ? e.message : String(e), e);
  }
  if (!isJsonObject(v)) throw bad(c, 'its data is not a JSON object');
  return v;
}

function readFileMeta(c: NotaryChange): FileMeta {
  const o = inner(c);
  const length = o['length'];
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) throw bad(c, 'length must be a non-negative integer');
  const hashesIn = o['hashes'];
  if (!isJsonObject(hashesIn)) throw bad(c, 'hashes must be an object');
  const hashes = new Map<string, Uint8Array>();
  for (const [alg, v] of Object.entries(hashesIn)) {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) throw bad(c, `hash ${alg} is not base64`);
    hashes.set(alg, new Uint8Array(Buffer.from(v, 'base64')));
  }
  const custom = o['custom'];
  const meta: FileMeta = { length, hashes, unrecognized: {} };
  return custom === undefined || custom === null ? meta : { ...meta, custom };
}

function optStrings(c: NotaryChange, o: Record<string, JsonValue>, key: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(c, `${key} must be a list of strings`);
  return v as string[];
}

function readKeys(c: NotaryChange, v: JsonValue | undefined, key: string): PublicKey[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(c, `${key} must be a list of keys`);
  try {
    return v.map((k, i) => parsePublicKey(k, `${key}[${i}]`));
  } catch (e) {
    if (e instanceof ValidationError) throw bad(c, e.message, e);
    throw e;
  }
}

export function readDelegationEdit(c: NotaryChange): DelegationEdit {
  const o = inner(c);
  const t = o['threshold'];
  if (t !== undefined && t !== null && (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0)) throw bad(c, 'threshold must be a non-negative integer');
  const clear = o['clear_paths'];
  if (clear !== undefined && clear !== null && typeof clear !== 'boolean') throw bad(c, 'clear_paths must be a boolean');
  const out: { -readonly [K in keyof DelegationEdit]: DelegationEdit[K] } = {};
  if (typeof t === 'number' && t > 0) out.threshold = t;
  const addKeys = readKeys(c, o['add_keys'], 'add_keys');
  if (addKeys.length > 0) out.addKeys = addKeys;
  const removeKeys = optStrings(c, o, 'remove_keys');
  if (removeKeys !== undefined) out.removeKeys = removeKeys;
  const addPaths = optStrings(c, o, 'add_paths');
  if (addPaths !== undefined) out.addPaths = addPaths;
  const removePaths = optStrings(c, o, 'remove_paths');
  if (removePaths !== undefined) out.removePaths = removePaths;
  if (clear === true) out.clearPaths = true;
  return out;
}

function targetOperation(c: NotaryChange): Operation {
  if (c.action === 'create' || c.action === 'update') return { kind: 'change', change: { kind: 'addTarget', role: c.role, name: c.path, meta: readFileMeta(c) } };
  if (c.action === 'delete') return { kind: 'change', change: { kind: 'removeTarget', role: c.role, name: c.path } };
  throw bad(c, `action not yet supported: ${c.action}`);
}

function delegationOperation(c: NotaryChange): Operation {
  const wildcard = c.role.endsWith('/*');
  if (c.action === 'delete' && !wildcard) return { kind: 'change', change: { kind: 'removeDelegation', name: c.role } };
  if (c.action !== 'create' && c.action !== 'update') throw bad(c, `unsupported action against delegations: ${c.action}`);
  const e = readDelegationEdit(c);
  if (wildcard) {
    if (c.action !== 'update') throw bad(c, 'a wildcard delegation scope can only remove keys');
    return { kind: 'purgeKeys', scope: c.role, keyIds: e.removeKeys ?? [] };
  }
  const change: Change = { kind: 'updateDelegation', name: c.role, ...e };
  return { kind: 'change', change };
}

function rootOperation(c: NotaryChange): Operation {
  if (c.type !== 'role') throw bad(c, `type of root change not yet supported: ${c.type}`);
  const o = inner(c);
  const role = o['role'];
  if (typeof role !== 'string' || !isBaseRole(role)) throw bad(c, 'role must name a base role');
  if (c.action === 'create') return { kind: 'change', change: { kind: 'rotateBaseRole', role: role as BaseRoleName, keys: readKeys(c, o['keys'], 'keys') } };
  const t = o['threshold'];
  if (c.action === 'update' && typeof t === 'number' && Number.isSafeInteger(t)) return { kind: 'change', change: { kind: 'setThreshold', role, threshold: t } };
  throw bad(c, `action not yet supported for root: ${c.action}`);
}

/** The typed operation a change file stands for. */
export function toOperation(c: NotaryChange & { file?: string }): Operation {
  if (c.role === 'root') return rootOperation(c);
  if (c.role !== 'targets' && !c.role.startsWith('targets/')) throw bad(c, `scope not supported: ${c.role}`);
  switch (c.type) {
    case 'target':
      return targetOperation(c);
    case 'delegation':
      return delegationOperation(c);
    case 'witness':
      return { kind: 'change', change: { kind: 'witness', role: c.role } };
    default:
      throw bad(c, 'only target meta and delegations changes supported');
  }
}

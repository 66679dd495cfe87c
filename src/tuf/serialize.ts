/**
 * Typed metadata views back to the generic `signed` JSON that notary writes (docs/formats.md
 * §1.2–1.6): Go's member names, `delegations` always present, `paths` omitted when absent, hashes
 * in standard base64, and every object's `unrecognized` members merged back in.
 *
 * Contract: for any parsed `m`, `canonicalBytes(serializeSigned(m.signed))` equals `m.signedBytes`
 * as long as the input carried only the members Vouch models plus `unrecognized` ones (unknown
 * members of `delegations` itself and of key objects are not modelled and are dropped, as Go drops
 * them). Nothing here signs, validates or mutates its input.
 */
import type { JsonObject, JsonValue } from './canonical.ts';
import { publicKeyJson, type PublicKey } from './keys.ts';
import type {
  AnySigned,
  DelegatedRole,
  FileMeta,
  RoleKeys,
  RootSigned,
  SignedCommon,
  SnapshotSigned,
  TargetsSigned,
  TimestampSigned,
} from './metadata.ts';

/**
 * An object from untrusted member names. `Object.fromEntries` defines own properties, so a target
 * named `__proto__` stays a member instead of replacing the prototype as `o[k] = v` would.
 */
function members(entries: Iterable<readonly [string, JsonValue]>): JsonObject {
  return Object.fromEntries<JsonValue>(entries);
}

export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** A FileMeta as Go marshals it: `hashes`, `length`, then `custom` only when present. */
export function fileMetaToJson(meta: FileMeta): JsonObject {
  const hashes = members([...meta.hashes].map(([alg, digest]) => [alg, base64(digest)]));
  const out: JsonObject = { ...meta.unrecognized, hashes, length: meta.length };
  if (meta.custom !== undefined) out.custom = meta.custom;
  return out;
}

function fileMetaMapToJson(files: ReadonlyMap<string, FileMeta>): JsonObject {
  return members([...files].map(([name, meta]) => [name, fileMetaToJson(meta)]));
}

function keysToJson(keys: ReadonlyMap<string, PublicKey>): JsonObject {
  // Listed under the map's own ID: a mismatching ID must survive so that verification rejects it.
  return members([...keys].map(([id, key]) => [id, publicKeyJson(key)]));
}

export function roleKeysToJson(role: RoleKeys): JsonObject {
  return { ...role.unrecognized, keyids: [...role.keyIds], threshold: role.threshold };
}

/** A delegation role object; `paths` is omitted when undefined, as Go's `omitempty` does for `[]`. */
export function delegatedRoleToJson(role: DelegatedRole): JsonObject {
  const out: JsonObject = { ...roleKeysToJson(role), name: role.name };
  if (role.paths !== undefined) out.paths = [...role.paths];
  return out;
}

function common(s: SignedCommon): JsonObject {
  return { ...s.unrecognized, _type: s.type, expires: s.expires.raw, version: s.version };
}

export function rootToJson(root: RootSigned): JsonObject {
  const roles = members([...root.roles].map(([name, role]) => [name, roleKeysToJson(role)]));
  return {
    ...common(root),
    consistent_snapshot: root.consistentSnapshot,
    keys: keysToJson(root.keys),
    roles,
  };
}

export function targetsToJson(targets: TargetsSigned): JsonObject {
  const roles: JsonValue[] = targets.delegations.roles.map(delegatedRoleToJson);
  return {
    ...common(targets),
    delegations: { keys: keysToJson(targets.delegations.keys), roles },
    targets: fileMetaMapToJson(targets.targets),
  };
}

export function snapshotToJson(snapshot: SnapshotSigned): JsonObject {
  return { ...common(snapshot), meta: fileMetaMapToJson(snapshot.meta) };
}

export function timestampToJson(timestamp: TimestampSigned): JsonObject {
  return { ...common(timestamp), meta: fileMetaMapToJson(timestamp.meta) };
}

/** The generic `signed` object of any role view. */
export function serializeSigned(signed: AnySigned): JsonObject {
  switch (signed.type) {
    case 'Root':
      return rootToJson(signed);
    case 'Targets':
      return targetsToJson(signed);
    case 'Snapshot':
      return snapshotToJson(signed);
    case 'Timestamp':
      return timestampToJson(signed);
  }
}

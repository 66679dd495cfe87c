/**
 * How keys are laid out as objects on a token, and EC point ↔ SPKI conversion.
 *
 * Two schemes:
 * - `yubikey` (notary's, kept for compatibility with keys notary wrote): `CKA_ID` is one byte
 *   0–3, taken in the order 2, 1, 3, 0 (PIV slots 9c, 9e, 9d, 9a); a certificate object with
 *   `CN=<role>` marks the key, and listing reads those certificates.
 * - `vouch` (any other token): `CKA_ID` = ASCII `vouch:` ‖ the 32 bytes of the key ID, and
 *   `CKA_LABEL` = `vouch:<key ID>:<role>[:<gun>]`. Nothing another application writes can collide
 *   with that, and Vouch never touches objects without its prefix. The public-key object
 *   (`CKA_EC_POINT`) is what listing reads.
 *
 * Contract: parsers return undefined for objects that are not Vouch's or notary's (they are
 * skipped, never deleted); SPKI conversion accepts P-256 only and throws `UNSUPPORTED_KEY`.
 */
import { derBitString, derOctetString, derOid, derSequence, readDerSequence, TAG } from '../../crypto/der.ts';
import { DerReader } from '../../crypto/der.ts';
import { OID } from '../../crypto/private-keys.ts';
import { isValidRoleName } from '../../tuf/roles.ts';
import type { KeyId } from '../../tuf/types.ts';
import { Pkcs11Error } from './errors.ts';

export type ObjectScheme = 'yubikey' | 'vouch';

/** CKA_EC_PARAMS of P-256: the prime256v1 OID. */
export const P256_PARAMS: Uint8Array = derOid('1.2.840.10045.3.1.7');
const P256_POINT_BYTES = 65;

/** notary's slot preference: PIV 9c, 9e, 9d, 9a. */
export const YUBIKEY_SLOT_ORDER: readonly number[] = [2, 1, 3, 0];
export const YUBIKEY_SLOTS = 4;
/** notary's key mode for new Yubikey keys: touch plus PIN once. */
export const YUBIKEY_KEY_MODE = 3;

const VOUCH_PREFIX = 'vouch:';
const VOUCH_ID_PREFIX = new TextEncoder().encode(VOUCH_PREFIX);

function unsupported(what: string): Pkcs11Error {
  return new Pkcs11Error('UNSUPPORTED_KEY', `tokens hold ECDSA P-256 keys only: ${what}`);
}

/** SPKI of a P-256 point given as CKA_EC_POINT (DER OCTET STRING, or the bare point some tokens return). */
export function ecPointToSpki(ecPoint: Uint8Array): Uint8Array {
  let point = ecPoint;
  if (ecPoint.length !== P256_POINT_BYTES) {
    try {
      const r = new DerReader(ecPoint, 'CKA_EC_POINT');
      point = r.octetString();
      r.end();
    } catch (cause) {
      throw new Pkcs11Error('UNSUPPORTED_KEY', 'the token returned an EC point that is not a DER OCTET STRING', { cause });
    }
  }
  if (point.length !== P256_POINT_BYTES || point[0] !== 0x04) throw unsupported('the EC point is not an uncompressed P-256 point');
  return derSequence(derSequence(derOid(OID.ecPublicKey), P256_PARAMS), derBitString(point));
}

/** The uncompressed point of a P-256 SPKI, DER-wrapped as CKA_EC_POINT. */
export function spkiToEcPoint(spki: Uint8Array): Uint8Array {
  const r = readDerSequence(spki, 'SubjectPublicKeyInfo');
  const alg = r.sequence('AlgorithmIdentifier');
  const algorithm = alg.oid();
  const params = alg.read(TAG.OID).encoded;
  const point = r.bitString();
  r.end();
  if (algorithm !== OID.ecPublicKey || Buffer.compare(params, P256_PARAMS) !== 0) throw unsupported('the key is not on P-256');
  return derOctetString(point);
}

/** CKA_ID of a key in the `vouch` scheme. */
export function vouchObjectId(keyId: KeyId): Uint8Array {
  const id = new Uint8Array(VOUCH_ID_PREFIX.length + 32);
  id.set(VOUCH_ID_PREFIX);
  id.set(Buffer.from(keyId, 'hex'), VOUCH_ID_PREFIX.length);
  return id;
}

export interface VouchLabel {
  readonly keyId: KeyId;
  readonly role: string;
  readonly gun?: string;
}

/** CKA_LABEL of a key in the `vouch` scheme. Roles never contain `:`; a GUN may, so it comes last. */
export function vouchLabel(l: VouchLabel): string {
  return `${VOUCH_PREFIX}${l.keyId}:${l.role}${l.gun === undefined || l.gun === '' ? '' : `:${l.gun}`}`;
}

/** The parts of a `vouch` label, or undefined for any other label. */
export function parseVouchLabel(label: string): VouchLabel | undefined {
  const m = /^vouch:([0-9a-f]{64}):([^:]+)(?::(.+))?$/s.exec(label);
  if (m === null) return undefined;
  const [, keyId, role, gun] = m as unknown as [string, string, string, string | undefined];
  if (!isRoleLike(role)) return undefined;
  return gun === undefined ? { keyId: keyId as KeyId, role } : { keyId: keyId as KeyId, role, gun };
}

/** A TUF role or a docker signer name (`alice`): what notary's key files carry as `role`. */
export function isRoleLike(role: string): boolean {
  return isValidRoleName(role) || /^[a-z0-9][-a-z0-9_.]{0,254}$/.test(role);
}

/** True when `id` is a `vouch` CKA_ID. */
export function isVouchObjectId(id: Uint8Array): boolean {
  return id.length === VOUCH_ID_PREFIX.length + 32 && Buffer.compare(id.subarray(0, VOUCH_ID_PREFIX.length), VOUCH_ID_PREFIX) === 0;
}

/** The notary slot number of a one-byte CKA_ID, or undefined for any other ID. */
export function yubikeySlotOf(id: Uint8Array): number | undefined {
  const slot = id[0];
  return id.length === 1 && slot !== undefined && slot < YUBIKEY_SLOTS ? slot : undefined;
}

/** The first free slot in notary's order; `taken` holds the first bytes of every object ID found. */
export function nextYubikeySlot(taken: ReadonlySet<number>): number {
  const slot = YUBIKEY_SLOT_ORDER.find((s) => !taken.has(s));
  if (slot === undefined) throw new Pkcs11Error('NO_SLOTS', 'yubikey has no available slots');
  return slot;
}

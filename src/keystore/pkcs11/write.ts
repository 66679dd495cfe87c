/**
 * Putting keys on a token: importing a key generated on this host (notary's way, which allows an
 * encrypted backup copy) or generating one on the token (the private half never exists outside
 * it), in either object scheme (see objects.ts).
 *
 * Contract: all-or-nothing on the token. Objects are created with the one listing reads
 * (certificate for `yubikey`, public key for `vouch`) last, so a write cut short by a pulled
 * token leaves no listed half-key; on any failure every object this write created is destroyed
 * (best effort: a token that is gone keeps at most an unlisted private-key object).
 */
import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createRootCertificate, parseCertificate } from '../../crypto/x509.ts';
import { computeKeyId } from '../../tuf/keys.ts';
import type { KeyId } from '../../tuf/types.ts';
import { Pkcs11Error } from './errors.ts';
import {
  ecPointToSpki, nextYubikeySlot, P256_PARAMS, spkiToEcPoint, vouchLabel, vouchObjectId, YUBIKEY_KEY_MODE,
} from './objects.ts';
import type { ObjectScheme } from './objects.ts';
import { CK } from './port.ts';
import type { Attribute, Handle } from './port.ts';
import type { OpenToken } from './session.ts';

export interface KeyMeta {
  readonly role: string;
  readonly gun?: string;
}

export interface WrittenKey {
  readonly keyId: KeyId;
  readonly objectId: Uint8Array;
  readonly spki: Uint8Array;
}

const P256_SCALAR_BYTES = 32;

/** The private scalar D, left-padded to 32 bytes (notary's `ensurePrivateKeySize`). */
function privateScalar(key: KeyObject): Buffer {
  const d = key.export({ format: 'jwk' }).d;
  if (d === undefined) throw new Pkcs11Error('UNSUPPORTED_KEY', 'not a private key');
  const raw = Buffer.from(d, 'base64url');
  if (raw.length > P256_SCALAR_BYTES) throw new Pkcs11Error('UNSUPPORTED_KEY', 'tokens hold ECDSA P-256 keys only');
  return Buffer.concat([Buffer.alloc(P256_SCALAR_BYTES - raw.length), raw]);
}

/** Runs `steps`, destroying what they created if one fails. */
function allOrNothing<T>(token: OpenToken, steps: (created: Handle[]) => T): T {
  const created: Handle[] = [];
  try {
    return steps(created);
  } catch (e) {
    for (const h of created.reverse()) {
      try {
        token.port.destroyObject(token.session, h);
      } catch {
        // The token is probably gone; the original error says so.
      }
    }
    throw e;
  }
}

/** First bytes of every CKA_ID on the token: notary's notion of a taken Yubikey slot. */
function takenSlots(token: OpenToken): Set<number> {
  const taken = new Set<number>();
  for (const h of token.port.findObjects(token.session, [{ type: CK.CKA_TOKEN, value: true }])) {
    try {
      const [id] = token.port.getAttributes(token.session, h, [CK.CKA_ID]);
      if (id !== undefined && id.length > 0) taken.add(id[0] as number);
    } catch {
      // Objects without a readable ID take no slot.
    }
  }
  return taken;
}

function certificateTemplate(der: Uint8Array, id: Uint8Array, label?: string): Attribute[] {
  return [
    { type: CK.CKA_CLASS, value: CK.CKO_CERTIFICATE },
    { type: CK.CKA_TOKEN, value: true },
    { type: CK.CKA_CERTIFICATE_TYPE, value: CK.CKC_X_509 },
    { type: CK.CKA_SUBJECT, value: Buffer.from(parseCertificate(der).rawSubject) },
    { type: CK.CKA_VALUE, value: Buffer.from(der) },
    { type: CK.CKA_ID, value: Buffer.from(id) },
    ...(label !== undefined ? [{ type: CK.CKA_LABEL, value: label }] : []),
  ];
}

function publicTemplate(id: Uint8Array, label: string, ecPoint?: Uint8Array): Attribute[] {
  return [
    { type: CK.CKA_CLASS, value: CK.CKO_PUBLIC_KEY },
    { type: CK.CKA_KEY_TYPE, value: CK.CKK_EC },
    { type: CK.CKA_TOKEN, value: true },
    { type: CK.CKA_PRIVATE, value: false },
    { type: CK.CKA_VERIFY, value: true },
    { type: CK.CKA_ID, value: Buffer.from(id) },
    { type: CK.CKA_LABEL, value: label },
    { type: CK.CKA_EC_PARAMS, value: Buffer.from(P256_PARAMS) },
    ...(ecPoint !== undefined ? [{ type: CK.CKA_EC_POINT, value: Buffer.from(ecPoint) }] : []),
  ];
}

function privateTemplate(id: Uint8Array, label: string | undefined, value?: Buffer): Attribute[] {
  return [
    { type: CK.CKA_CLASS, value: CK.CKO_PRIVATE_KEY },
    { type: CK.CKA_KEY_TYPE, value: CK.CKK_EC },
    { type: CK.CKA_TOKEN, value: true },
    { type: CK.CKA_PRIVATE, value: true },
    { type: CK.CKA_SENSITIVE, value: true },
    { type: CK.CKA_EXTRACTABLE, value: false },
    { type: CK.CKA_SIGN, value: true },
    { type: CK.CKA_ID, value: Buffer.from(id) },
    ...(label !== undefined ? [{ type: CK.CKA_LABEL, value: label }] : []),
    ...(value !== undefined ? [{ type: CK.CKA_EC_PARAMS, value: Buffer.from(P256_PARAMS) }, { type: CK.CKA_VALUE, value }] : []),
  ];
}

/**
 * notary's Yubikey private-key template: the key mode (CKA_VENDOR_DEFINED, notary's 3 = touch +
 * PIN once) sets the PIV touch and PIN policy; null leaves it out (modules that reject it).
 */
function yubikeyPrivateTemplate(id: Uint8Array, value: Buffer, keyMode: number | null): Attribute[] {
  return [
    { type: CK.CKA_CLASS, value: CK.CKO_PRIVATE_KEY },
    { type: CK.CKA_KEY_TYPE, value: CK.CKK_EC },
    { type: CK.CKA_TOKEN, value: true },
    { type: CK.CKA_ID, value: Buffer.from(id) },
    { type: CK.CKA_EC_PARAMS, value: Buffer.from(P256_PARAMS) },
    { type: CK.CKA_VALUE, value },
    ...(keyMode !== null ? [{ type: CK.CKA_VENDOR_DEFINED, value: keyMode }] : []),
  ];
}

/** Imports a P-256 private key generated on this host. */
export function writeHostKey(token: OpenToken, scheme: ObjectScheme, key: KeyObject, spki: Uint8Array,
  meta: KeyMeta, now: Date, keyMode: number | null = YUBIKEY_KEY_MODE): WrittenKey {
  const keyId = computeKeyId('ecdsa', spki);
  const d = privateScalar(key);
  if (scheme === 'yubikey') {
    const objectId = Uint8Array.of(nextYubikeySlot(takenSlots(token)));
    // notary's Yubikey certificate: self-signed, CN=<role>, ten years.
    const cert = createRootCertificate({ gun: meta.role, privateKey: key, now });
    return allOrNothing(token, (created) => {
      created.push(token.port.createObject(token.session, yubikeyPrivateTemplate(objectId, d, keyMode)));
      created.push(token.port.createObject(token.session, certificateTemplate(cert, objectId)));
      return { keyId, objectId, spki };
    });
  }
  const objectId = vouchObjectId(keyId);
  const label = vouchLabel({ keyId, ...meta });
  return allOrNothing(token, (created) => {
    created.push(token.port.createObject(token.session, privateTemplate(objectId, label, d)));
    created.push(token.port.createObject(token.session, publicTemplate(objectId, label, spkiToEcPoint(spki))));
    return { keyId, objectId, spki };
  });
}

/**
 * Generates a key pair on the token (`vouch` scheme only: notary's Yubikey layout needs the
 * private key at hand for its certificate, so Yubikeys always import a host-generated key). The
 * key ID is known only afterwards, so the pair is made under a temporary ID and label and then
 * renamed; a pair that cannot be renamed is destroyed.
 */
export function generateOnToken(token: OpenToken, meta: KeyMeta): WrittenKey {
  const tempId = new TextEncoder().encode(`vouch-new:${randomBytes(8).toString('hex')}`);
  const tempLabel = Buffer.from(tempId).toString('latin1');
  return allOrNothing(token, (created) => {
    const pair = token.port.generateEcKeyPair(token.session, publicTemplate(tempId, tempLabel), privateTemplate(tempId, tempLabel));
    created.push(pair.privateKey, pair.publicKey);
    const [point] = token.port.getAttributes(token.session, pair.publicKey, [CK.CKA_EC_POINT]);
    const spki = ecPointToSpki(point ?? new Uint8Array());
    const keyId = computeKeyId('ecdsa', spki);
    const objectId = vouchObjectId(keyId);
    const rename: Attribute[] = [
      { type: CK.CKA_ID, value: Buffer.from(objectId) },
      { type: CK.CKA_LABEL, value: vouchLabel({ keyId, ...meta }) },
    ];
    // Private half first: the public key object is what listing reads.
    token.port.setAttributes(token.session, pair.privateKey, rename);
    token.port.setAttributes(token.session, pair.publicKey, rename);
    return { keyId, objectId, spki };
  });
}

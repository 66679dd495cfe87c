/**
 * Public keys as TUF metadata carries them (docs/formats.md §3), their key IDs, and signature
 * verification by method (§4).
 *
 * Contract:
 * - `parsePublicKey` accepts exactly `{keytype: string, keyval: {public: base64, private: null}}`
 *   (extra members ignored, `private` may be absent) and throws `ValidationError('INVALID_KEY')`
 *   otherwise. Unknown key types are carried through; they can never verify anything.
 * - A key's `id` is always computed from its content, never taken from the metadata.
 * - `verifySignature` returns false for a signature that does not verify or key bytes that do not
 *   parse, and throws `VerificationError` only where notary reports an error: a method the key
 *   type cannot use (`KEY_TYPE_MISMATCH`), an unknown method (`UNSUPPORTED_METHOD`), an RSA key
 *   below 2048 bits (`KEY_TOO_SHORT`). The scheme always follows the trusted key's type.
 */
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { decodeFirstPem } from '../crypto/pem.ts';
import {
  CryptoError,
  ecdsaVerify,
  ed25519RawPublic,
  ed25519Verify,
  importEd25519Raw,
  importSpki,
  keyAlgorithm,
  rsaPkcs1v15Verify,
  rsaPssVerify,
  spkiOf,
} from '../crypto/signatures.ts';
import { firstCertificate, parseCertificate } from '../crypto/x509.ts';
import { canonicalBytes, isJsonObject } from './canonical.ts';
import type { JsonObject } from './canonical.ts';
import { ValidationError, VerificationError } from './errors.ts';
import { asKeyId } from './types.ts';
import type { KeyId } from './types.ts';

export type KeyType = 'ecdsa' | 'ecdsa-x509' | 'rsa' | 'rsa-x509' | 'ed25519';

export interface PublicKey {
  /** A `KeyType`, or an unknown type carried through unchanged. */
  readonly keyType: string;
  readonly publicBytes: Uint8Array;
  readonly id: KeyId;
}

/** Largest decoded `public` value accepted: a long certificate chain fits easily. */
export const MAX_PUBLIC_KEY_BYTES = 64 * 1024;
const MAX_PUBLIC_B64_CHARS = Math.ceil(MAX_PUBLIC_KEY_BYTES / 3) * 4;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f]/;

function invalidKey(message: string, path: string): ValidationError {
  return new ValidationError('INVALID_KEY', `invalid key at ${path || '(root)'}: ${message}`, path);
}

/** Parses a key object from untrusted metadata. */
export function parsePublicKey(value: unknown, path: string): PublicKey {
  if (!isJsonObject(value)) throw invalidKey('a key must be a JSON object', path);
  const keyType = value['keytype'];
  if (typeof keyType !== 'string' || keyType.length === 0 || CONTROL.test(keyType) || keyType.length > 256) {
    throw invalidKey('keytype must be a non-empty string', `${path}.keytype`);
  }
  const keyval = value['keyval'];
  if (!isJsonObject(keyval)) throw invalidKey('keyval must be an object', `${path}.keyval`);
  const priv = keyval['private'];
  if (priv !== undefined && priv !== null) throw invalidKey('keyval.private must be null in metadata', `${path}.keyval.private`);
  const pub = keyval['public'];
  if (typeof pub !== 'string') throw invalidKey('keyval.public must be a base64 string', `${path}.keyval.public`);
  // Go's base64 decoder skips CR and LF; anything else must be padded standard base64.
  const b64 = pub.includes('\n') || pub.includes('\r') ? pub.replace(/[\r\n]/g, '') : pub;
  if (b64.length > MAX_PUBLIC_B64_CHARS) {
    throw invalidKey(`keyval.public exceeds ${MAX_PUBLIC_KEY_BYTES} bytes`, `${path}.keyval.public`);
  }
  if (!BASE64.test(b64)) throw invalidKey('keyval.public is not valid base64', `${path}.keyval.public`);
  return makePublicKey(keyType, new Uint8Array(Buffer.from(b64, 'base64')));
}

/** Builds a key from its type and public bytes; the ID is computed from them. */
export function makePublicKey(keyType: string, publicBytes: Uint8Array): PublicKey {
  const bytes = new Uint8Array(publicBytes);
  return Object.freeze({ keyType, publicBytes: bytes, id: computeKeyId(keyType, bytes) });
}

/** `sha256(canonical({"keytype":T,"keyval":{"private":null,"public":B64}}))` in lower-case hex. */
export function computeKeyId(keyType: string, publicBytes: Uint8Array): KeyId {
  const text = canonicalBytes({ keytype: keyType, keyval: { private: null, public: Buffer.from(publicBytes).toString('base64') } });
  return asKeyId(createHash('sha256').update(text).digest('hex'));
}

/** The key as metadata lists it. */
export function publicKeyJson(key: PublicKey): JsonObject {
  return { keytype: key.keyType, keyval: { private: null, public: Buffer.from(key.publicBytes).toString('base64') } };
}

function pemText(key: PublicKey): string {
  return Buffer.from(key.publicBytes).toString('utf8');
}

function isX509Type(t: string): t is 'ecdsa-x509' | 'rsa-x509' {
  return t === 'ecdsa-x509' || t === 'rsa-x509';
}

/**
 * §3.3: for `ecdsa-x509`/`rsa-x509`, the ID of the plain `ecdsa`/`rsa` key holding the first
 * headerless CERTIFICATE block's public key (the private-key file name); otherwise the key ID.
 */
export function canonicalKeyId(key: PublicKey): KeyId {
  if (!isX509Type(key.keyType)) return key.id;
  try {
    const cert = firstCertificate(pemText(key));
    if (cert.publicKey === undefined) throw new CryptoError('UNSUPPORTED_KEY', 'certificate key algorithm is not supported');
    return computeKeyId(key.keyType === 'ecdsa-x509' ? 'ecdsa' : 'rsa', spkiOf(cert.publicKey));
  } catch (cause) {
    if (!(cause instanceof CryptoError)) throw cause;
    throw new ValidationError('INVALID_KEY', `cannot compute canonical key ID of ${key.id}: ${cause.message}`, '', { cause });
  }
}

/** The bare public key of a plain or certificate key, or undefined when its bytes do not parse. */
function keyMaterial(key: PublicKey): KeyObject | undefined {
  const cached = materialCache.get(key);
  if (cached !== undefined) return cached ?? undefined;
  let material: KeyObject | null = null;
  try {
    if (key.keyType === 'ecdsa' || key.keyType === 'rsa') material = importSpki(key.publicBytes);
    else if (key.keyType === 'ed25519') material = importEd25519Raw(key.publicBytes);
    // Go's verifiers take the first PEM block of any kind and parse it as a certificate.
    else if (isX509Type(key.keyType)) material = parseCertificate(decodeFirstPem(pemText(key)).bytes).publicKey ?? null;
  } catch {
    material = null;
  }
  materialCache.set(key, material);
  return material ?? undefined;
}

const materialCache = new WeakMap<PublicKey, KeyObject | null>();

function algorithmOf(k: KeyObject): string {
  try {
    return keyAlgorithm(k);
  } catch {
    return 'unsupported';
  }
}

const METHOD_KEY_TYPES: Readonly<Record<string, readonly string[]>> = {
  ecdsa: ['ecdsa', 'ecdsa-x509'],
  eddsa: ['ed25519'],
  rsapss: ['rsa', 'rsa-x509'],
  rsapkcs1v15: ['rsa', 'rsa-x509'],
  'pycrypto-pkcs#1 pss': ['rsa'],
};

/** Verifies `sig` over `message` (the canonical bytes of `signed`) with a trusted key. */
export function verifySignature(key: PublicKey, method: string, sig: Uint8Array, message: Uint8Array): boolean {
  const m = method.toLowerCase();
  // Own entries only: a method named `__proto__` or `constructor` is just unsupported.
  const allowed = Object.hasOwn(METHOD_KEY_TYPES, m) ? METHOD_KEY_TYPES[m] : undefined;
  if (allowed === undefined) throw new VerificationError('UNSUPPORTED_METHOD', `signing method is not supported: ${m}`);
  if (!allowed.includes(key.keyType)) throw new VerificationError('KEY_TYPE_MISMATCH', 'key type is not valid for signature');
  const k = m === 'pycrypto-pkcs#1 pss' ? pyCryptoKey(key) : keyMaterial(key);
  if (k === undefined) return false;
  const alg = algorithmOf(k);
  try {
    if (m === 'ecdsa') return alg === 'ecdsa' && ecdsaVerify(k, message, sig);
    if (m === 'eddsa') return alg === 'ed25519' && ed25519Verify(k, message, sig);
    if (alg !== 'rsa') return false;
    return m === 'rsapkcs1v15' ? rsaPkcs1v15Verify(k, message, sig) : rsaPssVerify(k, message, sig);
  } catch (cause) {
    if (cause instanceof CryptoError && cause.code === 'KEY_TOO_SHORT') {
      throw new VerificationError('KEY_TOO_SHORT', `key length is not supported: ${cause.message}`, undefined, { cause });
    }
    if (cause instanceof CryptoError) return false;
    throw cause;
  }
}

/** The legacy PyCrypto method keeps a PEM `PUBLIC KEY` in an `rsa` key's bytes. */
function pyCryptoKey(key: PublicKey): KeyObject | undefined {
  try {
    return importSpki(decodeFirstPem(pemText(key)).bytes);
  } catch {
    return undefined;
  }
}

/** The metadata form of a private key's public half: SPKI for ECDSA and RSA, raw 32 bytes for Ed25519. */
export function publicKeyFromPrivate(key: KeyObject): PublicKey {
  let alg;
  try {
    alg = keyAlgorithm(key);
  } catch (cause) {
    throw new ValidationError('INVALID_KEY', cause instanceof Error ? cause.message : String(cause), '', { cause });
  }
  if (alg === 'ed25519') return makePublicKey('ed25519', ed25519RawPublic(key));
  return makePublicKey(alg, spkiOf(key));
}

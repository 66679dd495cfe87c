/**
 * Signature primitives over Node `KeyObject`s in the encodings notary uses (docs/formats.md §4):
 * ECDSA as raw `r‖s` over SHA-256 (DER refused), RSASSA-PSS with SHA-256 and a 32-byte salt,
 * RSA PKCS#1 v1.5 (verify only), and Ed25519 without pre-hash.
 *
 * Contract: verification functions return `false` for a signature that does not verify, whatever
 * its bytes; they throw only `CryptoError`, and only for key material that can never verify
 * (an RSA key below 2048 bits, a key of the wrong algorithm). Public keys are imported strictly:
 * the DER must re-export to the same bytes, so trailing data or non-canonical encodings that Go's
 * `x509.ParsePKIXPublicKey` would refuse are refused here too.
 */
import { constants, createPublicKey, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { VouchError } from '../errors.ts';

export type CryptoErrorCode =
  | 'INVALID_PUBLIC_KEY' // bytes that are not a public key Go would parse
  | 'UNSUPPORTED_KEY' // a key algorithm or curve notary cannot use
  | 'KEY_TOO_SHORT' // RSA below 2048 bits
  | 'INVALID_CERTIFICATE'; // bytes that are not an X.509 certificate Go would parse

export class CryptoError extends VouchError<CryptoErrorCode> {}

/** Smallest RSA modulus notary accepts anywhere (signatures, certificates). */
export const MIN_RSA_BITS = 2048;
const PSS_SALT_LENGTH = 32;

/** Curves Go's crypto/x509 parses, with their field size in bytes (half an r‖s signature). */
const EC_CURVES: Readonly<Record<string, number>> = {
  prime256v1: 32,
  secp384r1: 48,
  secp521r1: 66,
  secp224r1: 28,
};

export type KeyAlgorithm = 'ecdsa' | 'rsa' | 'ed25519';

/** The notary algorithm family of a key, or an error for a key notary cannot use. */
export function keyAlgorithm(key: KeyObject): KeyAlgorithm {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
      if (EC_CURVES[curve] === undefined) throw new CryptoError('UNSUPPORTED_KEY', `unsupported elliptic curve: ${curve || 'unknown'}`);
      return 'ecdsa';
    }
    case 'rsa':
      return 'rsa';
    case 'ed25519':
      return 'ed25519';
    default:
      throw new CryptoError('UNSUPPORTED_KEY', `unsupported key algorithm: ${key.asymmetricKeyType ?? 'unknown'}`);
  }
}

/** Bytes in each half of a raw ECDSA signature: ⌈bits/8⌉ of the curve. */
export function ecdsaHalfLength(key: KeyObject): number {
  const n = EC_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
  if (n === undefined) throw new CryptoError('UNSUPPORTED_KEY', 'not a supported ECDSA key');
  return n;
}

export function rsaModulusBits(key: KeyObject): number {
  return key.asymmetricKeyDetails?.modulusLength ?? 0;
}

function requireRsaLength(key: KeyObject): void {
  if (rsaModulusBits(key) < MIN_RSA_BITS) {
    throw new CryptoError('KEY_TOO_SHORT', `RSA key must be at least ${MIN_RSA_BITS} bits.`);
  }
}

/** DER SubjectPublicKeyInfo of a public or private key. */
export function spkiOf(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return new Uint8Array(pub.export({ type: 'spki', format: 'der' }));
}

/** The 32 raw bytes of an Ed25519 public key (from a public or private key). */
export function ed25519RawPublic(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new CryptoError('UNSUPPORTED_KEY', 'not an Ed25519 key');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * Imports a DER SubjectPublicKeyInfo as Go's `x509.ParsePKIXPublicKey` would: ECDSA on a NIST
 * curve, RSA or Ed25519, in canonical DER with nothing after it.
 */
export function importSpki(der: Uint8Array): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new CryptoError('INVALID_PUBLIC_KEY', 'unable to parse ASN.1 encoded public key', { cause });
  }
  keyAlgorithm(key);
  if (!sameBytes(spkiOf(key), der)) {
    throw new CryptoError('INVALID_PUBLIC_KEY', 'public key is not in canonical DER form');
  }
  return key;
}

/** Imports the 32 raw bytes of an Ed25519 public key. */
export function importEd25519Raw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new CryptoError('INVALID_PUBLIC_KEY', `ed25519 public key must be 32 bytes, was ${raw.length}`);
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
  } catch (cause) {
    throw new CryptoError('INVALID_PUBLIC_KEY', 'invalid ed25519 public key', { cause });
  }
}

function requireType(key: KeyObject, want: KeyAlgorithm, keyType: 'public' | 'private'): void {
  if (key.type !== keyType || keyAlgorithm(key) !== want) {
    throw new CryptoError('UNSUPPORTED_KEY', `expected an ${want} ${keyType} key`);
  }
}

/** ECDSA over SHA-256 of `message`, as raw r‖s with both halves left-padded (notary's `ecdsa`). */
export function ecdsaSign(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  requireType(privateKey, 'ecdsa', 'private');
  return new Uint8Array(sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
}

/** Verifies a raw r‖s signature of exactly 2×⌈bits/8⌉ bytes; DER-encoded signatures are refused. */
export function ecdsaVerify(publicKey: KeyObject, message: Uint8Array, sig: Uint8Array): boolean {
  requireType(publicKey, 'ecdsa', 'public');
  if (sig.length !== 2 * ecdsaHalfLength(publicKey)) return false;
  return safeVerify(() => verify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig));
}

/** RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt (notary's `rsapss`). */
export function rsaPssSign(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  requireType(privateKey, 'rsa', 'private');
  requireRsaLength(privateKey);
  return new Uint8Array(
    sign('sha256', message, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_LENGTH }),
  );
}

/** Verifies RSASSA-PSS with a salt of exactly 32 bytes. Throws `KEY_TOO_SHORT` below 2048 bits. */
export function rsaPssVerify(publicKey: KeyObject, message: Uint8Array, sig: Uint8Array): boolean {
  requireType(publicKey, 'rsa', 'public');
  requireRsaLength(publicKey);
  if (sig.length < MIN_RSA_BITS / 8) return false;
  return safeVerify(() =>
    verify('sha256', message, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_LENGTH }, sig),
  );
}

/** Verifies RSASSA-PKCS1-v1_5 with SHA-256 (notary's `rsapkcs1v15`, which it never produces). */
export function rsaPkcs1v15Verify(publicKey: KeyObject, message: Uint8Array, sig: Uint8Array): boolean {
  requireType(publicKey, 'rsa', 'public');
  requireRsaLength(publicKey);
  if (sig.length < MIN_RSA_BITS / 8) return false;
  return safeVerify(() => verify('sha256', message, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, sig));
}

/** Ed25519 over the message itself (notary's `eddsa`). */
export function ed25519Sign(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  requireType(privateKey, 'ed25519', 'private');
  return new Uint8Array(sign(null, message, privateKey));
}

export function ed25519Verify(publicKey: KeyObject, message: Uint8Array, sig: Uint8Array): boolean {
  requireType(publicKey, 'ed25519', 'public');
  if (sig.length !== 64) return false;
  return safeVerify(() => verify(null, message, publicKey, sig));
}

/** OpenSSL reports some malformed signatures as exceptions; to a verifier they are just invalid. */
function safeVerify(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}

/**
 * Private keys as Node `KeyObject`s, and notary's "private bytes" forms (docs/formats.md §3.1):
 * ECDSA ↔ SEC1 ECPrivateKey DER with `[0]` curve and `[1]` public key, RSA ↔ PKCS#1
 * RSAPrivateKey DER, Ed25519 ↔ 96 bytes `pub ‖ seed ‖ pub`. The same forms sit inside PKCS#8
 * files, legacy PEM blocks and notary-signer's JWE rows.
 *
 * Contract: every key returned here is checked — the curve is P-256 or P-384, the EC scalar is
 * in range and any embedded public key matches the private one, RSA is two-prime with n = p·q and
 * at least 2048 bits — and every failure is a `PrivateKeyError` or `DerError`, never a Node error.
 * Writers produce exactly Go's bytes. Key generation: ECDSA (P-256 by default) and Ed25519 only;
 * RSA keys can only be imported, as in notary.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { VouchError } from '../errors.ts';
import {
  concatBytes, derBitString, derExplicit, derInteger, derOctetString, derOid,
  derSequence, readDerSequence,
} from './der.ts';

export type PrivateKeyErrorCode =
  | 'INVALID_PRIVATE_KEY' // well-formed DER, but not a valid key of its kind
  | 'UNSUPPORTED_KEY_FORMAT' // an algorithm, curve, cipher or parameter Vouch does not handle
  | 'UNSUPPORTED_KEY_TYPE' // a key type that cannot be used this way (e.g. generating RSA)
  | 'KEY_TOO_SHORT' // RSA below 2048 bits
  | 'INCORRECT_PASSPHRASE' // pkcs8: incorrect password
  | 'PASSPHRASE_REQUIRED' // an encrypted key was read without a passphrase
  | 'INVALID_PEM_HEADER'; // a role, gun or path header value that cannot be written

export class PrivateKeyError extends VouchError<PrivateKeyErrorCode> {}

export type NotaryKeyType = 'ecdsa' | 'rsa' | 'ed25519';
export type EcCurve = 'P-256' | 'P-384';

export interface NotaryPrivateBytes {
  readonly keyType: NotaryKeyType;
  readonly bytes: Uint8Array;
}

export const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ed25519: '1.3.101.112',
  /** notary's pre-RFC 8410 Ed25519 OID, used only in its own PKCS#8 files. */
  notaryEd25519: '1.3.6.1.4.1.11591.15.1',
} as const;

export interface CurveInfo {
  readonly name: EcCurve;
  readonly oid: string;
  readonly size: number;
  readonly order: bigint;
}

const CURVES: readonly CurveInfo[] = [
  {
    name: 'P-256', oid: '1.2.840.10045.3.1.7', size: 32,
    order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  },
  {
    name: 'P-384', oid: '1.3.132.0.34', size: 48,
    order: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
];

export const RSA_MIN_BITS = 2048;
/** Signing with much larger keys is slow enough to be a denial of service. */
export const RSA_MAX_BITS = 16384;

const ED25519_PKCS8_PREFIX = Uint8Array.from(Buffer.from('302e020100300506032b657004220420', 'hex'));

export function curveByOid(oid: string): CurveInfo {
  const c = CURVES.find((x) => x.oid === oid);
  if (c === undefined) throw new PrivateKeyError('UNSUPPORTED_KEY_FORMAT', `unsupported elliptic curve ${oid}`);
  return c;
}

function curveByName(name: string | undefined): CurveInfo {
  const c = CURVES.find((x) => x.name === name);
  if (c === undefined) throw new PrivateKeyError('UNSUPPORTED_KEY_FORMAT', `unsupported elliptic curve ${name}`);
  return c;
}

/** The named curve of an EC key. */
export function ecCurveOf(key: KeyObject): CurveInfo {
  if (key.asymmetricKeyType !== 'ec') throw new PrivateKeyError('UNSUPPORTED_KEY_TYPE', 'not an EC key');
  return curveByName(jwkOf(key).crv);
}

/** The notary key type of a private or public KeyObject. */
export function notaryKeyType(key: KeyObject): NotaryKeyType {
  switch (key.asymmetricKeyType) {
    case 'ec': return 'ecdsa';
    case 'rsa': return 'rsa';
    case 'ed25519': return 'ed25519';
    default:
      throw new PrivateKeyError('UNSUPPORTED_KEY_TYPE', `unsupported key type ${key.asymmetricKeyType ?? key.type}`);
  }
}

function requirePrivate(key: KeyObject): void {
  if (key.type !== 'private') throw new PrivateKeyError('UNSUPPORTED_KEY_TYPE', 'a private key is required');
}

/**
 * A generated key as a key object of its own. On Node 20 the key-generation job shares a lock with
 * the key it made and takes it when the garbage collector destroys the job; if that happens while
 * the key is being exported as a JWK (which allocates under the lock), the process deadlocks
 * (seen in a long-lived `vouch agent` process). A key re-read from its DER shares nothing with the job.
 */
function detached(key: KeyObject): KeyObject {
  return createPrivateKey({ key: key.export({ format: 'der', type: 'pkcs8' }), format: 'der', type: 'pkcs8' });
}

/** Generates a new key. RSA is refused with notary's message. */
export function generateKey(keyType: NotaryKeyType, opts: { curve?: EcCurve } = {}): KeyObject {
  switch (keyType) {
    case 'ecdsa':
      return detached(generateKeyPairSync('ec', { namedCurve: curveByName(opts.curve ?? 'P-256').name }).privateKey);
    case 'ed25519':
      return detached(generateKeyPairSync('ed25519').privateKey);
    case 'rsa':
      throw new PrivateKeyError('UNSUPPORTED_KEY_TYPE', 'rsa keys can only be imported');
    default:
      throw new PrivateKeyError('UNSUPPORTED_KEY_TYPE', `unsupported key type ${String(keyType)}`);
  }
}

/** DER SubjectPublicKeyInfo of a private or public key (notary's `public` for ecdsa and rsa). */
export function publicKeySpki(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return new Uint8Array(pub.export({ type: 'spki', format: 'der' }));
}

/** The 32 raw bytes of an Ed25519 public key (notary's `public` for ed25519). */
export function ed25519RawPublic(key: KeyObject): Uint8Array {
  if (key.asymmetricKeyType !== 'ed25519') throw new PrivateKeyError('UNSUPPORTED_KEY_TYPE', 'not an ed25519 key');
  return b64u(jwkOf(key).x);
}

/** The bytes notary puts in `keyval.public`: SPKI for ecdsa and rsa, raw 32 bytes for ed25519. */
export function notaryPublicBytes(key: KeyObject): Uint8Array {
  return notaryKeyType(key) === 'ed25519' ? ed25519RawPublic(key) : publicKeySpki(key);
}

export function privateKeyToNotaryBytes(key: KeyObject): NotaryPrivateBytes {
  requirePrivate(key);
  const keyType = notaryKeyType(key);
  switch (keyType) {
    case 'ecdsa': return { keyType, bytes: ecToSec1(key) };
    case 'rsa': return { keyType, bytes: new Uint8Array(key.export({ type: 'pkcs1', format: 'der' })) };
    case 'ed25519': {
      const jwk = jwkOf(key);
      const pub = b64u(jwk.x);
      return { keyType, bytes: concatBytes([pub, b64u(jwk.d), pub]) };
    }
  }
}

export function privateKeyFromNotaryBytes(keyType: NotaryKeyType, bytes: Uint8Array): KeyObject {
  switch (keyType) {
    case 'ecdsa': return ecFromSec1(bytes);
    case 'rsa': return rsaFromPkcs1(bytes);
    case 'ed25519': return ed25519FromNotaryBytes(bytes);
    default:
      throw new PrivateKeyError('UNSUPPORTED_KEY_TYPE', `unsupported key type ${String(keyType)}`);
  }
}

/** An Ed25519 key from its 32-byte seed (RFC 8032 private key). */
export function ed25519FromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new PrivateKeyError('INVALID_PRIVATE_KEY', 'ed25519 seed must be 32 bytes');
  return importKey(() => createPrivateKey({ key: Buffer.from(concatBytes([ED25519_PKCS8_PREFIX, seed])), format: 'der', type: 'pkcs8' }), 'ed25519');
}

/** Checks the 96-byte `pub ‖ seed ‖ pub` form: both copies of the public key must match the seed. */
function ed25519FromNotaryBytes(bytes: Uint8Array): KeyObject {
  if (bytes.length !== 96) throw new PrivateKeyError('INVALID_PRIVATE_KEY', 'malformed ed25519 private key');
  const key = ed25519FromSeed(bytes.subarray(32, 64));
  const pub = ed25519RawPublic(key);
  if (!equalBytes(pub, bytes.subarray(0, 32)) || !equalBytes(pub, bytes.subarray(64, 96))) {
    throw new PrivateKeyError('INVALID_PRIVATE_KEY', 'ed25519 private key does not match its public key');
  }
  return key;
}

/** Go's `x509.MarshalECPrivateKey`: version 1, scalar padded to the curve size, [0] curve, [1] point. */
function ecToSec1(key: KeyObject): Uint8Array {
  const jwk = jwkOf(key);
  const curve = curveByName(jwk.crv);
  const d = leftPad(b64u(jwk.d), curve.size);
  const point = concatBytes([Uint8Array.of(4), leftPad(b64u(jwk.x), curve.size), leftPad(b64u(jwk.y), curve.size)]);
  return derSequence(derInteger(1), derOctetString(d), derExplicit(0, derOid(curve.oid)), derExplicit(1, derBitString(point)));
}

/**
 * SEC1 ECPrivateKey. `curveOid` comes from a PKCS#8 AlgorithmIdentifier, where the SEC1 `[0]`
 * may be absent; when both are present they must agree.
 */
export function ecFromSec1(bytes: Uint8Array, curveOid?: string): KeyObject {
  const r = readDerSequence(bytes, 'SEC1 ECPrivateKey');
  if (r.integer() !== 1n) throw new PrivateKeyError('INVALID_PRIVATE_KEY', 'unknown EC private key version');
  let scalar = r.octetString();
  const params = r.optionalExplicit(0);
  const innerOid = params?.oid();
  params?.end();
  const pubField = r.optionalExplicit(1);
  const point = pubField?.bitString();
  pubField?.end();
  r.end();
  if (innerOid !== undefined && curveOid !== undefined && innerOid !== curveOid) {
    throw new PrivateKeyError('INVALID_PRIVATE_KEY', 'EC private key curve does not match its algorithm parameters');
  }
  const oid = innerOid ?? curveOid;
  if (oid === undefined) throw new PrivateKeyError('INVALID_PRIVATE_KEY', 'EC private key names no curve');
  const curve = curveByOid(oid);
  // Some encoders drop or add leading zeros; the value is what counts, as in Go.
  while (scalar.length > curve.size && scalar[0] === 0) scalar = scalar.subarray(1);
  const d = bigintOf(scalar);
  if (scalar.length > curve.size || d === 0n || d >= curve.order) {
    throw new PrivateKeyError('INVALID_PRIVATE_KEY', 'invalid elliptic curve private key value');
  }
  // Import without the stored point so OpenSSL derives it, then compare with what the file claims.
  const normalized = derSequence(derInteger(1), derOctetString(leftPad(scalar, curve.size)), derExplicit(0, derOid(curve.oid)));
  const key = importKey(() => createPrivateKey({ key: Buffer.from(normalized), format: 'der', type: 'sec1' }), 'EC');
  if (point !== undefined) {
    const jwk = jwkOf(key);
    const derived = concatBytes([Uint8Array.of(4), leftPad(b64u(jwk.x), curve.size), leftPad(b64u(jwk.y), curve.size)]);
    if (!equalBytes(point, derived)) {
      throw new PrivateKeyError('INVALID_PRIVATE_KEY', 'EC private key does not match its public key');
    }
  }
  return key;
}

/** PKCS#1 RSAPrivateKey, two-prime only (version 0), 2048 to 16384 bits, n = p·q. */
export function rsaFromPkcs1(bytes: Uint8Array): KeyObject {
  const r = readDerSequence(bytes, 'PKCS#1 RSAPrivateKey');
  if (r.integer() !== 0n) throw new PrivateKeyError('UNSUPPORTED_KEY_FORMAT', 'only two-prime RSA keys are supported');
  const [n, e, d, p, q, dp, dq, qi] = Array.from({ length: 8 }, () => r.integer());
  r.end();
  if (n === undefined || e === undefined || d === undefined || p === undefined || q === undefined
    || dp === undefined || dq === undefined || qi === undefined) {
    throw new PrivateKeyError('INVALID_PRIVATE_KEY', 'incomplete RSA private key');
  }
  const bits = n > 0n ? n.toString(2).length : 0;
  if (bits < RSA_MIN_BITS) {
    throw new PrivateKeyError('KEY_TOO_SHORT', `RSA keys must be at least ${RSA_MIN_BITS} bits, this one has ${bits}`);
  }
  if (bits > RSA_MAX_BITS) {
    throw new PrivateKeyError('UNSUPPORTED_KEY_FORMAT', `RSA keys over ${RSA_MAX_BITS} bits are not supported`);
  }
  const inRange = (x: bigint, limit: bigint): boolean => x > 0n && x < limit;
  if (e < 3n || e % 2n === 0n || !inRange(d, n) || p * q !== n || !inRange(dp, p) || !inRange(dq, q) || !inRange(qi, p)) {
    throw new PrivateKeyError('INVALID_PRIVATE_KEY', 'inconsistent RSA private key');
  }
  return importKey(() => createPrivateKey({ key: Buffer.from(bytes), format: 'der', type: 'pkcs1' }), 'RSA');
}

// --- helpers --------------------------------------------------------------------------------

function jwkOf(key: KeyObject): JsonWebKey {
  return key.export({ format: 'jwk' });
}

function b64u(s: string | undefined): Uint8Array {
  if (s === undefined) throw new PrivateKeyError('INVALID_PRIVATE_KEY', 'key is missing a component');
  return new Uint8Array(Buffer.from(s, 'base64url'));
}

function importKey(f: () => KeyObject, what: string): KeyObject {
  try {
    return f();
  } catch (e) {
    if (e instanceof VouchError) throw e;
    throw new PrivateKeyError('INVALID_PRIVATE_KEY', `invalid ${what} private key`, { cause: e });
  }
}

function leftPad(b: Uint8Array, size: number): Uint8Array {
  if (b.length >= size) return b;
  const out = new Uint8Array(size);
  out.set(b, size - b.length);
  return out;
}

function bigintOf(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b).toString('hex'));
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a).equals(Buffer.from(b));
}

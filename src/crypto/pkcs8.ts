/**
 * PKCS#8 private keys as notary reads and writes them (docs/formats.md §10.2): the plain
 * `PrivateKeyInfo` and the PBES2-encrypted `EncryptedPrivateKeyInfo`.
 *
 * Contract:
 * - Writing is byte-compatible with notary's writer: PBES2, PBKDF2 with an 8-byte salt and no
 *   keyLength or PRF field (so HMAC-SHA1), AES-256-CBC with a 16-byte IV and PKCS#7 padding; the
 *   plaintext is EC version 1 with the curve OID, RSA version 0 without a NULL parameter, Ed25519
 *   version 0 with notary's OID and the 96-byte form. Only the iteration count differs by default
 *   (`VOUCH_PBKDF2_ITERATIONS`); notary reads the count from the file.
 * - Reading also accepts what OpenSSL writes: the hmacWithSHA256 PRF, AES-128/192-CBC, an RSA NULL
 *   parameter, RFC 8410 Ed25519, optional attributes and public key.
 * - A wrong passphrase is `PrivateKeyError('INCORRECT_PASSPHRASE', 'pkcs8: incorrect password')`,
 *   detected by bad padding or a plaintext that is not a PrivateKeyInfo. Iteration counts, salt and
 *   IV sizes are capped before any key derivation runs.
 */
import { createCipheriv, createDecipheriv, pbkdf2, pbkdf2Sync, randomBytes, type KeyObject } from 'node:crypto';
import {
  DerError, DerReader, TAG, derInteger, derOctetString, derOid, derSequence, readDerSequence,
} from './der.ts';
import {
  OID, PrivateKeyError, ecCurveOf, ecFromSec1, ed25519FromSeed, ed25519RawPublic, equalBytes, notaryKeyType,
  privateKeyFromNotaryBytes, privateKeyToNotaryBytes, rsaFromPkcs1,
} from './private-keys.ts';

/** What notary 0.7 writes. */
export const NOTARY_PBKDF2_ITERATIONS = 2048;
/** What Vouch writes by default: 100× notary, still well under a quarter second to unlock. */
export const VOUCH_PBKDF2_ITERATIONS = 204800;
/** Larger counts are refused on read: a hostile file could otherwise stall the process. */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;
export const PKCS8_SALT_BYTES = 8;
const SALT_MIN = 8;
const SALT_MAX = 64;
const IV_BYTES = 16;

const PBES = {
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSHA1: '1.2.840.113549.2.7',
  hmacWithSHA256: '1.2.840.113549.2.9',
} as const;

export type Pkcs8Cipher = 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc';
export type Pkcs8Prf = 'sha1' | 'sha256';

const CIPHERS: Readonly<Record<string, { name: Pkcs8Cipher; keyLength: number }>> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyLength: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyLength: 24 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyLength: 32 },
};
const AES_256_CBC_OID = '2.16.840.1.101.3.4.1.42';

export interface Pkcs8Parameters {
  readonly iterations: number;
  readonly salt: Uint8Array;
  readonly iv: Uint8Array;
  readonly cipher: Pkcs8Cipher;
  readonly prf: Pkcs8Prf;
  readonly ciphertext: Uint8Array;
}

export interface Pkcs8EncryptOptions {
  iterations?: number;
  /** Injected for deterministic tests; random by default. */
  salt?: Uint8Array;
  iv?: Uint8Array;
}

function unsupported(message: string): PrivateKeyError {
  return new PrivateKeyError('UNSUPPORTED_KEY_FORMAT', message);
}

function invalid(message: string): PrivateKeyError {
  return new PrivateKeyError('INVALID_PRIVATE_KEY', message);
}

/** Parses and checks the encryption parameters of an `EncryptedPrivateKeyInfo` without decrypting. */
export function pkcs8Parameters(der: Uint8Array): Pkcs8Parameters {
  const r = readDerSequence(der, 'pkcs8 EncryptedPrivateKeyInfo');
  const alg = r.sequence();
  const algOid = alg.oid();
  if (algOid !== PBES.pbes2) throw unsupported(`pkcs8: only PBES2 supported, found algorithm ${algOid}`);
  const params = alg.sequence();
  alg.end();
  const { salt, iterations, keyLength, prf } = readPbkdf2(params.sequence());
  const enc = params.sequence();
  params.end();
  const encOid = enc.oid();
  const cipher = CIPHERS[encOid];
  if (cipher === undefined) throw unsupported(`pkcs8: unsupported cipher ${encOid}, only AES-128/192/256-CBC`);
  const iv = enc.octetString();
  enc.end();
  const ciphertext = r.octetString();
  r.end();
  if (iv.length !== IV_BYTES) throw invalid(`pkcs8: IV must be ${IV_BYTES} bytes, found ${iv.length}`);
  if (keyLength !== undefined && keyLength !== cipher.keyLength) {
    throw invalid(`pkcs8: PBKDF2 key length ${keyLength} does not match ${cipher.name}`);
  }
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) {
    throw invalid('pkcs8: encrypted data is not a whole number of cipher blocks');
  }
  return { iterations, salt, iv, cipher: cipher.name, prf, ciphertext };
}

function readPbkdf2(kdf: DerReader): { salt: Uint8Array; iterations: number; keyLength?: number; prf: Pkcs8Prf } {
  const kdfOid = kdf.oid();
  if (kdfOid !== PBES.pbkdf2) throw unsupported(`pkcs8: only PBKDF2 supported, found key derivation ${kdfOid}`);
  const p = kdf.sequence();
  kdf.end();
  if (p.peekTag() !== TAG.OCTET_STRING) throw unsupported('pkcs8: PBKDF2 salt must be an OCTET STRING');
  const salt = p.octetString();
  const count = p.integer();
  const keyLength = p.peekTag() === TAG.INTEGER ? p.smallInteger(64) : undefined;
  let prf: Pkcs8Prf = 'sha1';
  if (p.peekTag() === TAG.SEQUENCE) {
    const prfAlg = p.sequence();
    const prfOid = prfAlg.oid();
    if (!prfAlg.done) prfAlg.null();
    prfAlg.end();
    if (prfOid === PBES.hmacWithSHA256) prf = 'sha256';
    else if (prfOid !== PBES.hmacWithSHA1) throw unsupported(`pkcs8: unsupported PBKDF2 PRF ${prfOid}`);
  }
  p.end();
  if (count < 1n) throw invalid('pkcs8: PBKDF2 iteration count must be positive');
  if (count > BigInt(MAX_PBKDF2_ITERATIONS)) {
    throw unsupported(`pkcs8: PBKDF2 iteration count ${count} exceeds the limit of ${MAX_PBKDF2_ITERATIONS}`);
  }
  if (salt.length < SALT_MIN || salt.length > SALT_MAX) {
    throw invalid(`pkcs8: PBKDF2 salt must be ${SALT_MIN} to ${SALT_MAX} bytes, found ${salt.length}`);
  }
  return { salt, iterations: Number(count), ...(keyLength === undefined ? {} : { keyLength }), prf };
}

function cipherKeyLength(p: Pkcs8Parameters): number {
  return p.cipher === 'aes-128-cbc' ? 16 : p.cipher === 'aes-192-cbc' ? 24 : 32;
}

/** Decrypts an `EncryptedPrivateKeyInfo` to its `PrivateKeyInfo` DER. */
export function decryptPkcs8(der: Uint8Array, passphrase: string): Uint8Array {
  const p = pkcs8Parameters(der);
  return decryptWithKey(p, pbkdf2Sync(Buffer.from(passphrase, 'utf8'), p.salt, p.iterations, cipherKeyLength(p), p.prf));
}

/**
 * `decryptPkcs8` with the key derivation on libuv's thread pool: several key files unlock in
 * parallel, and the event loop keeps serving network I/O meanwhile. Same results and errors.
 */
export async function decryptPkcs8Async(der: Uint8Array, passphrase: string): Promise<Uint8Array> {
  const p = pkcs8Parameters(der);
  const key = await new Promise<Buffer>((resolve, reject) => {
    pbkdf2(Buffer.from(passphrase, 'utf8'), p.salt, p.iterations, cipherKeyLength(p), p.prf, (err, derived) => (err === null ? resolve(derived) : reject(err)));
  });
  return decryptWithKey(p, key);
}

function decryptWithKey(p: Pkcs8Parameters, key: Buffer): Uint8Array {
  let plain: Uint8Array;
  try {
    const d = createDecipheriv(p.cipher, key, p.iv);
    plain = new Uint8Array(Buffer.concat([d.update(p.ciphertext), d.final()]));
    readPrivateKeyInfo(plain);
  } catch (e) {
    throw new PrivateKeyError('INCORRECT_PASSPHRASE', 'pkcs8: incorrect password', { cause: e });
  }
  return plain;
}

/** Encrypts a `PrivateKeyInfo` DER exactly as notary does, but with a configurable iteration count. */
export function encryptPkcs8(privateKeyInfo: Uint8Array, passphrase: string, opts: Pkcs8EncryptOptions = {}): Uint8Array {
  const iterations = opts.iterations ?? VOUCH_PBKDF2_ITERATIONS;
  const salt = opts.salt ?? new Uint8Array(randomBytes(PKCS8_SALT_BYTES));
  const iv = opts.iv ?? new Uint8Array(randomBytes(IV_BYTES));
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS) {
    throw invalid(`pkcs8: iteration count must be 1 to ${MAX_PBKDF2_ITERATIONS}`);
  }
  if (salt.length < SALT_MIN || salt.length > SALT_MAX) throw invalid(`pkcs8: salt must be ${SALT_MIN} to ${SALT_MAX} bytes`);
  if (iv.length !== IV_BYTES) throw invalid(`pkcs8: IV must be ${IV_BYTES} bytes`);
  const key = pbkdf2Sync(Buffer.from(passphrase, 'utf8'), salt, iterations, 32, 'sha1');
  const c = createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = new Uint8Array(Buffer.concat([c.update(privateKeyInfo), c.final()]));
  return derSequence(
    derSequence(
      derOid(PBES.pbes2),
      derSequence(
        derSequence(derOid(PBES.pbkdf2), derSequence(derOctetString(salt), derInteger(iterations))),
        derSequence(derOid(AES_256_CBC_OID), derOctetString(iv)),
      ),
    ),
    derOctetString(ciphertext),
  );
}

/** notary's unencrypted PKCS#8 for a private key (the plaintext of its encrypted files). */
export function privateKeyToPkcs8(key: KeyObject): Uint8Array {
  const { keyType, bytes } = privateKeyToNotaryBytes(key);
  switch (keyType) {
    case 'ecdsa':
      return derSequence(derInteger(1), derSequence(derOid(OID.ecPublicKey), derOid(ecCurveOf(key).oid)), derOctetString(bytes));
    case 'rsa':
      return derSequence(derInteger(0), derSequence(derOid(OID.rsaEncryption)), derOctetString(bytes));
    case 'ed25519':
      return derSequence(derInteger(0), derSequence(derOid(OID.notaryEd25519)), derOctetString(bytes));
  }
}

interface PrivateKeyInfo {
  readonly algorithm: string;
  /** The rest of the AlgorithmIdentifier after its OID. */
  readonly parameters: DerReader;
  readonly privateKey: Uint8Array;
  /** RFC 5958 `[1] publicKey`, when present. */
  readonly publicKey: Uint8Array | undefined;
}

/** The outer shape of a `PrivateKeyInfo` / RFC 5958 `OneAsymmetricKey`. Throws `DerError`. */
function readPrivateKeyInfo(der: Uint8Array): PrivateKeyInfo {
  const r = readDerSequence(der, 'pkcs8 PrivateKeyInfo');
  const version = r.integer();
  if (version !== 0n && version !== 1n) throw new DerError(`pkcs8 PrivateKeyInfo: unknown version ${version}`);
  const alg = r.sequence();
  const algorithm = alg.oid();
  const privateKey = r.octetString();
  if (r.peekTag() === 0xa0) r.read(0xa0); // attributes: nothing notary uses
  let publicKey: Uint8Array | undefined;
  if (r.peekTag() === 0x81) {
    const v = r.read(0x81).value;
    if (v[0] !== 0) throw new DerError('pkcs8 PrivateKeyInfo: public key with unused bits');
    publicKey = v.subarray(1);
  }
  r.end();
  return { algorithm, parameters: alg, privateKey, publicKey };
}

/** Reads an unencrypted `PrivateKeyInfo` (notary's or standard) into a checked KeyObject. */
export function privateKeyFromPkcs8(der: Uint8Array): KeyObject {
  const info = readPrivateKeyInfo(der);
  const params = info.parameters;
  switch (info.algorithm) {
    case OID.ecPublicKey: {
      const curve = params.oid();
      params.end();
      return ecFromSec1(info.privateKey, curve);
    }
    case OID.rsaEncryption:
      if (!params.done) params.null();
      params.end();
      return rsaFromPkcs1(info.privateKey);
    case OID.notaryEd25519:
      params.end();
      return checkPublic(privateKeyFromNotaryBytes('ed25519', info.privateKey), info.publicKey);
    case OID.ed25519: {
      params.end();
      const inner = new DerReader(info.privateKey, 'RFC 8410 CurvePrivateKey');
      const seed = inner.octetString();
      inner.end();
      return checkPublic(ed25519FromSeed(seed), info.publicKey);
    }
    default:
      throw unsupported(`pkcs8: unsupported private key algorithm ${info.algorithm}`);
  }
}

function checkPublic(key: KeyObject, publicKey: Uint8Array | undefined): KeyObject {
  if (publicKey !== undefined && notaryKeyType(key) === 'ed25519' && !equalBytes(publicKey, ed25519RawPublic(key))) {
    throw invalid('ed25519 private key does not match its public key');
  }
  return key;
}

/**
 * Compact JWE as notary-signer stores private keys (docs/formats.md §9.1): key management
 * PBES2-HS256+A128KW (PBKDF2-HMAC-SHA-256 → AES-128 key wrap, RFC 7518 §4.8 / RFC 3394), content
 * encryption A256GCM with the ASCII of the protected header as AAD.
 *
 * Contract:
 * - `encryptPbes2Jwe` / `encryptPbes2JweAsync` write exactly what jose2go writes: header JSON with
 *   sorted keys `{"alg","enc","p2c":8192,"p2s"}`, a 12-byte salt, a 40-byte wrapped CEK, a 12-byte
 *   IV and a 16-byte tag, each part base64url without padding. The async variants run the key
 *   derivation on libuv's thread pool instead of the caller's thread.
 * - `decryptPbes2Jwe` / `decryptPbes2JweAsync` accept only that algorithm pair, refuse `zip`,
 *   cap the attacker-controlled iteration count (`p2c` ≤ 1,000,000, checked before any key
 *   derivation) and the token size, and report every failure as a `JweError` with a stable code;
 *   a wrong passphrase and a tampered token are indistinguishable (`JWE_DECRYPTION_FAILED`).
 * - Pure: no I/O and no clock; randomness comes from node:crypto unless given in `opts`.
 */
import { createCipheriv, createDecipheriv, pbkdf2, pbkdf2Sync, randomBytes } from 'node:crypto';
import { VouchError } from '../errors.ts';

export type JweErrorCode =
  | 'MALFORMED_JWE' // not five base64url parts, bad header JSON, wrong part sizes
  | 'UNSUPPORTED_JWE' // another alg/enc, or compression
  | 'JWE_PARAMS_OUT_OF_RANGE' // p2c or salt outside the accepted range
  | 'JWE_DECRYPTION_FAILED'; // wrong passphrase or tampered token

export class JweError extends VouchError<JweErrorCode> {}

export const JWE_KEYWRAP_ALG = 'PBES2-HS256+A128KW';
export const JWE_ENCRYPTION_ALG = 'A256GCM';
/** jose2go's fixed iteration count; notary-signer never writes anything else. */
export const NOTARY_P2C = 8192;
/** Highest `p2c` accepted on decrypt (docs/compatibility.md §4 "Signer key files"). */
export const MAX_P2C = 1_000_000;
/** RFC 7518 §4.8.1.2 recommends at least 1000; below that a stored key is barely protected. */
export const MIN_P2C = 1000;
const SALT_BYTES = 12;
const MIN_SALT_BYTES = 8;
const MAX_SALT_BYTES = 64;
const KEK_BYTES = 16;
const CEK_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** A notary private key is at most a few hundred bytes; a row far larger is not a key. */
export const MAX_JWE_CHARS = 64 * 1024;
const B64URL = /^[A-Za-z0-9_-]*$/;
const DECRYPTION_FAILED = 'JWE decryption failed: wrong passphrase or corrupted key';

export interface JweHeader {
  readonly alg: typeof JWE_KEYWRAP_ALG;
  readonly enc: typeof JWE_ENCRYPTION_ALG;
  readonly p2c: number;
  readonly p2s: Uint8Array;
}

export interface EncryptOptions {
  /** Defaults to 8192 (notary's value); must stay within [MIN_P2C, MAX_P2C]. */
  readonly iterations?: number;
  /** Fixed randomness, for test vectors only. */
  readonly salt?: Uint8Array;
  readonly iv?: Uint8Array;
  readonly cek?: Uint8Array;
}

// --- AES key wrap (RFC 3394, default IV A6A6A6A6A6A6A6A6) through OpenSSL's id-aes*-wrap ------

const KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');

function wrapCipher(kek: Uint8Array): string {
  if (![16, 24, 32].includes(kek.length)) throw new JweError('MALFORMED_JWE', 'AES key wrap needs a 128, 192 or 256-bit key');
  return `id-aes${kek.length * 8}-wrap`;
}

/** Wraps `keyData` (a multiple of 8 bytes, at least 16) under `kek`; output is 8 bytes longer. */
export function aesKeyWrap(kek: Uint8Array, keyData: Uint8Array): Uint8Array {
  const alg = wrapCipher(kek);
  if (keyData.length < 16 || keyData.length % 8 !== 0) {
    throw new JweError('MALFORMED_JWE', 'AES key wrap input must be a multiple of 8 bytes, at least 16');
  }
  const c = createCipheriv(alg, kek, KW_IV);
  return new Uint8Array(Buffer.concat([c.update(keyData), c.final()]));
}

/** Unwraps and checks the integrity value; a wrong key gives `JWE_DECRYPTION_FAILED`. */
export function aesKeyUnwrap(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  const alg = wrapCipher(kek);
  if (wrapped.length < 24 || wrapped.length % 8 !== 0) {
    throw new JweError('MALFORMED_JWE', 'AES-wrapped key must be a multiple of 8 bytes, at least 24');
  }
  const d = createDecipheriv(alg, kek, KW_IV);
  try {
    // OpenSSL checks the integrity value inside update(); a mismatch throws there or in final().
    return new Uint8Array(Buffer.concat([d.update(wrapped), d.final()]));
  } catch (cause) {
    throw new JweError('JWE_DECRYPTION_FAILED', DECRYPTION_FAILED, { cause });
  }
}

// --- compact serialization --------------------------------------------------------------------

function b64u(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

function fromB64u(s: string, what: string): Buffer {
  // Length ≡ 1 (mod 4) cannot come from any byte string.
  if (!B64URL.test(s) || s.length % 4 === 1) throw new JweError('MALFORMED_JWE', `JWE ${what} is not base64url`);
  return Buffer.from(s, 'base64url');
}

function passBytes(passphrase: string | Uint8Array): Buffer {
  return typeof passphrase === 'string' ? Buffer.from(passphrase, 'utf8') : Buffer.from(passphrase);
}

function pbes2Salt(p2s: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(JWE_KEYWRAP_ALG, 'ascii'), Buffer.from([0]), p2s]);
}

function checkIterations(p2c: number): void {
  if (!Number.isSafeInteger(p2c) || p2c < MIN_P2C || p2c > MAX_P2C) {
    throw new JweError('JWE_PARAMS_OUT_OF_RANGE', `JWE p2c ${p2c} is outside ${MIN_P2C}..${MAX_P2C}`);
  }
}

function fixedLength(b: Uint8Array | undefined, n: number, what: string): Uint8Array {
  if (b === undefined) return randomBytes(n);
  if (b.length !== n) throw new JweError('MALFORMED_JWE', `${what} must be ${n} bytes`);
  return b;
}

interface SealParams {
  readonly p2c: number;
  readonly p2s: Uint8Array;
  readonly cek: Uint8Array;
  readonly iv: Uint8Array;
}

function sealParams(opts: EncryptOptions): SealParams {
  const p2c = opts.iterations ?? NOTARY_P2C;
  checkIterations(p2c);
  const p2s = opts.salt ?? randomBytes(SALT_BYTES);
  if (p2s.length < MIN_SALT_BYTES || p2s.length > MAX_SALT_BYTES) throw new JweError('JWE_PARAMS_OUT_OF_RANGE', 'JWE salt size out of range');
  return { p2c, p2s, cek: fixedLength(opts.cek, CEK_BYTES, 'CEK'), iv: fixedLength(opts.iv, IV_BYTES, 'IV') };
}

function sealWithKek(plaintext: Uint8Array, p: SealParams, kek: Uint8Array): string {
  const wrapped = aesKeyWrap(kek, p.cek);
  // Go's json.Marshal of a map: keys sorted, no spaces.
  const header = `{"alg":"${JWE_KEYWRAP_ALG}","enc":"${JWE_ENCRYPTION_ALG}","p2c":${p.p2c},"p2s":"${b64u(p.p2s)}"}`;
  const protectedHeader = b64u(Buffer.from(header, 'utf8'));
  const gcm = createCipheriv('aes-256-gcm', p.cek, p.iv, { authTagLength: TAG_BYTES });
  gcm.setAAD(Buffer.from(protectedHeader, 'ascii'));
  const ciphertext = Buffer.concat([gcm.update(plaintext), gcm.final()]);
  return [protectedHeader, b64u(wrapped), b64u(p.iv), b64u(ciphertext), b64u(gcm.getAuthTag())].join('.');
}

/** PBKDF2 on libuv's thread pool: at notary's 8192 iterations it is ≈ 2 ms of CPU per key. */
function deriveKekAsync(passphrase: string | Uint8Array, p2s: Uint8Array, p2c: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    pbkdf2(passBytes(passphrase), pbes2Salt(p2s), p2c, KEK_BYTES, 'sha256', (err, key) => { if (err) reject(err); else resolve(key); });
  });
}

/** Encrypts `plaintext` under `passphrase` (notary: the `NOTARY_SIGNER_<ALIAS>` value). */
export function encryptPbes2Jwe(plaintext: Uint8Array, passphrase: string | Uint8Array, opts: EncryptOptions = {}): string {
  const p = sealParams(opts);
  const kek = pbkdf2Sync(passBytes(passphrase), pbes2Salt(p.p2s), p.p2c, KEK_BYTES, 'sha256');
  try {
    return sealWithKek(plaintext, p, kek);
  } finally {
    kek.fill(0);
  }
}

/**
 * As `encryptPbes2Jwe` (the same token for the same inputs), with the key derivation on libuv's
 * thread pool: a service creating keys for many requests at once keeps its event loop free.
 * `plaintext` is read after the derivation, so the caller must not clear it before this settles.
 */
export async function encryptPbes2JweAsync(plaintext: Uint8Array, passphrase: string | Uint8Array, opts: EncryptOptions = {}): Promise<string> {
  const p = sealParams(opts);
  const kek = await deriveKekAsync(passphrase, p.p2s, p.p2c);
  try {
    return sealWithKek(plaintext, p, kek);
  } finally {
    kek.fill(0);
  }
}

interface ParsedJwe {
  readonly header: JweHeader;
  readonly protectedHeader: string;
  readonly wrappedCek: Buffer;
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

function parseHeaderJson(protectedHeader: string): JweHeader {
  let json: unknown;
  try {
    json = JSON.parse(fromB64u(protectedHeader, 'header').toString('utf8'));
  } catch (cause) {
    if (cause instanceof JweError) throw cause;
    throw new JweError('MALFORMED_JWE', 'JWE header is not JSON', { cause });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new JweError('MALFORMED_JWE', 'JWE header is not a JSON object');
  const h = json as Record<string, unknown>;
  if (h['alg'] !== JWE_KEYWRAP_ALG) throw new JweError('UNSUPPORTED_JWE', `unsupported JWE key management algorithm ${JSON.stringify(h['alg'])}`);
  if (h['enc'] !== JWE_ENCRYPTION_ALG) throw new JweError('UNSUPPORTED_JWE', `unsupported JWE encryption algorithm ${JSON.stringify(h['enc'])}`);
  if (h['zip'] !== undefined) throw new JweError('UNSUPPORTED_JWE', 'compressed JWE is not supported');
  const p2c = h['p2c'];
  if (typeof p2c !== 'number') throw new JweError('MALFORMED_JWE', 'JWE header has no numeric p2c');
  checkIterations(p2c);
  const p2sText = h['p2s'];
  if (typeof p2sText !== 'string') throw new JweError('MALFORMED_JWE', 'JWE header has no p2s');
  const p2s = fromB64u(p2sText, 'p2s');
  if (p2s.length < MIN_SALT_BYTES || p2s.length > MAX_SALT_BYTES) throw new JweError('JWE_PARAMS_OUT_OF_RANGE', 'JWE salt size out of range');
  return { alg: JWE_KEYWRAP_ALG, enc: JWE_ENCRYPTION_ALG, p2c, p2s: new Uint8Array(p2s) };
}

function parseCompact(token: string): ParsedJwe {
  if (typeof token !== 'string' || token.length > MAX_JWE_CHARS) throw new JweError('MALFORMED_JWE', 'JWE token is missing or too large');
  const parts = token.split('.');
  if (parts.length !== 5) throw new JweError('MALFORMED_JWE', `JWE compact form has ${parts.length} parts, expected 5`);
  const [protectedHeader, wrapped, iv, ciphertext, tag] = parts as [string, string, string, string, string];
  const header = parseHeaderJson(protectedHeader);
  const parsed = {
    header, protectedHeader,
    wrappedCek: fromB64u(wrapped, 'encrypted key'), iv: fromB64u(iv, 'IV'),
    ciphertext: fromB64u(ciphertext, 'ciphertext'), tag: fromB64u(tag, 'tag'),
  };
  if (parsed.wrappedCek.length !== CEK_BYTES + 8) throw new JweError('MALFORMED_JWE', 'JWE encrypted key must be 40 bytes');
  if (parsed.iv.length !== IV_BYTES) throw new JweError('MALFORMED_JWE', 'JWE IV must be 12 bytes');
  if (parsed.tag.length !== TAG_BYTES) throw new JweError('MALFORMED_JWE', 'JWE tag must be 16 bytes');
  return parsed;
}

/** The validated protected header of a token, without decrypting it. */
export function parseJweHeader(token: string): JweHeader {
  return parseCompact(token).header;
}

function openWithKek(jwe: ParsedJwe, kek: Uint8Array): Uint8Array {
  const cek = aesKeyUnwrap(kek, jwe.wrappedCek);
  const gcm = createDecipheriv('aes-256-gcm', cek, jwe.iv, { authTagLength: TAG_BYTES });
  gcm.setAAD(Buffer.from(jwe.protectedHeader, 'ascii'));
  gcm.setAuthTag(jwe.tag);
  try {
    return new Uint8Array(Buffer.concat([gcm.update(jwe.ciphertext), gcm.final()]));
  } catch (cause) {
    throw new JweError('JWE_DECRYPTION_FAILED', DECRYPTION_FAILED, { cause });
  } finally {
    cek.fill(0);
  }
}

export function decryptPbes2Jwe(token: string, passphrase: string | Uint8Array): Uint8Array {
  const jwe = parseCompact(token);
  const kek = pbkdf2Sync(passBytes(passphrase), pbes2Salt(jwe.header.p2s), jwe.header.p2c, KEK_BYTES, 'sha256');
  try {
    return openWithKek(jwe, kek);
  } finally {
    kek.fill(0);
  }
}

/** As `decryptPbes2Jwe`, with the key derivation on libuv's thread pool instead of the caller's thread. */
export async function decryptPbes2JweAsync(token: string, passphrase: string | Uint8Array): Promise<Uint8Array> {
  const jwe = parseCompact(token);
  const kek = await deriveKekAsync(passphrase, jwe.header.p2s, jwe.header.p2c);
  try {
    return openWithKek(jwe, kek);
  } finally {
    kek.fill(0);
  }
}

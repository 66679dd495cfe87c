/**
 * Reading of the legacy private-key PEM blocks notary 0.1–0.3 wrote and 0.7 still reads
 * (docs/formats.md §10.2): `EC PRIVATE KEY` (SEC1), `RSA PRIVATE KEY` (PKCS#1) and
 * `ED25519 PRIVATE KEY` (notary's 96 bytes), optionally encrypted per RFC 1423
 * (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: <cipher>,<iv hex>`, key from OpenSSL's EVP_BytesToKey
 * with MD5, one round, salt = the first 8 bytes of the IV).
 *
 * Contract: read only; never written. Other headers (`role`, `gun`) are ignored. A wrong
 * passphrase is `INCORRECT_PASSPHRASE` (`could not decrypt private key`, notary's wording);
 * because the format has no integrity check, a plaintext that does not parse counts as a wrong
 * passphrase too.
 */
import { createDecipheriv, createHash, type KeyObject } from 'node:crypto';
import type { PemBlock } from './pem.ts';
import { DerError } from './der.ts';
import { PrivateKeyError, privateKeyFromNotaryBytes, type NotaryKeyType } from './private-keys.ts';

export const LEGACY_PEM_TYPES: Readonly<Record<string, NotaryKeyType>> = {
  'EC PRIVATE KEY': 'ecdsa',
  'RSA PRIVATE KEY': 'rsa',
  'ED25519 PRIVATE KEY': 'ed25519',
};

const DEK_CIPHERS: Readonly<Record<string, { node: string; keyLength: number; blockSize: number }>> = {
  'AES-128-CBC': { node: 'aes-128-cbc', keyLength: 16, blockSize: 16 },
  'AES-192-CBC': { node: 'aes-192-cbc', keyLength: 24, blockSize: 16 },
  'AES-256-CBC': { node: 'aes-256-cbc', keyLength: 32, blockSize: 16 },
  'DES-EDE3-CBC': { node: 'des-ede3-cbc', keyLength: 24, blockSize: 8 },
};

export function isLegacyPrivateKeyPem(block: PemBlock): boolean {
  return Object.hasOwn(LEGACY_PEM_TYPES, block.type);
}

/** True when a legacy block carries RFC 1423 encryption headers. */
export function isEncryptedLegacyPem(block: PemBlock): boolean {
  return block.headers['Proc-Type'] !== undefined || block.headers['DEK-Info'] !== undefined;
}

/** Reads a legacy block; `passphrase` is needed only when it is encrypted. */
export function readLegacyPrivateKeyPem(block: PemBlock, passphrase: string | undefined): KeyObject {
  const keyType = LEGACY_PEM_TYPES[block.type];
  if (keyType === undefined) throw new PrivateKeyError('UNSUPPORTED_KEY_FORMAT', `unsupported key type "${block.type}"`);
  if (!isEncryptedLegacyPem(block)) return privateKeyFromNotaryBytes(keyType, block.bytes);
  if (passphrase === undefined) {
    throw new PrivateKeyError('PASSPHRASE_REQUIRED', 'a passphrase is required to decrypt this private key');
  }
  const plain = decryptRfc1423(block, passphrase);
  try {
    return privateKeyFromNotaryBytes(keyType, plain);
  } catch (e) {
    const garbled = e instanceof DerError || (keyType === 'ed25519' && e instanceof PrivateKeyError && e.code === 'INVALID_PRIVATE_KEY');
    if (!garbled) throw e;
    throw new PrivateKeyError('INCORRECT_PASSPHRASE', 'could not decrypt private key', { cause: e });
  }
}

function decryptRfc1423(block: PemBlock, passphrase: string): Uint8Array {
  if (block.headers['Proc-Type'] !== '4,ENCRYPTED') {
    throw new PrivateKeyError('UNSUPPORTED_KEY_FORMAT', `unsupported PEM Proc-Type "${block.headers['Proc-Type'] ?? ''}"`);
  }
  const dek = block.headers['DEK-Info'] ?? '';
  const comma = dek.indexOf(',');
  const name = comma < 0 ? dek : dek.slice(0, comma);
  const cipher = Object.hasOwn(DEK_CIPHERS, name) ? DEK_CIPHERS[name] : undefined;
  if (cipher === undefined) {
    throw new PrivateKeyError('UNSUPPORTED_KEY_FORMAT', `unsupported PEM cipher "${name}"; supported: ${Object.keys(DEK_CIPHERS).join(', ')}`);
  }
  const ivHex = dek.slice(comma + 1);
  if (!/^[0-9A-Fa-f]*$/.test(ivHex) || ivHex.length !== cipher.blockSize * 2) {
    throw new PrivateKeyError('INVALID_PRIVATE_KEY', `PEM DEK-Info IV must be ${cipher.blockSize} bytes of hex`);
  }
  const iv = Buffer.from(ivHex, 'hex');
  const data = block.bytes;
  if (data.length === 0 || data.length % cipher.blockSize !== 0) {
    throw new PrivateKeyError('INVALID_PRIVATE_KEY', 'encrypted PEM data is not a whole number of cipher blocks');
  }
  const key = evpBytesToKey(Buffer.from(passphrase, 'utf8'), iv.subarray(0, 8), cipher.keyLength);
  try {
    const d = createDecipheriv(cipher.node, key, iv);
    return new Uint8Array(Buffer.concat([d.update(data), d.final()]));
  } catch (e) {
    throw new PrivateKeyError('INCORRECT_PASSPHRASE', 'could not decrypt private key', { cause: e });
  }
}

/** OpenSSL's EVP_BytesToKey with MD5 and one round: D_i = MD5(D_{i-1} ‖ pass ‖ salt). */
function evpBytesToKey(passphrase: Buffer, salt: Buffer, keyLength: number): Buffer {
  const parts: Buffer[] = [];
  let prev = Buffer.alloc(0);
  let have = 0;
  while (have < keyLength) {
    prev = createHash('md5').update(prev).update(passphrase).update(salt).digest();
    parts.push(prev);
    have += prev.length;
  }
  return Buffer.concat(parts).subarray(0, keyLength);
}

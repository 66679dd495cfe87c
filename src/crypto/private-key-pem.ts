/**
 * Private-key PEM blocks as notary's key files hold them (docs/formats.md §10.2, §10.6):
 * reading dispatches on the block type (`ENCRYPTED PRIVATE KEY`, `PRIVATE KEY`, and the legacy
 * `EC`/`RSA`/`ED25519 PRIVATE KEY`); writing produces notary's encrypted PKCS#8 with its `role`,
 * `gun` (and, for export bundles, `path`) headers in Go's PEM layout.
 *
 * Contract: `readPrivateKeyPem` returns a checked private KeyObject or throws a `VouchError`
 * (`PrivateKeyError`, `DerError`); it never needs the headers, which the keystore interprets.
 * `readPrivateKeyPemAsync` is the same with PKCS#8's key derivation off the main thread.
 * `writeEncryptedPrivateKeyPem` with an empty passphrase writes an unencrypted `PRIVATE KEY`
 * block, as notary does.
 */
import type { KeyObject } from 'node:crypto';
import { encodePem, type PemBlock } from './pem.ts';
import { PrivateKeyError } from './private-keys.ts';
import { decryptPkcs8, decryptPkcs8Async, encryptPkcs8, privateKeyFromPkcs8, privateKeyToPkcs8, type Pkcs8EncryptOptions } from './pkcs8.ts';
import { isEncryptedLegacyPem, isLegacyPrivateKeyPem, readLegacyPrivateKeyPem } from './legacy-pem.ts';

export const ENCRYPTED_PRIVATE_KEY = 'ENCRYPTED PRIVATE KEY';
export const PRIVATE_KEY = 'PRIVATE KEY';

export interface PrivateKeyPemHeaders {
  /** Always present in notary key files: a base role, a delegation role or a docker signer name. */
  readonly role: string;
  /** Only for keys of `targets`, `snapshot` and `timestamp`; omitted when undefined or empty. */
  readonly gun?: string | undefined;
  /** Only in `key export` bundles: the key ID the importer files the key under. */
  readonly path?: string | undefined;
}

/** True when reading `block` needs a passphrase. */
export function isEncryptedPrivateKeyPem(block: PemBlock): boolean {
  if (block.type === ENCRYPTED_PRIVATE_KEY) return true;
  return isLegacyPrivateKeyPem(block) && isEncryptedLegacyPem(block);
}

/**
 * Reads any private-key block notary can read. `passphrase` is used only for encrypted blocks;
 * leaving it undefined for one gives `PASSPHRASE_REQUIRED`.
 */
export function readPrivateKeyPem(block: PemBlock, passphrase: string | undefined): KeyObject {
  if (block.type === ENCRYPTED_PRIVATE_KEY) return privateKeyFromPkcs8(decryptPkcs8(block.bytes, requirePassphrase(passphrase)));
  return readUnencryptedOrLegacy(block, passphrase);
}

/** `readPrivateKeyPem`, deriving an encrypted PKCS#8 block's key on the thread pool. */
export async function readPrivateKeyPemAsync(block: PemBlock, passphrase: string | undefined): Promise<KeyObject> {
  if (block.type === ENCRYPTED_PRIVATE_KEY) return privateKeyFromPkcs8(await decryptPkcs8Async(block.bytes, requirePassphrase(passphrase)));
  return readUnencryptedOrLegacy(block, passphrase);
}

function requirePassphrase(passphrase: string | undefined): string {
  if (passphrase === undefined) throw new PrivateKeyError('PASSPHRASE_REQUIRED', 'a passphrase is required to decrypt this private key');
  return passphrase;
}

/** Unencrypted PKCS#8 and the legacy blocks (whose MD5 key derivation is cheap). */
function readUnencryptedOrLegacy(block: PemBlock, passphrase: string | undefined): KeyObject {
  if (block.type === PRIVATE_KEY) return privateKeyFromPkcs8(block.bytes);
  if (isLegacyPrivateKeyPem(block)) return readLegacyPrivateKeyPem(block, passphrase);
  throw new PrivateKeyError('UNSUPPORTED_KEY_FORMAT', `unsupported key type "${block.type}"`);
}

/**
 * notary's key-file text for `key`: encrypted PKCS#8 (unencrypted if `passphrase` is empty),
 * headers sorted, base64 in 64 columns, trailing newline.
 */
export function writeEncryptedPrivateKeyPem(
  key: KeyObject,
  passphrase: string,
  headers: PrivateKeyPemHeaders,
  opts: Pkcs8EncryptOptions = {},
): string {
  const pemHeaders = pemHeadersOf(headers);
  const plain = privateKeyToPkcs8(key);
  if (passphrase === '') return encodePem({ type: PRIVATE_KEY, headers: pemHeaders, bytes: plain });
  return encodePem({ type: ENCRYPTED_PRIVATE_KEY, headers: pemHeaders, bytes: encryptPkcs8(plain, passphrase, opts) });
}

function pemHeadersOf(headers: PrivateKeyPemHeaders): Record<string, string> {
  const out: Record<string, string> = { role: headers.role };
  if (headers.gun !== undefined && headers.gun !== '') out['gun'] = headers.gun;
  if (headers.path !== undefined && headers.path !== '') out['path'] = headers.path;
  for (const [name, value] of Object.entries(out)) {
    // A line break would end the header early and let a value inject further headers.
    if (value === '' || /[\r\n]/.test(value) || value.trim() !== value) {
      throw new PrivateKeyError('INVALID_PEM_HEADER', `PEM header ${name} must be a non-empty single line without surrounding spaces`);
    }
  }
  return out;
}

/**
 * Key pairs written to files outside the key store: `notary key generate -o PREFIX` writes
 * `PREFIX-key.pem` (encrypted PKCS#8, `role` header) and `PREFIX.pem`, and `docker trust key
 * generate NAME` writes `NAME.pub`; both public files are `PUBLIC KEY` PEM with a `role` header
 * (docs/formats.md §10.6, §12.5).
 *
 * Contract: files are 0600, written atomically and never over an existing file; when the second
 * file cannot be written the first is removed again. Public keys are always DER
 * SubjectPublicKeyInfo (notary writes Ed25519 as 32 raw bytes, which no PEM reader accepts).
 */
import { encodePem } from '../crypto/pem.ts';
import { writeEncryptedPrivateKeyPem } from '../crypto/private-key-pem.ts';
import { generateKey, publicKeySpki } from '../crypto/private-keys.ts';
import { importEd25519Raw } from '../crypto/signatures.ts';
import type { PublicKey } from '../tuf/keys.ts';
import { KeyStoreError } from './errors.ts';
import type { GeneratedKeyType } from './file-store.ts';
import { pathExists, removeFile, writeFileExclusive } from './fs-util.ts';
import { checkRole, keyIdOfPrivate } from './key-file.ts';
import { chooseNewPassphrase, type PassphraseRetriever } from './passphrase.ts';

/** `-----BEGIN PUBLIC KEY-----` with a `role` header, for a plain (non-certificate) key. */
export function publicKeyPemText(publicKey: PublicKey, role: string): string {
  let spki: Uint8Array;
  switch (publicKey.keyType) {
    case 'ecdsa':
    case 'rsa':
      spki = publicKey.publicBytes;
      break;
    case 'ed25519':
      spki = publicKeySpki(importEd25519Raw(publicKey.publicBytes));
      break;
    default:
      throw new KeyStoreError('INVALID_ARGUMENT', `cannot write a ${publicKey.keyType} key as a PUBLIC KEY file`);
  }
  return encodePem({ type: 'PUBLIC KEY', headers: { role }, bytes: spki });
}

export interface KeyPairFiles {
  readonly keyId: string;
  readonly privatePath: string;
  readonly publicPath: string;
}

/** notary's `generateKeyToFile`. The key is not added to any key store. */
export async function generateKeyPairFiles(prefix: string, role: string, keyType: GeneratedKeyType,
  retriever: PassphraseRetriever, iterations?: number): Promise<KeyPairFiles> {
  checkRole(role);
  const privatePath = `${prefix}-key.pem`;
  const publicPath = `${prefix}.pem`;
  for (const p of [privatePath, publicPath]) {
    if (pathExists(p)) throw new KeyStoreError('FILE_EXISTS', `refusing to overwrite existing file ${p}`);
  }
  const key = generateKey(keyType);
  const keyId = keyIdOfPrivate(key);
  const passphrase = await chooseNewPassphrase(retriever, keyId, role);
  const privateText = writeEncryptedPrivateKeyPem(key, passphrase, { role }, iterations === undefined ? {} : { iterations });
  const spki = publicKeySpki(key);
  writeFileExclusive(privatePath, Buffer.from(privateText, 'utf8'));
  try {
    writeFileExclusive(publicPath, Buffer.from(encodePem({ type: 'PUBLIC KEY', headers: { role }, bytes: spki }), 'utf8'));
  } catch (e) {
    removeFile(privatePath);
    throw e;
  }
  return { keyId, privatePath, publicPath };
}

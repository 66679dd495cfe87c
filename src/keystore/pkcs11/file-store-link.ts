/**
 * Where the token store meets the file store (src/keystore/file-store.ts): notary's backup copy of
 * a key put on a token, and `key import` of an encrypted key file (a root backup) onto a token.
 *
 * Contract:
 * - The backup is the file store's own `add`: encrypted PKCS#8 in `private/<key ID>.key` with a
 *   new passphrase from the store's retriever, written atomically and never over an existing
 *   file, so a failed backup leaves nothing behind (the token store then removes the token copy).
 * - Import reads the first PEM block with the file store's rules (notary's passphrase attempts,
 *   alias = the role header), refuses unencrypted keys — a backup is always encrypted, and
 *   notary says `only encrypted root keys may be imported` — and needs a role (header or
 *   `--role`). The key file itself is left as it is.
 */
import type { KeyFileStore } from '../file-store.ts';
import { readKeyBlock } from '../file-store.ts';
import { isEncryptedPrivateKeyPem } from '../../crypto/private-key-pem.ts';
import { parseKeyFile } from '../key-file.ts';
import type { PassphraseRetriever } from '../passphrase.ts';
import { Pkcs11Error } from './errors.ts';
import type { AddedKey, BackupWriter, Pkcs11KeyStore } from './store.ts';

/** notary's rule: only targets, snapshot and timestamp keys belong to one GUN. */
export function keepsGun(role: string): boolean {
  return role === 'targets' || role === 'snapshot' || role === 'timestamp';
}

/** The file store as the token store's backup writer. */
export function fileStoreBackupWriter(files: KeyFileStore): BackupWriter {
  return {
    async backup(privateKey, info) {
      const stored = await files.add(privateKey, { role: info.role, ...(info.gun !== undefined && keepsGun(info.role) ? { gun: info.gun } : {}) });
      return stored.path;
    },
  };
}

export interface TokenImportOptions {
  /** The role when the block has no `role` header (`--role`). */
  readonly role?: string;
  readonly gun?: string;
  /** Also write the encrypted copy to the file store (when it is not already there). */
  readonly backup?: BackupWriter;
}

/** Decrypts the key file `text` (from `where`) and puts its key on the token. */
export async function importKeyFileToToken(token: Pkcs11KeyStore, text: string, where: string,
  retriever: PassphraseRetriever, opts: TokenImportOptions = {}): Promise<AddedKey> {
  const parsed = parseKeyFile(text, where);
  const role = parsed.role !== '' ? parsed.role : opts.role ?? '';
  if (!isEncryptedPrivateKeyPem(parsed.block)) {
    throw new Pkcs11Error('INVALID_BACKUP', role === 'root' ? 'only encrypted root keys may be imported'
      : `${where}: only encrypted keys may be imported onto a token`);
  }
  if (role === '') throw new Pkcs11Error('INVALID_BACKUP', `${where} has no role header; give the role with --role`);
  const key = await readKeyBlock(parsed, where, retriever, parsed.block.headers['path'] ?? '', role);
  const gun = parsed.gun !== '' ? parsed.gun : opts.gun;
  return token.importKey(key, { role, ...(gun !== undefined && keepsGun(role) ? { gun } : {}) }, opts.backup);
}

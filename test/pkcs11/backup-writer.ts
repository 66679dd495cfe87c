/**
 * A stand-in for the file key store's backup write in tests: notary's `private/<keyId>.key`,
 * encrypted PKCS#8 with the `role` (and `gun`) headers, written atomically.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { decodeFirstPem } from '../../src/crypto/pem.ts';
import { readPrivateKeyPem, writeEncryptedPrivateKeyPem } from '../../src/crypto/private-key-pem.ts';
import type { BackupWriter } from '../../src/keystore/pkcs11/store.ts';

export const BACKUP_PASSPHRASE = 'correct horse battery staple';

export function fileBackupWriter(trustDir: string, passphrase = BACKUP_PASSPHRASE): BackupWriter & { calls: number } {
  const writer = {
    calls: 0,
    backup(privateKey: KeyObject, info: { keyId: string; role: string; gun?: string }): Promise<string> {
      writer.calls++;
      const dir = join(trustDir, 'private');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const path = join(dir, `${info.keyId}.key`);
      const text = writeEncryptedPrivateKeyPem(privateKey, passphrase, { role: info.role, gun: info.gun });
      writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
      return Promise.resolve(path);
    },
  };
  return writer;
}

export function failingBackupWriter(message: string): BackupWriter & { calls: number } {
  const writer = {
    calls: 0,
    backup(): Promise<string> {
      writer.calls++;
      return Promise.reject(new Error(message));
    },
  };
  return writer;
}

export function readBackup(path: string, passphrase = BACKUP_PASSPHRASE): { key: KeyObject; text: string } {
  const text = readFileSync(path, 'utf8');
  return { key: readPrivateKeyPem(decodeFirstPem(text), passphrase), text };
}

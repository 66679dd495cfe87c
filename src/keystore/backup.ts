/**
 * Backup and restore of the key store as one archive: a tar.gz of `private/<id>.key` files plus a
 * manifest (`vouch-key-backup.json`: format, creation time, whether keys were re-encrypted, and
 * each key's ID, role, GUN and SHA-256). Extracting it with `tar -xzf` into a trust dir gives a
 * working notary/docker key store.
 *
 * Contract:
 * - A backup copies the key files byte for byte (still encrypted with their own passphrases), or,
 *   with a backup passphrase, holds every key re-encrypted with that one passphrase (each is
 *   unlocked first, so a backup never contains a key nobody can open). A store with an unreadable
 *   key file is not backed up. The archive is written 0600, under umask 077, atomically, never
 *   over an existing file; a failed write (a full disk) leaves nothing behind.
 * - A restore checks everything before it writes anything: the archive's shape and manifest, each
 *   file's checksum, that every key decrypts and is the key its name says. Then it writes the
 *   missing keys, all or nothing, never replacing an existing file (an existing key is reported as
 *   skipped), and reports what it restored and what it skipped.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { VouchError } from '../errors.ts';
import { packArchive, unpackArchive, type ArchiveEntry } from './archive.ts';
import { writeAllOrNothing } from './bundle.ts';
import { KeyStoreError } from './errors.ts';
import { readKeyBlock, type KeyFileStore, type KeyInfo } from './file-store.ts';
import { DIR_MODE, FILE_MODE, writeFileExclusive, type WriteChunk } from './fs-util.ts';
import { KEY_EXTENSION, PRIVATE_DIR, keyIdFromFileName, keyIdOfPrivate, parseKeyFile } from './key-file.ts';
import type { PassphraseRetriever } from './passphrase.ts';

export const BACKUP_MANIFEST = 'vouch-key-backup.json';
const FORMAT = 'vouch-key-backup';
const VERSION = 1;

export interface BackupManifestKey {
  readonly id: string;
  readonly role: string;
  readonly gun: string;
  readonly sha256: string;
}

export interface BackupManifest {
  readonly format: string;
  readonly version: number;
  readonly created: string;
  readonly reencrypted: boolean;
  readonly keys: readonly BackupManifestKey[];
}

export interface CreateBackupOptions {
  readonly now: Date;
  /** Re-encrypt every key with this passphrase instead of copying the files as they are. */
  readonly backupPassphrase?: string;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The archive bytes and manifest of the whole key store. */
export async function createBackup(store: KeyFileStore, opts: CreateBackupOptions): Promise<{ archive: Buffer; manifest: BackupManifest }> {
  const { keys, problems } = store.list();
  const [problem] = problems;
  if (problem !== undefined) {
    throw new KeyStoreError('INVALID_KEY_FILE', `cannot back up the key store: ${problem.path}: ${problem.message}; fix or remove it first`);
  }
  const files: { info: KeyInfo; bytes: Buffer }[] = [];
  for (const info of keys) {
    const bytes = opts.backupPassphrase === undefined
      ? store.readKeyFile(info.keyId)
      : await store.encryptedCopy(info.keyId, opts.backupPassphrase);
    files.push({ info, bytes });
  }
  const manifest: BackupManifest = {
    format: FORMAT, version: VERSION, created: opts.now.toISOString(), reencrypted: opts.backupPassphrase !== undefined,
    keys: files.map(({ info, bytes }) => ({ id: info.keyId, role: info.role, gun: info.gun, sha256: sha256(bytes) })),
  };
  const entries: ArchiveEntry[] = [
    { path: BACKUP_MANIFEST, type: 'File', mode: FILE_MODE, data: Buffer.from(JSON.stringify(manifest, null, 2) + '\n') },
    { path: PRIVATE_DIR, type: 'Directory', mode: DIR_MODE },
    ...files.map(({ info, bytes }) => ({ path: `${PRIVATE_DIR}/${info.keyId}${KEY_EXTENSION}`, type: 'File' as const, mode: FILE_MODE, data: bytes })),
  ];
  return { archive: packArchive(entries, opts.now), manifest };
}

/** Writes an archive to a new file: 0600 under umask 077, atomic, never over an existing file. */
export function writeBackupFile(path: string, archive: Uint8Array, opts: { write?: WriteChunk } = {}): void {
  let previous: number | undefined;
  try {
    previous = process.umask(0o077);
  } catch {
    // Worker threads cannot change the umask; the file is created 0600 explicitly anyway.
  }
  try {
    writeFileExclusive(path, archive, { mode: FILE_MODE, existsCode: 'FILE_EXISTS', ...(opts.write ? { write: opts.write } : {}) });
  } finally {
    if (previous !== undefined) process.umask(previous);
  }
}

export interface RestoreResult {
  readonly manifest: BackupManifest;
  readonly restored: readonly KeyInfo[];
  readonly skipped: readonly { readonly keyId: string; readonly reason: string }[];
}

export interface RestoreOptions {
  /** Name of the archive in messages. */
  readonly name: string;
  /** Unlocks keys of a plain backup (each with its own passphrase; alias = role). */
  readonly retriever: PassphraseRetriever;
  /** Unlocks keys of a re-encrypted backup (one backup passphrase). */
  readonly backupRetriever?: PassphraseRetriever;
}

export async function restoreBackup(store: KeyFileStore, archive: Uint8Array, opts: RestoreOptions): Promise<RestoreResult> {
  const { manifest, files } = readBackup(archive, opts.name);
  const retriever = manifest.reencrypted ? opts.backupRetriever : opts.retriever;
  if (retriever === undefined) throw new KeyStoreError('INVALID_ARGUMENT', 'this backup needs its backup passphrase');
  const failures: string[] = [];
  for (const entry of manifest.keys) {
    const where = `${opts.name}: ${PRIVATE_DIR}/${entry.id}${KEY_EXTENSION}`;
    try {
      const parsed = parseKeyFile(Buffer.from(files.get(entry.id) ?? new Uint8Array()).toString('utf8'), where);
      if (parsed.role !== entry.role || parsed.gun !== entry.gun) throw new KeyStoreError('INVALID_BACKUP', 'headers differ from the manifest');
      const key = await readKeyBlock(parsed, where, retriever, entry.id, manifest.reencrypted ? 'backup' : parsed.role);
      const actual = keyIdOfPrivate(key);
      if (actual !== entry.id) throw new KeyStoreError('KEY_ID_MISMATCH', `holds key ${actual}, not ${entry.id}`);
    } catch (e) {
      if (e instanceof VouchError && e.code === 'NO_PASSPHRASE_INPUT') throw e;
      const message = e instanceof Error ? e.message : String(e);
      failures.push(message.startsWith(`${where}: `) ? message : `${where}: ${message}`);
    }
  }
  if (failures.length > 0) {
    throw new KeyStoreError('INVALID_BACKUP', `backup cannot be restored, nothing was written: ${failures.join('; ')}`);
  }
  const skipped: { keyId: string; reason: string }[] = [];
  const toWrite: { keyId: string; bytes: Uint8Array }[] = [];
  for (const entry of manifest.keys) {
    const bytes = files.get(entry.id) ?? new Uint8Array();
    if (!store.has(entry.id)) {
      toWrite.push({ keyId: entry.id, bytes });
    } else if (store.readKeyFile(entry.id).equals(bytes)) {
      skipped.push({ keyId: entry.id, reason: 'already in the key store (identical file)' });
    } else {
      skipped.push({ keyId: entry.id, reason: 'a different file for this key is already in the key store; it was kept' });
    }
  }
  writeAllOrNothing(store, toWrite);
  return { manifest, restored: toWrite.map((w) => store.get(w.keyId)), skipped };
}

/** Parses and checks an archive: exactly a manifest, `private/`, and the key files it lists. */
export function readBackup(archive: Uint8Array, name: string): { manifest: BackupManifest; files: Map<string, Uint8Array> } {
  const entries = unpackArchive(archive);
  const files = new Map<string, Uint8Array>();
  let manifestBytes: Uint8Array | undefined;
  for (const e of entries) {
    if (e.type === 'Directory' && e.path === PRIVATE_DIR) continue;
    if (e.type === 'File' && e.path === BACKUP_MANIFEST) {
      manifestBytes = e.data;
      continue;
    }
    const id = e.type === 'File' && posix.dirname(e.path) === PRIVATE_DIR ? keyIdFromFileName(posix.basename(e.path)) : undefined;
    if (id === undefined) throw new KeyStoreError('INVALID_BACKUP', `${name}: unexpected archive entry ${JSON.stringify(e.path)}`);
    files.set(id, e.data ?? new Uint8Array());
  }
  if (manifestBytes === undefined) throw new KeyStoreError('INVALID_BACKUP', `${name}: not a Vouch key backup (no ${BACKUP_MANIFEST})`);
  const manifest = parseManifest(manifestBytes, name);
  const listed = new Set(manifest.keys.map((k) => k.id));
  for (const id of files.keys()) {
    if (!listed.has(id)) throw new KeyStoreError('INVALID_BACKUP', `${name}: key file ${id} is not in the manifest`);
  }
  for (const k of manifest.keys) {
    const data = files.get(k.id);
    if (data === undefined) throw new KeyStoreError('INVALID_BACKUP', `${name}: key file ${k.id} is missing`);
    if (sha256(data) !== k.sha256) throw new KeyStoreError('INVALID_BACKUP', `${name}: key file ${k.id} is damaged (checksum mismatch)`);
  }
  return { manifest, files };
}

function parseManifest(bytes: Uint8Array, name: string): BackupManifest {
  const bad = (why: string): KeyStoreError => new KeyStoreError('INVALID_BACKUP', `${name}: invalid ${BACKUP_MANIFEST}: ${why}`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
  const m = value as Partial<Record<keyof BackupManifest, unknown>> | null;
  if (m === null || typeof m !== 'object' || m.format !== FORMAT) throw bad('not a Vouch key backup');
  if (m.version !== VERSION) throw bad(`unsupported version ${String(m.version)}`);
  if (typeof m.created !== 'string' || typeof m.reencrypted !== 'boolean' || !Array.isArray(m.keys)) throw bad('missing fields');
  const ids = new Set<string>();
  const keys = (m.keys as unknown[]).map((k): BackupManifestKey => {
    const e = k as Partial<Record<keyof BackupManifestKey, unknown>> | null;
    if (e === null || typeof e !== 'object' || typeof e.id !== 'string' || keyIdFromFileName(e.id + KEY_EXTENSION) === undefined
      || typeof e.role !== 'string' || typeof e.gun !== 'string' || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) {
      throw bad('malformed key entry');
    }
    if (ids.has(e.id)) throw bad(`key ${e.id} is listed twice`);
    ids.add(e.id);
    return { id: e.id, role: e.role, gun: e.gun, sha256: e.sha256 };
  });
  return { format: FORMAT, version: VERSION, created: m.created, reencrypted: m.reencrypted, keys };
}

/**
 * Key export bundles and key import (docs/formats.md §10.6), and docker's `trust key load`.
 *
 * Export writes each stored PEM block, still encrypted, with an added `path: <key ID>` header —
 * byte-compatible with `notary key export`. Import follows `notary key import` (legacy `path`
 * headers, `--role`/`--gun` fallbacks, role `delegation` by default, a GUN only on targets,
 * snapshot and timestamp keys, unencrypted keys re-encrypted with a new passphrase) with Vouch's
 * stricter contract:
 * - every block is checked before anything is written: encrypted blocks are decrypted (with the
 *   retriever, alias = role) to prove they hold the key their `path` names; any failure aborts the
 *   whole import with `failed to import all keys: …` and the store is unchanged;
 * - an existing key file is never replaced: the block is reported as skipped;
 * - a write failure removes the files this import already wrote.
 */
import type { KeyObject } from 'node:crypto';
import { posix } from 'node:path';
import { VouchError } from '../errors.ts';
import { decodePemBlocks, encodePem, type PemBlock } from '../crypto/pem.ts';
import { isEncryptedPrivateKeyPem, writeEncryptedPrivateKeyPem } from '../crypto/private-key-pem.ts';
import { KeyStoreError } from './errors.ts';
import { readKeyBlock, type KeyFileStore, type KeyInfo } from './file-store.ts';
import { removeFile } from './fs-util.ts';
import { KEY_ID_PATTERN, isPrivateKeyBlock, keyIdOfPrivate, storedHeaders } from './key-file.ts';
import { chooseNewPassphrase, type PassphraseRetriever } from './passphrase.ts';

export interface ExportFilter {
  readonly keyIds?: readonly string[];
  readonly guns?: readonly string[];
}

/** The export bundle text. Keys in file-name order; every selected key must be readable. */
export function exportKeys(store: KeyFileStore, filter: ExportFilter = {}): string {
  const ids = filter.keyIds ?? [];
  const guns = filter.guns ?? [];
  if (ids.length > 0 && guns.length > 0) {
    throw new KeyStoreError('INVALID_ARGUMENT', 'Only the --gun or --key flag may be provided, not a mix of the two flags');
  }
  for (const id of ids) store.get(id);
  const { keys, problems } = store.list();
  if (ids.length === 0 && problems.length > 0) {
    const [first] = problems;
    throw new KeyStoreError('INVALID_KEY_FILE', `cannot export ${first?.path ?? ''}: ${first?.message ?? ''}`);
  }
  let out = '';
  for (const info of keys) {
    if (ids.length > 0 && !ids.includes(info.keyId)) continue;
    if (guns.length > 0 && !guns.includes(info.gun)) continue;
    for (const block of decodePemBlocks(store.readKeyFile(info.keyId).toString('utf8'))) {
      out += encodePem({ type: block.type, headers: { ...block.headers, path: info.keyId }, bytes: block.bytes });
    }
  }
  return out;
}

export interface ImportOptions {
  /** Role for blocks without a `role` header (notary's default: `delegation`). */
  readonly role?: string;
  /** GUN for blocks without a `gun` header. */
  readonly gun?: string;
}

export interface ImportSource {
  /** Names the input in messages (a file path). */
  readonly name: string;
  readonly text: string;
}

export interface ImportResult {
  readonly imported: readonly KeyInfo[];
  readonly skipped: readonly { readonly keyId: string; readonly reason: string }[];
}

interface PlannedKey {
  readonly keyId: string;
  readonly role: string;
  readonly gun: string;
  /** Final file bytes for a block that stays as it was encrypted. */
  readonly bytes?: Buffer;
  /** A key that arrived unencrypted and still needs a passphrase. */
  readonly key?: KeyObject;
}

export async function importKeys(store: KeyFileStore, sources: readonly ImportSource[], opts: ImportOptions,
  retriever: PassphraseRetriever): Promise<ImportResult> {
  const planned: PlannedKey[] = [];
  const failures: string[] = [];
  for (const source of sources) {
    let blocks: PemBlock[];
    try {
      blocks = decodePemBlocks(source.text);
    } catch (e) {
      failures.push(`${source.name}: ${messageOf(e)}`);
      continue;
    }
    if (blocks.length === 0) failures.push(`${source.name}: no PEM block found`);
    for (const [i, block] of blocks.entries()) {
      const where = blocks.length > 1 ? `${source.name} (block ${i + 1})` : source.name;
      try {
        planned.push(await planBlock(block, where, opts, retriever));
      } catch (e) {
        if (e instanceof VouchError && e.code === 'NO_PASSPHRASE_INPUT') throw e;
        const message = messageOf(e);
        failures.push(message.startsWith(`${where}: `) ? message : `${where}: ${message}`);
      }
    }
  }
  if (failures.length > 0) throw new KeyStoreError('IMPORT_FAILED', `failed to import all keys: ${failures.join(', ')}`);
  return writePlanned(store, planned, retriever);
}

async function planBlock(original: PemBlock, where: string, opts: ImportOptions,
  retriever: PassphraseRetriever): Promise<PlannedKey> {
  const headers: Record<string, string> = { ...original.headers };
  handleLegacyPath(headers);
  if ((headers['gun'] ?? '') === '' && opts.gun !== undefined && opts.gun !== '') headers['gun'] = opts.gun;
  if ((headers['role'] ?? '') === '') headers['role'] = opts.role !== undefined && opts.role !== '' ? opts.role : 'delegation';
  const role = headers['role'] ?? 'delegation';
  if ((role === 'targets' || role === 'snapshot' || role === 'timestamp') && (headers['gun'] ?? '') === '') {
    throw new KeyStoreError('IMPORT_FAILED', `invalid key pem block (a ${role} key needs a GUN: use --gun)`);
  }
  if (!isPrivateKeyBlock(original)) {
    throw new KeyStoreError('IMPORT_FAILED', `invalid key pem block (${JSON.stringify(original.type)} is not a private key)`);
  }
  const stored = storedHeaders(role, headers['gun']);
  if (stored.gun === '') delete headers['gun'];
  const path = headers['path'];
  delete headers['path'];
  const block: PemBlock = { type: original.type, headers, bytes: original.bytes };
  const encrypted = isEncryptedPrivateKeyPem(block);
  if (path !== undefined && !KEY_ID_PATTERN.test(path)) {
    throw new KeyStoreError('IMPORT_FAILED', `invalid key pem block (path header ${JSON.stringify(path)} is not a key ID)`);
  }
  if (encrypted && path === undefined) {
    // notary cannot tell which ID to file an encrypted block under without it.
    throw new KeyStoreError('IMPORT_FAILED', 'invalid key pem block (an encrypted key needs a path header naming its key ID)');
  }
  const key = await readKeyBlock({ block, role: stored.role, gun: stored.gun }, where, retriever, path ?? '');
  const keyId = keyIdOfPrivate(key);
  if (path !== undefined && path !== keyId) {
    throw new KeyStoreError('KEY_ID_MISMATCH', `path header names key ${path}, but the block holds key ${keyId}`);
  }
  if (encrypted) return { keyId, ...stored, bytes: Buffer.from(encodePem(block), 'utf8') };
  return { keyId, ...stored, key };
}

/** notary's `handleLegacyPath`, plus the `<id>_<role>` file names of 0.1–0.3 exports. */
function handleLegacyPath(headers: Record<string, string>): void {
  const raw = headers['path'];
  if (raw === undefined || raw === '') {
    delete headers['path'];
    return;
  }
  const base = posix.basename(raw);
  if (raw !== base) {
    const dir = posix.dirname(raw);
    if (dir.startsWith('tuf_keys')) {
      const gun = dir.slice('tuf_keys'.length).replace(/^\/+|\/+$/g, '');
      if (gun !== '') headers['gun'] = gun;
    }
  }
  const legacy = /^([0-9a-f]{64})_(.+)$/.exec(base);
  if (legacy !== null) {
    headers['path'] = legacy[1] ?? base;
    if ((headers['role'] ?? '') === '') headers['role'] = legacy[2] ?? '';
  } else {
    headers['path'] = base;
  }
}

async function writePlanned(store: KeyFileStore, planned: readonly PlannedKey[],
  retriever: PassphraseRetriever): Promise<ImportResult> {
  const skipped: { keyId: string; reason: string }[] = [];
  const toWrite: { keyId: string; bytes: Buffer }[] = [];
  const seen = new Set<string>();
  for (const p of planned) {
    if (seen.has(p.keyId)) {
      skipped.push({ keyId: p.keyId, reason: 'appears more than once in the input' });
      continue;
    }
    seen.add(p.keyId);
    if (store.has(p.keyId)) {
      skipped.push({ keyId: p.keyId, reason: 'already in the key store; the existing file was kept' });
      continue;
    }
    let bytes = p.bytes;
    if (bytes === undefined && p.key !== undefined) {
      const passphrase = await chooseNewPassphrase(retriever, p.keyId, p.role);
      bytes = Buffer.from(writeEncryptedPrivateKeyPem(p.key, passphrase, { role: p.role, gun: p.gun },
        { iterations: store.iterations }), 'utf8');
    }
    if (bytes !== undefined) toWrite.push({ keyId: p.keyId, bytes });
  }
  writeAllOrNothing(store, toWrite);
  return { imported: toWrite.map((w) => store.get(w.keyId)), skipped };
}

/** Writes every file, or none: a failure removes the ones already written. */
export function writeAllOrNothing(store: KeyFileStore, files: readonly { keyId: string; bytes: Uint8Array }[]): void {
  const written: string[] = [];
  try {
    for (const f of files) {
      store.writeNew(f.keyId, f.bytes);
      written.push(store.keyPath(f.keyId));
    }
  } catch (e) {
    for (const path of written) {
      try {
        removeFile(path);
      } catch {
        // Reported below with the original failure.
      }
    }
    throw e;
  }
}

/**
 * docker's `trust key load`: one private key file (encrypted or not), stored under role `name`
 * with a new passphrase. Messages are docker's.
 */
export async function loadPrivateKeyFile(store: KeyFileStore, text: string, displayPath: string, name: string,
  retriever: PassphraseRetriever): Promise<KeyInfo> {
  let block: PemBlock | undefined;
  try {
    block = decodePemBlocks(text)[0];
  } catch {
    block = undefined;
  }
  if (block === undefined || !isPrivateKeyBlock(block)) {
    throw new KeyStoreError('INVALID_KEY_FILE',
      `provided file ${displayPath} is not a supported private key - to add a signer's public key use docker trust signer add`);
  }
  let key: KeyObject;
  try {
    key = await readKeyBlock({ block, role: name, gun: '' }, displayPath, retriever, '', 'encrypted');
  } catch (e) {
    if (e instanceof VouchError && e.code === 'NO_PASSPHRASE_INPUT') throw e;
    const reason = e instanceof VouchError && e.code === 'INVALID_KEY_FILE' ? messageOf(e) : 'could not decrypt key';
    throw new KeyStoreError('INVALID_KEY_FILE', `cannot load key from provided file ${displayPath}: ${reason}`, { cause: e });
  }
  return store.add(key, { role: name });
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

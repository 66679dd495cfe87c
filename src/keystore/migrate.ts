/**
 * Migration of the notary 0.1–0.3 key layouts to the flat 0.4+ one, as notary does when it opens a
 * key store (storage/filestore.go `migrateTo0Dot4`, docs/formats.md §10.1):
 * `private/root_keys/<id>[_<role>].key` and `private/tuf_keys/[<gun>/]<id>[_<role>].key` become
 * `private/<id>.key`, with a `gun` header from the directory and a `role` header from the `_<role>`
 * suffix; `private/trusted_certificates` is deleted.
 *
 * Contract (safer than notary, same result on good input): each file is written atomically and
 * never over an existing different file; a legacy file is deleted only once its migrated copy is
 * on disk (an identical copy from an interrupted run counts); a file that cannot be migrated is
 * kept where it is and reported, and its directory stays. Running it twice is harmless.
 */
import { readdirSync, rmSync, rmdirSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { encodePem, decodePemBlocks } from '../crypto/pem.ts';
import { describeIoError, KeyStoreError } from './errors.ts';
import { pathExists, readFileCapped, removeFile, writeFileExclusive } from './fs-util.ts';
import { KEY_EXTENSION, KEY_ID_PATTERN, MAX_KEY_FILE_BYTES, isPrivateKeyBlock } from './key-file.ts';

export const LEGACY_KEY_DIRS = ['root_keys', 'tuf_keys'] as const;
const LEGACY_CERTS_DIR = 'trusted_certificates';

export interface MigrationProblem {
  readonly path: string;
  readonly message: string;
}

export interface MigrationReport {
  /** Legacy files moved (or found already moved), with the key ID they now live under. */
  readonly migrated: readonly { readonly from: string; readonly keyId: string }[];
  readonly problems: readonly MigrationProblem[];
}

/** True when `privateDir` still holds a legacy layout. */
export function hasLegacyLayout(privateDir: string): boolean {
  return [...LEGACY_KEY_DIRS, LEGACY_CERTS_DIR].some((d) => pathExists(join(privateDir, d)));
}

export function migrateLegacyLayout(privateDir: string): MigrationReport {
  const migrated: { from: string; keyId: string }[] = [];
  const problems: MigrationProblem[] = [];
  for (const sub of LEGACY_KEY_DIRS) {
    const legacyDir = join(privateDir, sub);
    if (!pathExists(legacyDir)) continue;
    for (const file of listKeyFiles(legacyDir, problems)) {
      const rel = relative(legacyDir, file).split(sep).join(posix.sep);
      try {
        migrated.push({ from: file, keyId: migrateOne(privateDir, file, rel) });
      } catch (e) {
        problems.push({ path: file, message: e instanceof Error ? e.message : String(e) });
      }
    }
    removeEmptyDirs(legacyDir);
  }
  const certs = join(privateDir, LEGACY_CERTS_DIR);
  if (pathExists(certs)) {
    try {
      rmSync(certs, { recursive: true, force: true });
    } catch (e) {
      problems.push({ path: certs, message: `cannot remove: ${describeIoError(e)}` });
    }
  }
  return { migrated, problems };
}

/** Moves one legacy file; returns its key ID. `rel` is the path below root_keys/ or tuf_keys/. */
function migrateOne(privateDir: string, file: string, rel: string): string {
  const text = readFileCapped(file, MAX_KEY_FILE_BYTES).toString('utf8');
  const block = decodePemBlocks(text)[0];
  if (block === undefined || !isPrivateKeyBlock(block)) {
    throw new KeyStoreError('INVALID_KEY_FILE', 'not a private key PEM file; left in place');
  }
  const headers: Record<string, string> = { ...block.headers };
  const dir = posix.dirname(rel);
  if (dir !== '.') headers['gun'] = dir;
  let name = posix.basename(rel, KEY_EXTENSION);
  const underscore = name.indexOf('_');
  if (underscore >= 0) {
    headers['role'] = name.slice(underscore + 1);
    name = name.slice(0, underscore);
  }
  if (!KEY_ID_PATTERN.test(name)) throw new KeyStoreError('INVALID_KEY_FILE', 'file name is not a key ID; left in place');
  const target = join(privateDir, name + KEY_EXTENSION);
  const bytes = Buffer.from(encodePem({ type: block.type, headers, bytes: block.bytes }), 'utf8');
  if (pathExists(target)) {
    if (!readFileCapped(target, MAX_KEY_FILE_BYTES).equals(bytes)) {
      throw new KeyStoreError('KEY_EXISTS', `${target} already exists with different contents; left in place`);
    }
  } else {
    writeFileExclusive(target, bytes, { existsCode: 'KEY_EXISTS' });
  }
  removeFile(file);
  return name;
}

function listKeyFiles(dir: string, problems: MigrationProblem[]): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    problems.push({ path: dir, message: `cannot read: ${describeIoError(e)}` });
    return out;
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const p = join(dir, e.name);
    // Symlinks are skipped, as notary's walk does.
    if (e.isDirectory()) out.push(...listKeyFiles(p, problems));
    else if (e.isFile() && e.name.endsWith(KEY_EXTENSION)) out.push(p);
  }
  return out;
}

/** Removes `dir` and its subdirectories where they are empty, bottom-up. */
function removeEmptyDirs(dir: string): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) removeEmptyDirs(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // Not empty: something there could not be migrated and was reported.
  }
}

/**
 * A small, strict tar.gz codec for key backups, built on the `tar` package's header codec.
 *
 * Writing produces a plain ustar archive (`tar -tzf` lists it) of directories and regular files
 * with the modes given (0700 / 0600 for key backups), owner 0, and one fixed mtime, so the same
 * input gives the same bytes. Reading accepts only what a backup can contain: regular files and
 * directories with short, relative, normalized names, each at most once, within size caps; links,
 * devices, PAX/long-name extensions, `..` and absolute paths are refused with `INVALID_BACKUP`.
 */
import { createRequire } from 'node:module';
import { posix } from 'node:path';
import type * as TarHeader from 'tar/header';
import { KeyStoreError } from './errors.ts';

let tarHeader: typeof TarHeader | undefined;

/** tar's header codec, loaded on first use (only backup, export and import need it). */
function headerClass(): typeof TarHeader.Header {
  tarHeader ??= createRequire(import.meta.url)('tar/header') as typeof TarHeader;
  return tarHeader.Header;
}

const BLOCK = 512;
/** A key store of thousands of keys is still far below this. */
export const MAX_ARCHIVE_BYTES = 64 * 1024 * 1024;
export const MAX_ARCHIVE_ENTRIES = 10_000;

export interface ArchiveEntry {
  readonly path: string;
  readonly type: 'File' | 'Directory';
  readonly mode: number;
  /** For files. */
  readonly data?: Uint8Array;
}

function invalid(message: string): KeyStoreError {
  return new KeyStoreError('INVALID_BACKUP', message);
}

// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f\\]/;

function checkPath(path: string): void {
  const bare = path.endsWith('/') ? path.slice(0, -1) : path;
  if (bare === '' || bare.startsWith('/') || posix.normalize(bare) !== bare || bare.split('/').includes('..')
    || Buffer.byteLength(path) > 99 || UNSAFE_CHARS.test(path)) {
    throw invalid(`archive entry has an unsafe name: ${JSON.stringify(path)}`);
  }
}

/** gzip of a ustar archive of `entries`, in order. */
export function packArchive(entries: readonly ArchiveEntry[], mtime: Date): Buffer {
  const seconds = new Date(Math.floor(mtime.getTime() / 1000) * 1000);
  const parts: Buffer[] = [];
  for (const e of entries) {
    checkPath(e.path);
    const data = e.type === 'File' ? Buffer.from(e.data ?? new Uint8Array()) : Buffer.alloc(0);
    const header = new (headerClass())({
      path: e.path, mode: e.mode, uid: 0, gid: 0, size: data.length, mtime: seconds, type: e.type, uname: '', gname: '',
    });
    const block = Buffer.alloc(BLOCK);
    if (header.encode(block, 0)) throw invalid(`archive entry needs a PAX header: ${e.path}`);
    parts.push(block, data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return process.getBuiltinModule('node:zlib').gzipSync(Buffer.concat(parts), { level: 9 });
}

/** Reads an archive written by `packArchive` (or an equivalent `tar -czf`). */
export function unpackArchive(gz: Uint8Array): ArchiveEntry[] {
  if (gz.length > MAX_ARCHIVE_BYTES) throw invalid(`archive is larger than ${MAX_ARCHIVE_BYTES} bytes`);
  let tar: Buffer;
  try {
    tar = process.getBuiltinModule('node:zlib').gunzipSync(gz, { maxOutputLength: MAX_ARCHIVE_BYTES });
  } catch (e) {
    throw new KeyStoreError('INVALID_BACKUP', `not a readable gzip archive: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const entries: ArchiveEntry[] = [];
  const seen = new Set<string>();
  let off = 0;
  while (true) {
    if (off + BLOCK > tar.length) throw invalid('archive is truncated (no end-of-archive marker)');
    const header = new (headerClass())(tar, off);
    if (header.nullBlock) break;
    if (!header.cksumValid) throw invalid(`archive header at byte ${off} has a bad checksum`);
    const path = header.path ?? '';
    checkPath(path);
    const type = header.type;
    if (type !== 'File' && type !== 'OldFile' && type !== 'Directory') {
      throw invalid(`archive entry ${JSON.stringify(path)} is a ${type}, not a file or directory`);
    }
    const size = header.size ?? 0;
    const start = off + BLOCK;
    if (!Number.isSafeInteger(size) || size < 0 || start + size > tar.length) throw invalid(`archive entry ${JSON.stringify(path)} is truncated`);
    const key = path.endsWith('/') ? path.slice(0, -1) : path;
    if (seen.has(key)) throw invalid(`archive entry ${JSON.stringify(path)} appears twice`);
    seen.add(key);
    if (entries.length >= MAX_ARCHIVE_ENTRIES) throw invalid(`archive has more than ${MAX_ARCHIVE_ENTRIES} entries`);
    entries.push(type === 'Directory'
      ? { path: key, type: 'Directory', mode: header.mode ?? 0 }
      : { path: key, type: 'File', mode: header.mode ?? 0, data: new Uint8Array(tar.subarray(start, start + size)) });
    off = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return entries;
}

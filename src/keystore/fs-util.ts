/**
 * The file operations the key store is built on: owner-only directories (0700) and files (0600),
 * capped reads, and atomic writes (temporary file, fsync, then link or rename, then fsync of the
 * directory), so a crash or a full disk never leaves a half-written key file behind.
 *
 * Contract: every failure is a `KeyStoreError` naming the path and the cause in plain words
 * (`WRITE_FAILED`, `STORE_UNREADABLE`, `KEY_EXISTS`/`FILE_EXISTS` for a refused overwrite); a
 * failed write removes its temporary file. `writeFileExclusive` never replaces an existing file,
 * even when another process creates it concurrently (it publishes with `link`, which fails on an
 * existing name).
 */
import {
  closeSync, fstatSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { KeyStoreError, describeIoError, isNodeError } from './errors.ts';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** Hook for tests: replaces `writeSync` so a failing disk can be simulated without one. */
export type WriteChunk = (fd: number, bytes: Uint8Array) => void;

const defaultWrite: WriteChunk = (fd, bytes) => {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
};

/** Creates `dir` (and parents) with mode 0700 where missing; existing directories are left as they are. */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  } catch (e) {
    throw new KeyStoreError('WRITE_FAILED', `cannot create directory ${dir}: ${describeIoError(e)}`, { cause: e });
  }
}

/** Reads a regular file of at most `maxBytes`; symlinks and special files are refused. */
export function readFileCapped(path: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    const st = lstatSync(path);
    if (!st.isFile()) throw new KeyStoreError('INVALID_KEY_FILE', `${path} is not a regular file`);
    fd = openSync(path, 'r');
  } catch (e) {
    if (e instanceof KeyStoreError) throw e;
    throw new KeyStoreError('STORE_UNREADABLE', `cannot read ${path}: ${describeIoError(e)}`, { cause: e });
  }
  try {
    const size = fstatSync(fd).size;
    if (size > maxBytes) throw new KeyStoreError('INVALID_KEY_FILE', `${path} is larger than ${maxBytes} bytes`);
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } catch (e) {
    if (e instanceof KeyStoreError) throw e;
    throw new KeyStoreError('STORE_UNREADABLE', `cannot read ${path}: ${describeIoError(e)}`, { cause: e });
  } finally {
    closeSync(fd);
  }
}

/** True when `path` exists (as anything, including a dangling symlink). */
export function pathExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (e) {
    // Nothing can exist below a file either.
    if (isNodeError(e, 'ENOENT') || isNodeError(e, 'ENOTDIR')) return false;
    throw new KeyStoreError('STORE_UNREADABLE', `cannot read ${path}: ${describeIoError(e)}`, { cause: e });
  }
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the data itself is already synced.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Writes `bytes` to a fresh temporary file next to `path`, synced; returns its name. */
function writeTemp(path: string, bytes: Uint8Array, mode: number, write: WriteChunk): string {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', mode);
    write(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    return tmp;
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    removeQuietly(tmp);
    throw new KeyStoreError('WRITE_FAILED', `cannot write ${path}: ${describeIoError(e)}`, { cause: e });
  }
}

export interface WriteOptions {
  readonly mode?: number;
  /** The error code for an existing file: `KEY_EXISTS` in the key store, `FILE_EXISTS` elsewhere. */
  readonly existsCode?: 'KEY_EXISTS' | 'FILE_EXISTS';
  readonly write?: WriteChunk;
}

/** Atomically creates `path` with `bytes`; refuses (and changes nothing) if it already exists. */
export function writeFileExclusive(path: string, bytes: Uint8Array, opts: WriteOptions = {}): void {
  const code = opts.existsCode ?? 'FILE_EXISTS';
  if (pathExists(path)) throw new KeyStoreError(code, `refusing to overwrite existing file ${path}`);
  const tmp = writeTemp(path, bytes, opts.mode ?? FILE_MODE, opts.write ?? defaultWrite);
  try {
    linkSync(tmp, path);
  } catch (e) {
    if (isNodeError(e, 'EEXIST')) {
      removeQuietly(tmp);
      throw new KeyStoreError(code, `refusing to overwrite existing file ${path}`, { cause: e });
    }
    if (!isNodeError(e, 'EPERM') && !isNodeError(e, 'ENOTSUP') && !isNodeError(e, 'EOPNOTSUPP')) {
      removeQuietly(tmp);
      throw new KeyStoreError('WRITE_FAILED', `cannot write ${path}: ${describeIoError(e)}`, { cause: e });
    }
    // No hard links here (some network and FUSE file systems): rename, after the check above.
    renameInto(tmp, path);
    fsyncDir(dirname(path));
    return;
  }
  removeQuietly(tmp);
  fsyncDir(dirname(path));
}

/** Atomically replaces (or creates) `path` with `bytes`. */
export function replaceFileAtomic(path: string, bytes: Uint8Array, opts: WriteOptions = {}): void {
  const tmp = writeTemp(path, bytes, opts.mode ?? FILE_MODE, opts.write ?? defaultWrite);
  renameInto(tmp, path);
  fsyncDir(dirname(path));
}

function renameInto(tmp: string, path: string): void {
  try {
    renameSync(tmp, path);
  } catch (e) {
    removeQuietly(tmp);
    throw new KeyStoreError('WRITE_FAILED', `cannot write ${path}: ${describeIoError(e)}`, { cause: e });
  }
}

/** Removes a file; a missing file is not an error (notary's `RemoveAll`). */
export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if (isNodeError(e, 'ENOENT')) return;
    throw new KeyStoreError('WRITE_FAILED', `cannot remove ${path}: ${describeIoError(e)}`, { cause: e });
  }
  fsyncDir(dirname(path));
}

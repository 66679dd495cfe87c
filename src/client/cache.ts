/**
 * The client's trust directory layout for one GUN (docs/formats.md §10.1) and its metadata cache.
 *
 * Contract:
 * - `<trust>/tuf/<gun>/metadata/<role>.json` holds the exact bytes of verified (or self-signed)
 *   metadata; delegations live in sub-directories (`targets/releases.json`).
 * - Writes are atomic (temp file + rename in the same directory): a crash never leaves a half
 *   file that would then fail verification. Directories are 0700, files 0600.
 * - GUNs and role names are checked before they become paths: no `.`/`..`/empty segments, no
 *   absolute paths, so nothing escapes the trust directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isValidRoleName } from '../tuf/roles.ts';
import { ClientError, ioReason, isErrno } from './errors.ts';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/** `<trust>/tuf/<gun>`; refuses a GUN that would not stay inside the trust directory. */
export function gunDir(trustDir: string, gun: string): string {
  const segments = gun.split('/');
  if (gun === '' || segments.some((s) => s === '' || s === '.' || s === '..') || gun.includes('\\') || gun.includes('\0')) {
    throw new ClientError('INVALID_INPUT', `the GUN ${JSON.stringify(gun)} cannot be stored in a trust directory`);
  }
  return join(trustDir, 'tuf', ...segments);
}

/** Writes `bytes` to `file` atomically (0600), creating parent directories (0700). */
export async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: DIR_MODE });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, bytes, { mode: FILE_MODE });
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

export class MetadataCache {
  readonly dir: string;

  constructor(gunDirectory: string) {
    this.dir = join(gunDirectory, 'metadata');
  }

  private file(role: string): string {
    if (!isValidRoleName(role)) throw new ClientError('INVALID_INPUT', `tuf: invalid role ${role}. not a valid role name`);
    return join(this.dir, ...`${role}.json`.split('/'));
  }

  /**
   * The cached bytes of `role`, or undefined when there are none. A file larger than `maxBytes`
   * is treated as absent (it cannot be the file the parent recorded).
   */
  async read(role: string, maxBytes?: number): Promise<Uint8Array | undefined> {
    const file = this.file(role);
    try {
      if (maxBytes !== undefined) {
        const st = await stat(file);
        if (st.size > maxBytes) return undefined;
      }
      return new Uint8Array(await readFile(file));
    } catch (e) {
      if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return undefined;
      throw new ClientError('LOCAL_IO', `could not read cached ${role} metadata ${file}: ${ioReason(e)}`, { cause: e });
    }
  }

  async write(role: string, bytes: Uint8Array): Promise<void> {
    const file = this.file(role);
    try {
      await writeFileAtomic(file, bytes);
    } catch (e) {
      throw new ClientError('LOCAL_IO', `could not write cached ${role} metadata ${file}: ${ioReason(e)}`, { cause: e });
    }
  }

  async remove(role: string): Promise<void> {
    await rm(this.file(role), { force: true });
  }

  /** Drops every cached file of the GUN (a new repository replaces the old one). */
  async clear(): Promise<void> {
    try {
      await rm(this.dir, { recursive: true, force: true });
    } catch (e) {
      throw new ClientError('LOCAL_IO', `could not remove cached metadata ${this.dir}: ${ioReason(e)}`, { cause: e });
    }
  }

  /** True when at least a root is cached (the repository exists locally). */
  async hasRoot(): Promise<boolean> {
    try {
      const fh = await open(this.file('root'), 'r');
      await fh.close();
      return true;
    } catch {
      return false;
    }
  }
}

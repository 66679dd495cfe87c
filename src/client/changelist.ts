/**
 * notary's changelist directory (docs/formats.md §10.4): one JSON file per staged change,
 * `<trust>/tuf/<gun>/changelist/<%020d unix-nanos>_<uuid>.change`, applied in file-name order.
 *
 * Contract:
 * - Files are written exactly as notary's Go `encoding/json` writes a `TUFChange` (member order
 *   `action, role, type, path, data`, `data` = base64 of the inner JSON or `null`, HTML-unsafe
 *   characters escaped), so the real notary client publishes changes Vouch staged and vice versa.
 * - Writes are atomic (a dot-prefixed temp file renamed into place); Vouch lists only `*.change`.
 * - A file that cannot be read is an error naming the file (notary skips it with a warning, which
 *   would publish a subset of what the user staged).
 * - Translating a file into a typed `Change` (changes.ts) is separate from reading it, so `status`
 *   can show changes that a publish would refuse.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { htmlEscape } from '../tuf/canonical.ts';
import { ClientError, ioReason, isErrno } from './errors.ts';

/** One change file, as notary's `TUFChange`. */
export interface NotaryChange {
  /** `create`, `update` or `delete`. */
  readonly action: string;
  /** The scope: `targets`, `targets/x`, `targets/*`, `root`. */
  readonly role: string;
  /** `target`, `delegation`, `role` or `witness`. */
  readonly type: string;
  readonly path: string;
  /** The inner JSON (FileMeta, TUFDelegation, TUFRootData) or null. */
  readonly data: Uint8Array | null;
}

export interface StagedChange extends NotaryChange {
  /** The file name inside the changelist directory. */
  readonly file: string;
}

const MAX_CHANGE_FILE_BYTES = 16 << 20;
const WRITE_CONCURRENCY = 64;

/** Go `json.Marshal` of a string: JSON escaping plus `<`, `>`, `&`, U+2028/9 as `\u00xx`. */
export function goJsonString(s: string): string {
  return htmlEscape(JSON.stringify(s));
}

export function encodeChangeFile(c: NotaryChange): string {
  const data = c.data === null ? 'null' : JSON.stringify(Buffer.from(c.data).toString('base64'));
  return `{"action":${goJsonString(c.action)},"role":${goJsonString(c.role)},"type":${goJsonString(c.type)},"path":${goJsonString(c.path)},"data":${data}}`;
}

function stringField(o: Record<string, unknown>, key: string, file: string): string {
  const v = o[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new ClientError('INVALID_CHANGE', `change file ${file}: ${key} must be a string`);
  return v;
}

export function decodeChangeFile(bytes: Uint8Array, file: string): NotaryChange {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new ClientError('INVALID_CHANGE', `change file ${file} is not valid JSON`, { cause });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ClientError('INVALID_CHANGE', `change file ${file} is not a JSON object`);
  const o = doc as Record<string, unknown>;
  const raw = o['data'];
  let data: Uint8Array | null = null;
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(raw) || raw.length % 4 !== 0) {
      throw new ClientError('INVALID_CHANGE', `change file ${file}: data is not base64`);
    }
    data = new Uint8Array(Buffer.from(raw, 'base64'));
  }
  return { action: stringField(o, 'action', file), role: stringField(o, 'role', file), type: stringField(o, 'type', file), path: stringField(o, 'path', file), data };
}

let lastNanos = 0n;

/** Strictly increasing nanosecond stamps, so a batch keeps its order on disk. */
function nextStamp(): string {
  const wall = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  lastNanos = wall > lastNanos ? wall : lastNanos + 1n;
  return lastNanos.toString().padStart(20, '0');
}

export function changeFileName(): string {
  return `${nextStamp()}_${randomUUID()}.change`;
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class Changelist {
  readonly dir: string;

  constructor(gunDirectory: string) {
    this.dir = join(gunDirectory, 'changelist');
  }

  private async names(): Promise<string[]> {
    let entries;
    try {
      entries = await readdir(this.dir, { withFileTypes: true });
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return [];
      throw new ClientError('LOCAL_IO', `could not read the changelist ${this.dir}: ${ioReason(e)}`, { cause: e });
    }
    // Go sorts by file name (byte order); names are ASCII, so code-unit order is the same.
    return entries.filter((e) => !e.isDirectory() && e.name.endsWith('.change') && !e.name.startsWith('.')).map((e) => e.name).sort();
  }

  /** Every staged change in the order a publish applies them. */
  async list(): Promise<StagedChange[]> {
    const names = await this.names();
    const out: StagedChange[] = new Array<StagedChange>(names.length);
    await mapLimit([...names.keys()], WRITE_CONCURRENCY, async (i) => {
      const file = names[i] as string;
      let bytes: Buffer;
      try {
        bytes = await readFile(join(this.dir, file));
      } catch (e) {
        throw new ClientError('LOCAL_IO', `could not read change file ${join(this.dir, file)}: ${ioReason(e)}`, { cause: e });
      }
      if (bytes.length > MAX_CHANGE_FILE_BYTES) throw new ClientError('INVALID_CHANGE', `change file ${file} is larger than ${MAX_CHANGE_FILE_BYTES} bytes`);
      out[i] = { ...decodeChangeFile(bytes, file), file };
    });
    return out;
  }

  /** Stages `changes` in order; returns the file names written. */
  async add(changes: readonly NotaryChange[]): Promise<string[]> {
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new ClientError('LOCAL_IO', `could not create the changelist ${this.dir}: ${ioReason(e)}`, { cause: e });
    }
    const named = changes.map((c) => ({ c, name: changeFileName() }));
    try {
      await mapLimit(named, WRITE_CONCURRENCY, async ({ c, name }) => {
        const tmp = join(this.dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
        await writeFile(tmp, encodeChangeFile(c), { mode: 0o600 });
        await rename(tmp, join(this.dir, name));
      });
    } catch (e) {
      // All or nothing: a half-staged batch would publish a subset of what was asked for.
      await Promise.all(named.map(({ name }) => rm(join(this.dir, name), { force: true }).catch(() => undefined)));
      throw new ClientError('LOCAL_IO', `could not stage changes in ${this.dir}: ${ioReason(e)}`, { cause: e });
    }
    return named.map((n) => n.name);
  }

  /** Drops the changes at the given positions of `list()` (as `status` numbers them). */
  async remove(indices: readonly number[]): Promise<void> {
    const names = await this.names();
    const drop = new Set(indices);
    await Promise.all(names.filter((_, i) => drop.has(i)).map((n) => rm(join(this.dir, n), { force: true })));
  }

  /** Drops the given files (the ones a publish applied), leaving changes staged meanwhile. */
  async removeFiles(files: readonly string[]): Promise<void> {
    await mapLimit(files, WRITE_CONCURRENCY, (f) => rm(join(this.dir, f), { force: true }));
  }

  async clear(): Promise<void> {
    await this.removeFiles(await this.names());
  }
}

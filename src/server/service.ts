/**
 * The trust server's operations, independent of HTTP (docs/formats.md §6.1–6.6): publish,
 * reads (current, by checksum, by version) with lazy re-signing of the timestamp and a
 * server-held snapshot, the server key endpoints, GUN deletion and the changefeed.
 *
 * Contract: every failure is a `ServerError` with notary's code — 404 `METADATA_NOT_FOUND`
 * (detail `{}`) for anything missing, 400 `VERSION` for a lost race or a stale version, 400
 * `INVALID_UPDATE` for a rejected upload, 500 `UNKNOWN` when an expired snapshot cannot be
 * re-signed — plus 503 `UNAVAILABLE` when the database or the signer cannot answer (notary
 * answers 500 there). A publish writes in one transaction and is visible to the next read in this
 * process at once; the cache is dropped for every write this process makes or the store reports.
 */
import { parseMetadata, type RootSigned } from '../tuf/metadata.ts';
import { formatExpiry } from '../tuf/time.ts';
import { parseGun, type Gun } from '../tuf/types.ts';
import { CurrentMetadata, type ChainHead, type CurrentCacheOptions } from './current.ts';
import { EMPTY_DETAIL, goJson, ServerError } from './errors.ts';
import type { ServerKeys } from './signing.ts';
import { MetaStoreError, type ChangeRecord, type MetaStore, type MetaUpdate, type StoredFile } from './store.ts';
import { generateSnapshot, generateTimestamp, validateUpdate, type PreviousVersions, type UploadedFile } from './validate.ts';

export interface TrustServiceOptions {
  readonly store: MetaStore;
  /** Undefined: no signing service configured (every signing path answers NO_CRYPTOSERVICE). */
  readonly keys: ServerKeys | undefined;
  readonly now?: () => Date;
  readonly cache?: CurrentCacheOptions;
}

export function notFound(): ServerError {
  return new ServerError('METADATA_NOT_FOUND', EMPTY_DETAIL);
}

/** Maps store failures to the HTTP codes; everything else passes through. */
export function storeError(e: unknown, what: string): unknown {
  if (e instanceof MetaStoreError) {
    if (e.code === 'VERSION_CONFLICT') return new ServerError('VERSION', EMPTY_DETAIL, { cause: e, message: e.message });
    if (e.code === 'WRITE_FAILED') return new ServerError('UPDATING', undefined, { cause: e, message: `${what}: ${e.message}` });
    return new ServerError('UNAVAILABLE', undefined, { cause: e, message: `${what}: ${e.message}` });
  }
  return e;
}

/** Go's `strconv.ParseInt(s, 10, 32)`, with its error text. */
export function parseInt32(s: string): number | string {
  if (!/^[+-]?[0-9]+$/.test(s)) return `strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`;
  const n = Number(s);
  if (n > 2147483647 || n < -2147483648) return `strconv.ParseInt: parsing ${JSON.stringify(s)}: value out of range`;
  return n;
}

function changeJson(c: ChangeRecord): Record<string, unknown> {
  return { ID: String(c.id), CreatedAt: formatExpiry(c.createdAt), GUN: c.gun, Version: c.version, SHA256: c.sha256, Category: c.category };
}

export class TrustService {
  readonly store: MetaStore;
  readonly keys: ServerKeys | undefined;
  readonly current: CurrentMetadata;
  private readonly now: () => Date;
  private readonly resigning = new Map<string, Promise<ChainHead>>();

  constructor(opts: TrustServiceOptions) {
    this.store = opts.store;
    this.keys = opts.keys;
    this.now = opts.now ?? (() => new Date());
    const current = new CurrentMetadata(opts.store, opts.cache);
    this.current = current;
    const cacheWanted = opts.cache?.enabled ?? true;
    // While the change channel is down the database is (almost always) down too, so nobody can
    // write and the cache stays right: keep serving it, and drop it when the channel is back.
    const live = opts.store.watch((event) => {
      if (event.type === 'changed') current.invalidate(event.gun);
      else if (event.type === 'live') current.setEnabled(cacheWanted);
    });
    current.setEnabled(cacheWanted && live);
  }

  private requireKeys(): ServerKeys {
    if (this.keys === undefined) throw new ServerError('NO_CRYPTOSERVICE');
    return this.keys;
  }

  private async read<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw storeError(e, what);
    }
  }

  async publish(gunName: string, files: readonly UploadedFile[], previousVersions?: PreviousVersions): Promise<void> {
    const keys = this.requireKeys();
    const gun = parseGun(gunName);
    const ctx = {
      gun, now: this.now(), keys, ...(previousVersions !== undefined ? { previousVersions } : {}),
      current: (role: string) => this.read('reading current metadata', () => this.current.role(gun, role)),
      head: () => this.read('reading current metadata', () => this.current.head(gun)),
    };
    const updates = await validateUpdate(ctx, files);
    await this.write(gun, updates);
  }

  private async write(gun: string, updates: readonly MetaUpdate[]): Promise<void> {
    try {
      await this.store.updateMany(gun, updates);
    } catch (e) {
      throw storeError(e, 'writing the update');
    } finally {
      this.current.invalidate(gun);
    }
  }

  /** GET `{role}.json`. */
  async getCurrent(gun: string, role: string): Promise<StoredFile> {
    if (role === 'timestamp' || role === 'snapshot') {
      const head = await this.freshHead(gun);
      return role === 'timestamp' ? head.timestamp : head.snapshot;
    }
    const file = await this.read('reading metadata', () => this.current.role(gun, role));
    if (file === undefined) throw notFound();
    return file;
  }

  async getByChecksum(gun: string, role: string, checksum: string): Promise<StoredFile> {
    const sha = checksum.toLowerCase();
    const file = await this.read('reading metadata', () => this.current.fixed(gun, `h:${role}:${sha}`, () => this.store.getChecksum(gun, role, sha)));
    if (file === undefined) throw notFound();
    return file;
  }

  async getByVersion(gun: string, role: string, version: number): Promise<StoredFile> {
    if (!Number.isSafeInteger(version)) throw notFound();
    const file = await this.read('reading metadata', () => this.current.fixed(gun, `v:${role}:${version}`, () => this.store.getVersion(gun, role, version)));
    if (file === undefined) throw notFound();
    return file;
  }

  /** The chain head with an unexpired timestamp and snapshot, re-signing them when needed (§6.4.7). */
  private async freshHead(gun: string): Promise<ChainHead> {
    const head = await this.read('reading metadata', () => this.current.head(gun));
    if (head === undefined) throw notFound();
    const now = this.now().getTime();
    if (head.timestampExpiresMs >= now && head.snapshotExpiresMs >= now) return head;
    let inflight = this.resigning.get(gun);
    if (inflight === undefined) {
      inflight = this.resign(gun).finally(() => this.resigning.delete(gun));
      this.resigning.set(gun, inflight);
    }
    return inflight;
  }

  private async resign(gun: string, attempt = 0): Promise<ChainHead> {
    this.current.invalidate(gun);
    const head = await this.read('reading metadata', () => this.current.head(gun));
    if (head === undefined) throw notFound();
    const now = this.now();
    if (head.timestampExpiresMs >= now.getTime() && head.snapshotExpiresMs >= now.getTime()) return head;
    const keys = this.requireKeys();
    const rootFile = await this.read('reading metadata', () => this.current.role(gun, 'root'));
    if (rootFile === undefined) throw notFound();
    const updates: MetaUpdate[] = [];
    try {
      const root = parseMetadata('root', rootFile.data);
      let snapshotBytes = head.snapshot.data;
      if (head.snapshotExpiresMs < now.getTime()) {
        const snapshot = await generateSnapshot(keys, root, now, head.snapshot, new Map([['root', root.bytes]]));
        updates.push({ role: 'snapshot', version: snapshot.signed.version, data: snapshot.bytes });
        snapshotBytes = snapshot.bytes;
      }
      const timestamp = await generateTimestamp(keys, root.signed, now, snapshotBytes, head.timestamp);
      updates.push({ role: 'timestamp', version: timestamp.signed.version, data: timestamp.bytes });
    } catch (e) {
      if (e instanceof ServerError && e.code === 'UNAVAILABLE') throw e;
      throw new ServerError('UNKNOWN', undefined, { cause: e, message: `cannot re-sign the timestamp of ${gun}: ${e instanceof Error ? e.message : String(e)}` });
    }
    try {
      await this.write(gun, updates);
    } catch (e) {
      // Another process re-signed (or published) first: serve what it wrote.
      if (e instanceof ServerError && e.code === 'VERSION' && attempt < 3) return this.resign(gun, attempt + 1);
      throw e;
    }
    const fresh = await this.read('reading metadata', () => this.current.head(gun));
    if (fresh === undefined) throw notFound();
    return fresh;
  }

  private async rootOf(gun: string): Promise<RootSigned | undefined> {
    const file = await this.read('reading metadata', () => this.current.role(gun, 'root'));
    if (file === undefined) return undefined;
    try {
      return parseMetadata('root', file.data).signed;
    } catch (e) {
      throw new ServerError('UNKNOWN', undefined, { cause: e, message: `the stored root of ${gun} does not parse` });
    }
  }

  /** GET `{snapshot,timestamp}.key`: the held key the root lists, else CreateKey. */
  async getKey(gun: string, role: 'snapshot' | 'timestamp') {
    const keys = this.requireKeys();
    return keys.getOrCreate(gun, role, await this.rootOf(gun));
  }

  /** POST `{snapshot,timestamp}.key`: always a new (or the pending) key. */
  async rotateKey(gun: string, role: 'snapshot' | 'timestamp') {
    return this.requireKeys().create(gun, role);
  }

  async deleteGun(gun: string): Promise<void> {
    try {
      await this.store.deleteGun(gun);
    } catch (e) {
      throw storeError(e, 'deleting the repository');
    } finally {
      this.current.invalidate(gun);
    }
  }

  /** The changefeed body for `?change_id=&records=` (§6.6); `gun` undefined for the global feed. */
  async changefeed(gun: Gun | string | undefined, changeIdParam: string, recordsParam: string): Promise<string> {
    const records = parseInt32(recordsParam);
    if (typeof records === 'string') throw new ServerError('INVALID_PARAMETERS', `invalid records parameter: ${records}`);
    const changeId = changeIdParam === '' ? 0 : parseInt32(changeIdParam);
    if (typeof changeId === 'string') throw new ServerError('INVALID_PARAMETERS', EMPTY_DETAIL);
    const size = records === 0 ? 100 : Math.abs(records);
    const reversed = changeId < 0 || records < 0;
    const query = { changeId, records: size, reversed, ...(gun === undefined ? {} : { gun }) };
    const changes = await this.read('reading the changefeed', () => this.store.getChanges(query));
    return goJson({ count: changes.length, records: changes.map(changeJson) });
  }
}

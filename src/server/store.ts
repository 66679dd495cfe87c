/**
 * The metadata store the server writes through (docs/formats.md §9.3): every version of every
 * role file of every GUN, exactly as uploaded or generated, plus the changefeed.
 *
 * Contract:
 * - `updateMany` writes a batch atomically (one transaction). A row for the same (gun, role) with
 *   a version ≥ a new one, or a duplicate (role, version) in the batch, fails the whole batch with
 *   `MetaStoreError('VERSION_CONFLICT')` and writes nothing; so does losing a race on the unique
 *   (gun, role, version) key, on every backend. Every timestamp written adds a changefeed
 *   `update` row in the same transaction.
 * - `deleteGun` removes every row of the GUN and, if there were any, adds a `deletion` row.
 * - A backend that cannot be reached (or a lock wait that timed out) is
 *   `MetaStoreError('UNAVAILABLE')`; a write the backend refused for another reason (disk full) is
 *   `WRITE_FAILED`. Reads of missing rows return undefined.
 * - `watch` reports writes made by *other* processes sharing the backend, so that in-process
 *   caches stay exact: `changed` names a GUN, `live` means the channel works (drop everything,
 *   caching may resume), `down` means it does not (the database is most likely down, so the cache
 *   stays until the channel is `live` again). It returns whether the channel is live right now.
 */
import { createHash } from 'node:crypto';
import { VouchError } from '../errors.ts';

export interface StoredFile {
  readonly role: string;
  readonly version: number;
  readonly data: Uint8Array;
  /** Lower-case hex SHA-256 of `data`. */
  readonly sha256: string;
  readonly createdAt: Date;
}

export interface MetaUpdate {
  readonly role: string;
  readonly version: number;
  readonly data: Uint8Array;
}

export type ChangeCategory = 'update' | 'deletion';

export interface ChangeRecord {
  readonly id: number;
  readonly createdAt: Date;
  readonly gun: string;
  readonly version: number;
  readonly sha256: string;
  readonly category: ChangeCategory;
}

export interface ChangeQuery {
  /** Start after this ID; negative means "from the end" (reversed). */
  readonly changeId: number;
  /** Page size, > 0. */
  readonly records: number;
  /** Newest first then reversed back to ascending order (notary's semantics). */
  readonly reversed: boolean;
  readonly gun?: string;
}

export type MetaStoreErrorCode = 'VERSION_CONFLICT' | 'UNAVAILABLE' | 'WRITE_FAILED';

export class MetaStoreError extends VouchError<MetaStoreErrorCode> {}

export type StoreEvent = { readonly type: 'changed'; readonly gun: string } | { readonly type: 'live' } | { readonly type: 'down' };

export type StoreListener = (event: StoreEvent) => void;

export interface MetaStore {
  /** The backend name for logs and health (`memory`, `sqlite3`, `postgres`, `mysql`). */
  readonly backend: string;
  getLatest(gun: string, role: string): Promise<StoredFile | undefined>;
  getChecksum(gun: string, role: string, sha256: string): Promise<StoredFile | undefined>;
  getVersion(gun: string, role: string, version: number): Promise<StoredFile | undefined>;
  updateMany(gun: string, updates: readonly MetaUpdate[]): Promise<void>;
  deleteGun(gun: string): Promise<void>;
  getChanges(query: ChangeQuery): Promise<ChangeRecord[]>;
  checkHealth(): Promise<void>;
  /** Subscribes to writes made elsewhere; returns whether the channel is live now. */
  watch(listener: StoreListener): boolean;
  close(): Promise<void>;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** notary's `allUpdatesUnique` plus the per-role minimum version the pre-check compares against. */
export function minVersionsByRole(updates: readonly MetaUpdate[]): Map<string, number> {
  const seen = new Set<string>();
  const min = new Map<string, number>();
  for (const u of updates) {
    const key = `${u.role}\u0000${u.version}`;
    if (seen.has(key)) throw new MetaStoreError('VERSION_CONFLICT', `duplicate ${u.role} version ${u.version} in one update`);
    seen.add(key);
    const cur = min.get(u.role);
    if (cur === undefined || u.version < cur) min.set(u.role, u.version);
  }
  return min;
}

/** Pages a list of changes in ascending ID order as notary's SQL store does. */
export function pageChanges(all: readonly ChangeRecord[], q: ChangeQuery): ChangeRecord[] {
  const filtered = q.gun === undefined ? all : all.filter((c) => c.gun === q.gun);
  if (!q.reversed) return filtered.filter((c) => c.id > q.changeId).slice(0, q.records);
  const before = q.changeId > 0 ? filtered.filter((c) => c.id < q.changeId) : filtered;
  return before.slice(Math.max(0, before.length - q.records));
}

/** The in-memory store (notary's `memory` backend): for tests and throwaway servers. */
export class MemoryMetaStore implements MetaStore {
  readonly backend = 'memory';
  private readonly files = new Map<string, StoredFile[]>();
  private readonly changes: ChangeRecord[] = [];
  private nextChangeId = 1;
  private readonly now: () => Date;

  constructor(opts: { now?: () => Date } = {}) {
    this.now = opts.now ?? (() => new Date());
  }

  private rows(gun: string, role: string): StoredFile[] {
    return this.files.get(`${gun}\u0000${role}`) ?? [];
  }

  getLatest(gun: string, role: string): Promise<StoredFile | undefined> {
    const rows = this.rows(gun, role);
    return Promise.resolve(rows[rows.length - 1]);
  }

  getChecksum(gun: string, role: string, sha256: string): Promise<StoredFile | undefined> {
    return Promise.resolve(this.rows(gun, role).find((r) => r.sha256 === sha256.toLowerCase()));
  }

  getVersion(gun: string, role: string, version: number): Promise<StoredFile | undefined> {
    return Promise.resolve(this.rows(gun, role).find((r) => r.version === version));
  }

  updateMany(gun: string, updates: readonly MetaUpdate[]): Promise<void> {
    try {
      for (const [role, version] of minVersionsByRole(updates)) {
        const latest = this.rows(gun, role).at(-1);
        if (latest !== undefined && latest.version >= version) {
          throw new MetaStoreError('VERSION_CONFLICT', `${role} version ${latest.version} is stored, ${version} is not newer`);
        }
      }
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    const createdAt = this.now();
    for (const u of updates) {
      const key = `${gun}\u0000${u.role}`;
      const row: StoredFile = { role: u.role, version: u.version, data: u.data, sha256: sha256Hex(u.data), createdAt };
      const list = this.files.get(key) ?? [];
      list.push(row);
      list.sort((a, b) => a.version - b.version);
      this.files.set(key, list);
      if (u.role === 'timestamp') {
        this.changes.push({ id: this.nextChangeId++, createdAt, gun, version: u.version, sha256: row.sha256, category: 'update' });
      }
    }
    return Promise.resolve();
  }

  deleteGun(gun: string): Promise<void> {
    let deleted = 0;
    for (const key of [...this.files.keys()]) {
      if (key.startsWith(`${gun}\u0000`)) {
        deleted += this.files.get(key)?.length ?? 0;
        this.files.delete(key);
      }
    }
    if (deleted > 0) this.changes.push({ id: this.nextChangeId++, createdAt: this.now(), gun, version: 0, sha256: '', category: 'deletion' });
    return Promise.resolve();
  }

  getChanges(query: ChangeQuery): Promise<ChangeRecord[]> {
    return Promise.resolve(pageChanges(this.changes, query));
  }

  checkHealth(): Promise<void> {
    return Promise.resolve();
  }

  watch(): boolean {
    return true; // one process: nothing changes behind the server's back
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

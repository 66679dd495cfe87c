/**
 * "Current" metadata of a GUN as notary's SQL store defines it (docs/formats.md §9.3): the
 * latest timestamp → the snapshot with the sha256 it records → each role with the sha256 the
 * snapshot records. Served from an in-process cache.
 *
 * Contract:
 * - `head(gun)` resolves the timestamp and snapshot of the chain (undefined when the GUN has no
 *   timestamp or the chain is broken, which readers see as 404); `role(gun, role)` any other role.
 * - `fixed(gun, key, load)` caches immutable reads (by checksum, by version), misses included.
 * - The cache holds at most `maxBytes` of file bytes plus a fixed charge per entry (least recently
 *   used GUNs go first), so lookups of GUNs that do not exist cannot grow it without bound; it is
 *   dropped per GUN by `invalidate(gun)` — after a local write, or when the store reports a write
 *   by another replica. A load that raced with an invalidation is not cached, so a reader never
 *   re-caches what a writer just replaced. With `enabled: false` every read goes to the store.
 */
import { parseEnvelope, parseFileMeta } from '../tuf/metadata.ts';
import { isJsonObject } from '../tuf/canonical.ts';
import { parseExpiry } from '../tuf/time.ts';
import type { MetaStore, StoredFile } from './store.ts';

export interface ChainHead {
  readonly timestamp: StoredFile;
  readonly timestampExpiresMs: number;
  readonly snapshot: StoredFile;
  readonly snapshotExpiresMs: number;
  /** Role → sha256 hex, as the snapshot records it. */
  readonly snapshotMeta: ReadonlyMap<string, string>;
}

interface GunEntry {
  /** Coarse time of the last move to the LRU end (moving on every read costs too much). */
  touchedAt: number;
  /** undefined: not loaded; null: the GUN has no (valid) chain. */
  head: ChainHead | null | undefined;
  /** Current files by role; null: not in the current snapshot. */
  readonly roles: Map<string, StoredFile | null>;
  /** Files by checksum (`h:<role>:<sha>`) or version (`v:<role>:<n>`); null: none stored. */
  readonly fixed: Map<string, StoredFile | null>;
  bytes: number;
}

/** Bookkeeping bytes charged per cached entry, so misses cannot grow the cache without bound. */
const ENTRY_OVERHEAD = 256;

export interface CurrentCacheOptions {
  readonly enabled?: boolean;
  readonly maxBytes?: number;
}

/** The sha256 (hex) and expiry an envelope records, read without full validation. */
export function readPointer(data: Uint8Array, role: 'timestamp' | 'snapshot'): { expiresMs: number; meta: Map<string, string> } | undefined {
  try {
    const { signed } = parseEnvelope(data, role);
    const expiresMs = parseExpiry(signed['expires']).epochMs;
    const meta = new Map<string, string>();
    const m = signed['meta'];
    if (isJsonObject(m)) {
      for (const [name, fm] of Object.entries(m)) {
        const sha = parseFileMeta(fm, role, 'signed.meta', name).hashes.get('sha256');
        if (sha !== undefined) meta.set(name, Buffer.from(sha).toString('hex'));
      }
    }
    return { expiresMs, meta };
  } catch {
    return undefined;
  }
}

export class CurrentMetadata {
  private readonly store: MetaStore;
  private enabled: boolean;
  private readonly maxBytes: number;
  private readonly entries = new Map<string, GunEntry>();
  private readonly generations = new Map<string, number>();
  private epoch = 0;
  private totalBytes = 0;
  private readonly served = new WeakSet<StoredFile>();

  constructor(store: MetaStore, opts: CurrentCacheOptions = {}) {
    this.store = store;
    this.enabled = opts.enabled ?? true;
    this.maxBytes = opts.maxBytes ?? 32 << 20;
  }

  /** Turns caching on or off (off: every read goes to the store); either way the cache is emptied. */
  setEnabled(enabled: boolean): void {
    this.invalidate();
    this.enabled = enabled;
  }

  /** Drops one GUN's cached chain, or everything. */
  invalidate(gun?: string): void {
    if (gun === undefined) {
      this.epoch++;
      this.entries.clear();
      this.generations.clear();
      this.totalBytes = 0;
      return;
    }
    this.generations.set(gun, (this.generations.get(gun) ?? 0) + 1);
    const e = this.entries.get(gun);
    if (e !== undefined) {
      this.totalBytes -= e.bytes;
      this.entries.delete(gun);
    }
  }

  private stamp(gun: string): string {
    return `${this.epoch}:${this.generations.get(gun) ?? 0}`;
  }

  private touch(gun: string): GunEntry | undefined {
    const e = this.entries.get(gun);
    if (e !== undefined) {
      const now = Math.floor(performance.now() / 1000);
      if (e.touchedAt !== now) {
        e.touchedAt = now;
        this.entries.delete(gun);
        this.entries.set(gun, e);
      }
    }
    return e;
  }

  private remember(gun: string, stamp: string, fill: (e: GunEntry) => number): void {
    if (!this.enabled || this.stamp(gun) !== stamp) return;
    let e = this.entries.get(gun);
    if (e === undefined) {
      e = { touchedAt: 0, head: undefined, roles: new Map(), fixed: new Map(), bytes: 0 };
      this.entries.set(gun, e);
    }
    const added = fill(e) + ENTRY_OVERHEAD;
    e.bytes += added;
    this.totalBytes += added;
    for (const [g, old] of this.entries) {
      if (this.totalBytes <= this.maxBytes || g === gun) break;
      this.totalBytes -= old.bytes;
      this.entries.delete(g);
    }
  }

  private keep(file: StoredFile | null | undefined): number {
    if (file === null || file === undefined) return 0;
    this.served.add(file);
    return file.data.length;
  }

  /** True for a file object held by the cache (worth keeping derived forms of, e.g. gzip). */
  isCached(file: StoredFile): boolean {
    return this.served.has(file);
  }

  async head(gun: string): Promise<ChainHead | undefined> {
    const cached = this.touch(gun);
    if (cached !== undefined && cached.head !== undefined) return cached.head ?? undefined;
    const stamp = this.stamp(gun);
    const head = await this.loadHead(gun);
    this.remember(gun, stamp, (e) => {
      e.head = head ?? null;
      return this.keep(head?.timestamp) + this.keep(head?.snapshot);
    });
    return head;
  }

  /** An immutable file (by checksum or version), cached until the GUN is written. */
  async fixed(gun: string, key: string, load: () => Promise<StoredFile | undefined>): Promise<StoredFile | undefined> {
    const cached = this.touch(gun)?.fixed.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const stamp = this.stamp(gun);
    const file = (await load()) ?? null;
    this.remember(gun, stamp, (e) => {
      e.fixed.set(key, file);
      return this.keep(file);
    });
    return file ?? undefined;
  }

  private async loadHead(gun: string): Promise<ChainHead | undefined> {
    const timestamp = await this.store.getLatest(gun, 'timestamp');
    if (timestamp === undefined) return undefined;
    const ts = readPointer(timestamp.data, 'timestamp');
    const snapshotSha = ts?.meta.get('snapshot');
    if (ts === undefined || snapshotSha === undefined) return undefined;
    const snapshot = await this.store.getChecksum(gun, 'snapshot', snapshotSha);
    if (snapshot === undefined) return undefined;
    const sn = readPointer(snapshot.data, 'snapshot');
    if (sn === undefined) return undefined;
    return { timestamp, timestampExpiresMs: ts.expiresMs, snapshot, snapshotExpiresMs: sn.expiresMs, snapshotMeta: sn.meta };
  }

  /** The current file of a role other than timestamp/snapshot (root, targets, delegations). */
  async role(gun: string, role: string): Promise<StoredFile | undefined> {
    const cached = this.touch(gun);
    const hit = cached?.roles.get(role);
    if (hit !== undefined) return hit ?? undefined;
    const stamp = this.stamp(gun);
    const head = await this.head(gun);
    const sha = head?.snapshotMeta.get(role);
    if (head === undefined || sha === undefined) return undefined;
    const file = (await this.store.getChecksum(gun, role, sha)) ?? null;
    this.remember(gun, stamp, (e) => {
      let added = this.keep(file);
      if (e.head === undefined) {
        e.head = head;
        added += this.keep(head.timestamp) + this.keep(head.snapshot);
      }
      e.roles.set(role, file);
      return added;
    });
    return file ?? undefined;
  }
}

/**
 * `MetaStore` on SQLite, PostgreSQL and MySQL/MariaDB through the shared `Database` factory
 * (src/storage), with the schema of sql-schema.ts.
 *
 * Contract (on top of store.ts):
 * - One transaction per `updateMany`/`deleteGun` (on PostgreSQL `updateMany` is a single
 *   statement, so one round trip); SQLite takes the write lock up front
 *   (`BEGIN IMMEDIATE`) so two processes never deadlock on a lock upgrade. A duplicate key on any
 *   backend is `VERSION_CONFLICT`; connection loss and lock timeouts are `UNAVAILABLE`; any other
 *   write failure (SQLITE_FULL) is `WRITE_FAILED` with nothing written.
 * - Timestamps are written in UTC by the server, never by the database's clock or zone.
 * - Cross-process cache invalidation: PostgreSQL uses LISTEN/NOTIFY on channel `vouch_tuf`
 *   (the NOTIFY is part of the writing transaction, so it is delivered exactly when the write is
 *   visible); SQLite polls `PRAGMA data_version` and MySQL polls the changefeed's highest ID,
 *   every `pollMs` (default 250 ms), reporting `live` after any change seen.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../storage/database.ts';
import { sqlTimestamp } from '../storage/database.ts';
import { driverMessage, isUniqueViolation } from '../storage/errors.ts';
import type { StorageConfig } from '../storage/config.ts';
import { migrateToLatest } from '../storage/migrations.ts';
import type { PgNotifications } from './pg-notify.ts';
import { NOTIFY_CHANNEL, SERVER_COMPONENT, SERVER_MIGRATIONS, type ServerTables } from './sql-schema.ts';
import {
  MetaStoreError, minVersionsByRole, sha256Hex,
  type ChangeQuery, type ChangeRecord, type MetaStore, type MetaUpdate, type StoredFile, type StoreListener,
} from './store.ts';

type Db = Kysely<ServerTables>;

const TRANSIENT_CODES = new Set([
  'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_CANTOPEN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND',
  'EHOSTUNREACH', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '53300', 'PROTOCOL_CONNECTION_LOST',
  'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN', 'ER_LOCK_WAIT_TIMEOUT', 'STORAGE_UNAVAILABLE',
]);

function isTransient(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  const message = e instanceof Error ? e.message : '';
  return /Connection terminated|timeout|connect|Client has encountered a connection error|Cannot enqueue|pool is closed|closed state/i.test(message);
}

function readError(what: string, e: unknown): MetaStoreError {
  if (e instanceof MetaStoreError) return e;
  return new MetaStoreError('UNAVAILABLE', `${what}: ${driverMessage(e)}`, { cause: e });
}

function writeError(what: string, e: unknown): MetaStoreError {
  if (e instanceof MetaStoreError) return e;
  if (isUniqueViolation(e)) return new MetaStoreError('VERSION_CONFLICT', 'a newer version of metadata is already stored', { cause: e });
  return new MetaStoreError(isTransient(e) ? 'UNAVAILABLE' : 'WRITE_FAILED', `${what}: ${driverMessage(e)}`, { cause: e });
}

/** UTC text from the driver's timestamp (SQLite/MySQL text, PostgreSQL text via a cast). */
function parseTime(v: Date | string | null): Date {
  if (v === null) return new Date(0);
  if (v instanceof Date) return v;
  const iso = v.includes('T') ? v : v.replace(' ', 'T');
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
}

interface FileRow {
  role: string;
  version: number | string;
  data: Buffer;
  sha256: string | null;
  created_at: Date | string | null;
}

function toFile(r: FileRow): StoredFile {
  const data = new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength);
  return { role: r.role, version: Number(r.version), data, sha256: r.sha256 ?? sha256Hex(data), createdAt: parseTime(r.created_at) };
}

export interface SqlMetaStoreOptions {
  readonly now?: () => Date;
  /** Close the database with the store (default true). */
  readonly ownsDatabase?: boolean;
  readonly pollMs?: number;
  /** The storage config, needed for PostgreSQL's LISTEN connection. */
  readonly config?: StorageConfig;
}

export class SqlMetaStore implements MetaStore {
  readonly backend: string;
  readonly database: Database<ServerTables>;
  private readonly db: Db;
  private readonly now: () => Date;
  private readonly opts: SqlMetaStoreOptions;
  private readonly listeners: StoreListener[] = [];
  private poller: NodeJS.Timeout | undefined;
  private notifications: PgNotifications | undefined;
  private lastSeen: string | undefined;
  private live = false;

  private constructor(database: Database<ServerTables>, opts: SqlMetaStoreOptions) {
    this.database = database;
    this.db = database.db;
    this.backend = database.backend;
    this.now = opts.now ?? (() => new Date());
    this.opts = opts;
  }

  /** Opens the store on `database`, applying the server's migrations. */
  static async open(database: Database<ServerTables>, opts: SqlMetaStoreOptions = {}): Promise<SqlMetaStore> {
    await migrateToLatest(database, SERVER_COMPONENT, SERVER_MIGRATIONS);
    const store = new SqlMetaStore(database, opts);
    await store.startWatching();
    return store;
  }

  private createdAtColumn() {
    return this.backend === 'postgres' ? sql<string>`cast(created_at as text)`.as('created_at') : sql<string>`created_at`.as('created_at');
  }

  private async readFile(what: string, q: (db: Db) => Promise<FileRow | undefined>): Promise<StoredFile | undefined> {
    try {
      const row = await q(this.db);
      return row === undefined ? undefined : toFile(row);
    } catch (e) {
      throw readError(what, e);
    }
  }

  getLatest(gun: string, role: string): Promise<StoredFile | undefined> {
    return this.readFile(`reading ${role} of ${gun}`, (db) => db.selectFrom('tuf_files')
      .select(['role', 'version', 'data', 'sha256', this.createdAtColumn()])
      .where('gun', '=', gun).where('role', '=', role).orderBy('version', 'desc').limit(1).executeTakeFirst());
  }

  getChecksum(gun: string, role: string, sha256: string): Promise<StoredFile | undefined> {
    return this.readFile(`reading ${role} of ${gun}`, (db) => db.selectFrom('tuf_files')
      .select(['role', 'version', 'data', 'sha256', this.createdAtColumn()])
      .where('gun', '=', gun).where('role', '=', role).where('sha256', '=', sha256.toLowerCase())
      .orderBy('version', 'desc').limit(1).executeTakeFirst());
  }

  getVersion(gun: string, role: string, version: number): Promise<StoredFile | undefined> {
    return this.readFile(`reading ${role} of ${gun}`, (db) => db.selectFrom('tuf_files')
      .select(['role', 'version', 'data', 'sha256', this.createdAtColumn()])
      .where('gun', '=', gun).where('role', '=', role).where('version', '=', version).limit(1).executeTakeFirst());
  }

  /** Runs `work` in one transaction; SQLite takes the write lock first. */
  private async inTransaction(work: (trx: Db | Transaction<ServerTables>) => Promise<void>): Promise<void> {
    if (this.backend !== 'sqlite3') {
      await this.db.transaction().execute(work);
      return;
    }
    await this.db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      try {
        await work(conn);
        await sql`commit`.execute(conn);
      } catch (e) {
        await sql`rollback`.execute(conn).catch(() => undefined);
        throw e;
      }
    });
  }

  /**
   * PostgreSQL: the whole update as one statement (one round trip, atomic by itself): the version
   * check, the rows, the changefeed rows and the NOTIFY, which PostgreSQL sends at commit.
   */
  private async updateManyPostgres(gun: string, updates: readonly MetaUpdate[], minVersions: ReadonlyMap<string, number>, ts: string): Promise<void> {
    const values = sql.join(updates.map((u) => sql`(${u.role}::varchar, ${u.version}::bigint, ${Buffer.from(u.data)}::bytea, ${sha256Hex(u.data)}::char(64))`));
    const newer = sql.join([...minVersions].map(([role, version]) => sql`(role = ${role} AND version >= ${version})`), sql` OR `);
    const r = await sql<{ inserted: string | number }>`
      WITH chk AS (SELECT 1 FROM tuf_files WHERE gun = ${gun} AND (${newer}) LIMIT 1),
      ins AS (
        INSERT INTO tuf_files (created_at, updated_at, gun, role, version, data, sha256)
        SELECT ${ts}::timestamp, ${ts}::timestamp, ${gun}, v.role, v.version, v.data, v.sha256
        FROM (VALUES ${values}) AS v(role, version, data, sha256)
        WHERE NOT EXISTS (SELECT 1 FROM chk)
        RETURNING role, version, sha256),
      feed AS (
        INSERT INTO changefeed (created_at, gun, version, sha256, category)
        SELECT ${ts}::timestamp, ${gun}, version, sha256, 'update' FROM ins WHERE role = 'timestamp'
        RETURNING id)
      SELECT (SELECT count(*) FROM ins) AS inserted, (SELECT count(*) FROM feed) AS fed,
        (SELECT count(*) FROM (SELECT pg_notify(${NOTIFY_CHANNEL}, ${gun}) FROM (SELECT 1 FROM ins LIMIT 1) one) n) AS notified`.execute(this.db);
    if (Number(r.rows[0]?.inserted ?? 0) !== updates.length) {
      throw new MetaStoreError('VERSION_CONFLICT', 'a version at least as new as the update is already stored');
    }
  }

  async updateMany(gun: string, updates: readonly MetaUpdate[]): Promise<void> {
    const minVersions = minVersionsByRole(updates);
    const ts = sqlTimestamp(this.now());
    if (updates.length === 0) return;
    try {
      if (this.backend === 'postgres') {
        await this.updateManyPostgres(gun, updates, minVersions, ts);
        return;
      }
      await this.inTransaction(async (trx) => {
        // One round trip for notary's per-role check "is anything at this version or newer stored?"
        const newer = await trx.selectFrom('tuf_files').select(['role', 'version']).where('gun', '=', gun)
          .where((eb) => eb.or([...minVersions].map(([role, version]) => eb.and([eb('role', '=', role), eb('version', '>=', version)]))))
          .limit(1).executeTakeFirst();
        if (newer !== undefined) throw new MetaStoreError('VERSION_CONFLICT', `${newer.role} version ${Number(newer.version)} is stored, the update is not newer`);
        const rows = updates.map((u) => ({
          created_at: ts, updated_at: ts, deleted_at: null, gun, role: u.role, version: u.version, data: Buffer.from(u.data), sha256: sha256Hex(u.data),
        }));
        await trx.insertInto('tuf_files').values(rows).execute();
        const feed = rows.filter((r) => r.role === 'timestamp').map((r) => ({ created_at: ts, gun, version: r.version, sha256: r.sha256, category: 'update' }));
        if (feed.length > 0) await trx.insertInto('changefeed').values(feed).execute();
      });
    } catch (e) {
      throw writeError(`writing metadata of ${gun}`, e);
    }
  }

  async deleteGun(gun: string): Promise<void> {
    const ts = sqlTimestamp(this.now());
    try {
      await this.inTransaction(async (trx) => {
        const res = await trx.deleteFrom('tuf_files').where('gun', '=', gun).executeTakeFirst();
        if (Number(res.numDeletedRows) === 0) return;
        await trx.insertInto('changefeed').values({ created_at: ts, gun, version: 0, sha256: '', category: 'deletion' }).execute();
        if (this.backend === 'postgres') await sql`select pg_notify(${NOTIFY_CHANNEL}, ${gun})`.execute(trx);
      });
    } catch (e) {
      throw writeError(`deleting ${gun}`, e);
    }
  }

  async getChanges(q: ChangeQuery): Promise<ChangeRecord[]> {
    try {
      let query = this.db.selectFrom('changefeed').select(['id', 'gun', 'version', 'sha256', 'category', this.createdAtColumn()]);
      if (q.gun !== undefined) query = query.where('gun', '=', q.gun);
      if (q.reversed) {
        if (q.changeId > 0) query = query.where('id', '<', q.changeId);
        query = query.orderBy('id', 'desc');
      } else {
        query = query.where('id', '>', q.changeId).orderBy('id', 'asc');
      }
      const rows = await query.limit(q.records).execute();
      const out = rows.map((r): ChangeRecord => ({
        id: Number(r.id), createdAt: parseTime(r.created_at), gun: r.gun, version: Number(r.version), sha256: (r.sha256 ?? '').trimEnd(), // char(64) pads on PostgreSQL
        category: r.category === 'deletion' ? 'deletion' : 'update',
      }));
      return q.reversed ? out.reverse() : out;
    } catch (e) {
      throw readError('reading the changefeed', e);
    }
  }

  async checkHealth(): Promise<void> {
    try {
      await this.db.selectFrom('tuf_files').select('id').where(sql<boolean>`1 = 0`).execute();
    } catch (e) {
      throw new Error(`cannot access table: tuf_files: ${driverMessage(e)}`, { cause: e });
    }
  }

  watch(listener: StoreListener): boolean {
    this.listeners.push(listener);
    return this.live;
  }

  private emit(event: Parameters<StoreListener>[0]): void {
    if (event.type !== 'changed') this.live = event.type === 'live';
    for (const l of this.listeners) l(event);
  }

  private async startWatching(): Promise<void> {
    if (this.backend === 'postgres' && this.opts.config !== undefined) {
      // Loaded here so that SQLite and MySQL servers never load the pg driver.
      const { PgNotifications } = await import('./pg-notify.ts');
      this.notifications = new PgNotifications(this.opts.config.dbUrl, (e) => this.emit(e));
      await this.notifications.start();
      return;
    }
    if (this.backend === 'postgres') return; // no config: never cache (live stays false)
    await this.poll();
    this.poller = setInterval(() => void this.poll(), this.opts.pollMs ?? 250);
    this.poller.unref();
  }

  /** SQLite: data_version moves when another connection commits; MySQL: the changefeed grows. */
  private async poll(): Promise<void> {
    let seen: string;
    try {
      if (this.backend === 'sqlite3') {
        const r = await sql<{ data_version: number }>`pragma data_version`.execute(this.db);
        seen = String(r.rows[0]?.data_version);
      } else {
        const r = await this.db.selectFrom('changefeed').select(sql<string>`max(id)`.as('m')).executeTakeFirst();
        seen = String(r?.m ?? 0);
      }
    } catch {
      if (this.live) this.emit({ type: 'down' });
      this.lastSeen = undefined;
      return;
    }
    if (seen !== this.lastSeen || !this.live) {
      this.lastSeen = seen;
      this.emit({ type: 'live' });
    }
  }

  async close(): Promise<void> {
    if (this.poller !== undefined) clearInterval(this.poller);
    await this.notifications?.stop();
    if (this.opts.ownsDatabase !== false) await this.database.close();
  }
}

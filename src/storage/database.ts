/**
 * One `Database` factory for every SQL-backed component (signer keys now, trust server later):
 * SQLite through better-sqlite3, PostgreSQL through pg, MySQL/MariaDB through mysql2, all behind
 * a typed Kysely instance.
 *
 * Contract:
 * - `openDatabase(config)` connects lazily for the network backends (the first query connects)
 *   and eagerly for SQLite, and fails with `StorageError` only — never a raw driver error.
 * - SQLite runs in WAL mode with `synchronous=FULL` and a busy timeout; a file the factory
 *   creates gets mode 0600, because the component tables may hold (encrypted) key material.
 * - Network pools have bounded size, connect timeout and statement timeout, and an idle-client
 *   error (a database restart) is swallowed and surfaces on the next query instead of crashing.
 * - `ping()` is one round trip; `close()` is idempotent.
 * - `sqlTimestamp(date)` is the one timestamp text written to every dialect (UTC, ms precision).
 * - A driver package is loaded by the first database of its kind (`pgDriver()` for other PostgreSQL
 *   users): a SQLite deployment never loads pg or mysql2, and a PostgreSQL one never loads the
 *   native SQLite binding. A driver that cannot be loaded is `STORAGE_UNAVAILABLE`.
 */
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { Kysely, MysqlDialect, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type { Dialect, KyselyPlugin } from 'kysely';
import type * as Mysql2 from 'mysql2';
import type pg from 'pg';
import type { ConnectionOptions } from 'node:tls';

import { parseMysqlUrl, parsePostgresUrl, redactDbUrl, sqlitePath } from './config.ts';
import type { PgConnection, StorageBackend, StorageConfig } from './config.ts';
import { StorageError, storageUnavailable } from './errors.ts';

export interface DatabaseOptions {
  /** Connections per pool for PostgreSQL and MySQL (default 10). */
  readonly poolSize?: number;
  readonly connectTimeoutMs?: number;
  /** Longest a single statement may run on PostgreSQL (default 10 s). */
  readonly statementTimeoutMs?: number;
  /** SQLite: how long a writer waits for another's lock (default 5 s). */
  readonly busyTimeoutMs?: number;
}

export interface Database<DB> {
  readonly backend: StorageBackend;
  readonly db: Kysely<DB>;
  /** The db_url with any password redacted, for logs. */
  readonly description: string;
  ping(): Promise<void>;
  close(): Promise<void>;
}

// Synchronous on purpose: `openDatabase` is synchronous, and each driver is a CommonJS package
// that `import()` would load no sooner. Each costs start-up time and resident memory (pg and
// mysql2 with their protocol stacks) that a deployment on another backend would never use.
const requireDriver = createRequire(import.meta.url);
const drivers = new Map<string, unknown>();

function loadDriver<T>(name: 'better-sqlite3' | 'mysql2' | 'pg'): T {
  let driver = drivers.get(name);
  if (driver === undefined) {
    try {
      driver = requireDriver(name);
    } catch (e) {
      throw storageUnavailable(`cannot load the ${name} database driver`, e);
    }
    drivers.set(name, driver);
  }
  return driver as T;
}

/** The pg package, loaded on first use (also for the server's LISTEN connection). */
export function pgDriver(): typeof pg {
  return loadDriver<typeof pg>('pg');
}

const DEFAULTS = { poolSize: 10, connectTimeoutMs: 5_000, statementTimeoutMs: 10_000, busyTimeoutMs: 5_000 };

/** `YYYY-MM-DD HH:MM:SS.mmm` in UTC: accepted by SQLite, PostgreSQL `timestamp` and MySQL `datetime`. */
export function sqlTimestamp(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '');
}

function sqliteDialect(dbUrl: string, busyTimeoutMs: number): Dialect {
  const path = sqlitePath(dbUrl);
  const inMemory = path === ':memory:';
  const created = !inMemory && !existsSync(path);
  let handle: BetterSqlite3.Database;
  try {
    const Sqlite = loadDriver<typeof BetterSqlite3>('better-sqlite3');
    handle = new Sqlite(path, { timeout: busyTimeoutMs });
    if (created) chmodSync(path, 0o600);
    if (!inMemory) handle.pragma('journal_mode = WAL');
    handle.pragma('synchronous = FULL');
    handle.pragma('foreign_keys = ON');
  } catch (e) {
    throw storageUnavailable(`cannot open SQLite database ${path}`, e);
  }
  return new SqliteDialect({ database: handle });
}

/** lib/pq's sslmode semantics as node:tls options (also used by the server's LISTEN connection). */
export function pgSsl(c: PgConnection): false | ConnectionOptions {
  if (c.sslMode === 'disable' || c.sslMode === 'allow' || c.sslMode === 'prefer') return false;
  const files: ConnectionOptions = {
    ...(c.sslRootCert !== undefined ? { ca: readFileSync(c.sslRootCert) } : {}),
    ...(c.sslCert !== undefined ? { cert: readFileSync(c.sslCert) } : {}),
    ...(c.sslKey !== undefined ? { key: readFileSync(c.sslKey) } : {}),
  };
  // lib/pq semantics: `require` encrypts without verifying, `verify-ca` skips the host name.
  if (c.sslMode === 'require') return { ...files, rejectUnauthorized: false };
  if (c.sslMode === 'verify-ca') return { ...files, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  return { ...files, rejectUnauthorized: true };
}

function postgresDialect(dbUrl: string, o: typeof DEFAULTS): Dialect {
  const c = parsePostgresUrl(dbUrl);
  let ssl: false | ConnectionOptions;
  try {
    ssl = pgSsl(c);
  } catch (e) {
    throw storageUnavailable('cannot read the PostgreSQL TLS files', e);
  }
  const pool = new (pgDriver().Pool)({
    host: c.host, port: c.port, user: c.user, password: c.password, database: c.database, ssl,
    max: o.poolSize, connectionTimeoutMillis: o.connectTimeoutMs, statement_timeout: o.statementTimeoutMs,
    query_timeout: o.statementTimeoutMs + 1_000, idleTimeoutMillis: 30_000,
  });
  pool.on('error', () => { /* an idle client lost its connection; the next query reports it */ });
  // A client checked out when the database dies emits 'error' besides rejecting its query; without
  // a listener that event would end the process.
  pool.on('connect', (client) => client.on('error', () => { /* the pending query reports it */ }));
  return new PostgresDialect({ pool });
}

function mysqlDialect(dbUrl: string, o: typeof DEFAULTS): Dialect {
  const c = parseMysqlUrl(dbUrl);
  const pool = loadDriver<typeof Mysql2>('mysql2').createPool({
    host: c.host, port: c.port, socketPath: c.socketPath, user: c.user, password: c.password,
    database: c.database, connectionLimit: o.poolSize, connectTimeout: c.connectTimeoutMs ?? o.connectTimeoutMs,
    timezone: 'Z', dateStrings: true, supportBigNumbers: true, bigNumberStrings: true,
  });
  return new MysqlDialect({ pool });
}

export function openDatabase<DB>(config: StorageConfig, options: DatabaseOptions = {}): Database<DB> {
  const o = { ...DEFAULTS, ...options };
  let dialect: Dialect;
  switch (config.backend) {
    case 'sqlite3': dialect = sqliteDialect(config.dbUrl, o.busyTimeoutMs); break;
    case 'postgres': dialect = postgresDialect(config.dbUrl, o); break;
    case 'mysql': dialect = mysqlDialect(config.dbUrl, o); break;
    default: throw new StorageError('STORAGE_CONFIG_INVALID', `unsupported backend ${String(config.backend)}`);
  }
  const description = `${config.backend} ${redactDbUrl(config)}`;
  let closed: Promise<void> | undefined;
  // Kysely re-initialises a driver destroyed before its first query; refuse instead.
  const closedGuard: KyselyPlugin = {
    transformQuery: (args) => {
      if (closed !== undefined) throw new StorageError('STORAGE_UNAVAILABLE', `database ${description} is closed`);
      return args.node;
    },
    transformResult: (args) => Promise.resolve(args.result),
  };
  const db = new Kysely<DB>({ dialect, plugins: [closedGuard] });
  return {
    backend: config.backend, db, description,
    ping: async () => {
      try {
        await sql`select 1`.execute(db);
      } catch (e) {
        throw storageUnavailable(`database ${description} is not reachable`, e);
      }
    },
    close: () => (closed ??= db.destroy().catch(() => undefined)),
  };
}

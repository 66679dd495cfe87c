/**
 * Notary-style storage configuration (`storage.backend` + `storage.db_url`) turned into driver
 * connection settings.
 *
 * Contract:
 * - `sqlite3`: `db_url` is a file path (`file:` prefix and `?…` options tolerated) or `:memory:`.
 * - `postgres`: a lib/pq URL (`postgres://user:pw@host:port/db?sslmode=…`) or key/value DSN
 *   (`host=… dbname=… sslmode=…`). As in lib/pq, a missing `sslmode` means `require`.
 * - `mysql`: a Go go-sql-driver DSN (`user:pw@tcp(host:port)/db?parseTime=true`), or a
 *   `mysql://` URL. Go-only parameters (`parseTime`, `charset`, …) are accepted and ignored.
 * - Every parse failure is `StorageError('STORAGE_CONFIG_INVALID')` whose message never includes
 *   the password; `redactDbUrl` gives a loggable form.
 */
import { StorageError } from './errors.ts';

export type StorageBackend = 'sqlite3' | 'postgres' | 'mysql';
export const STORAGE_BACKENDS: readonly StorageBackend[] = ['sqlite3', 'postgres', 'mysql'];

export interface StorageConfig {
  readonly backend: StorageBackend;
  readonly dbUrl: string;
}

export type PgSslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

export interface PgConnection {
  readonly host: string;
  readonly port: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  readonly sslMode: PgSslMode;
  readonly sslRootCert?: string;
  readonly sslCert?: string;
  readonly sslKey?: string;
}

export interface MysqlConnection {
  readonly host?: string;
  readonly port?: number;
  readonly socketPath?: string;
  readonly user?: string;
  readonly password?: string;
  readonly database: string;
  readonly connectTimeoutMs?: number;
}

const MAX_DB_URL = 4096;

function invalid(backend: string, why: string): StorageError {
  return new StorageError('STORAGE_CONFIG_INVALID', `invalid database source for ${backend}: ${why}`);
}

export function isStorageBackend(s: unknown): s is StorageBackend {
  return typeof s === 'string' && (STORAGE_BACKENDS as readonly string[]).includes(s);
}

/** Validates a `{backend, db_url}` pair as notary's `ParseSQLStorage` does. */
export function storageConfig(backend: unknown, dbUrl: unknown): StorageConfig {
  if (!isStorageBackend(backend)) {
    throw new StorageError('STORAGE_CONFIG_INVALID', `${String(backend)} is not a supported SQL backend driver (use ${STORAGE_BACKENDS.join(', ')})`);
  }
  if (typeof dbUrl !== 'string' || dbUrl === '') {
    throw new StorageError('STORAGE_CONFIG_INVALID', `must provide a non-empty database source for ${backend}`);
  }
  if (dbUrl.length > MAX_DB_URL) throw invalid(backend, 'too long');
  return { backend, dbUrl };
}

/** The SQLite file path of a `sqlite3` db_url. */
export function sqlitePath(dbUrl: string): string {
  let p = dbUrl.startsWith('file:') ? dbUrl.slice('file:'.length) : dbUrl;
  const q = p.indexOf('?');
  if (q >= 0) p = p.slice(0, q);
  if (p === '' || p.includes('\0')) throw invalid('sqlite3', 'empty or invalid file path');
  return p;
}

const SSL_MODES: readonly PgSslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

function pgFromParams(params: Map<string, string>): PgConnection {
  const sslMode = params.get('sslmode') ?? 'require';
  if (!(SSL_MODES as readonly string[]).includes(sslMode)) throw invalid('postgres', `unknown sslmode ${JSON.stringify(sslMode)}`);
  const port = Number(params.get('port') ?? '5432');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('postgres', 'bad port');
  const get = (k: string): string | undefined => {
    const v = params.get(k);
    return v === undefined || v === '' ? undefined : v;
  };
  return {
    host: get('host') ?? 'localhost', port, sslMode: sslMode as PgSslMode,
    user: get('user'), password: get('password'), database: get('dbname'),
    sslRootCert: get('sslrootcert'), sslCert: get('sslcert'), sslKey: get('sslkey'),
  };
}

/** key=value DSN: values may be single-quoted with `\'` and `\\` escapes. */
function parseKeyValueDsn(dsn: string): Map<string, string> {
  const params = new Map<string, string>();
  const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^\s']*))\s*/y;
  let i = 0;
  while (i < dsn.length) {
    re.lastIndex = i;
    const m = re.exec(dsn);
    if (m === null || re.lastIndex === i) throw invalid('postgres', 'unparsable key=value DSN');
    params.set(m[1]!, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
    i = re.lastIndex;
  }
  if (params.size === 0) throw invalid('postgres', 'empty DSN');
  return params;
}

export function parsePostgresUrl(dbUrl: string): PgConnection {
  if (!/^postgres(ql)?:\/\//.test(dbUrl)) return pgFromParams(parseKeyValueDsn(dbUrl));
  let u: URL;
  try {
    u = new URL(dbUrl);
  } catch {
    throw invalid('postgres', 'unparsable URL');
  }
  const params = new Map<string, string>(u.searchParams);
  if (u.hostname !== '') params.set('host', decodeURIComponent(u.hostname.replace(/^\[|\]$/g, '')));
  if (u.port !== '') params.set('port', u.port);
  if (u.username !== '') params.set('user', decodeURIComponent(u.username));
  if (u.password !== '') params.set('password', decodeURIComponent(u.password));
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (db !== '') params.set('dbname', db);
  return pgFromParams(params);
}

function goDuration(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(s);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

function mysqlFromUrl(dbUrl: string): MysqlConnection {
  let u: URL;
  try {
    u = new URL(dbUrl);
  } catch {
    throw invalid('mysql', 'unparsable URL');
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (database === '') throw invalid('mysql', 'no database name');
  return {
    host: u.hostname || '127.0.0.1', port: u.port === '' ? 3306 : Number(u.port), database,
    ...(u.username !== '' ? { user: decodeURIComponent(u.username) } : {}),
    ...(u.password !== '' ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/** go-sql-driver/mysql DSN: `[user[:password]@][net[(addr)]]/dbname[?params]`. */
export function parseMysqlUrl(dbUrl: string): MysqlConnection {
  if (dbUrl.startsWith('mysql://')) return mysqlFromUrl(dbUrl);
  const q = dbUrl.indexOf('?');
  const main = q >= 0 ? dbUrl.slice(0, q) : dbUrl;
  const query = new URLSearchParams(q >= 0 ? dbUrl.slice(q + 1) : '');
  const slash = main.lastIndexOf('/');
  if (slash < 0) throw invalid('mysql', 'missing the slash before the database name');
  const database = main.slice(slash + 1);
  if (database === '') throw invalid('mysql', 'no database name');
  const prefix = main.slice(0, slash);
  const at = prefix.lastIndexOf('@');
  const cred = at >= 0 ? prefix.slice(0, at) : '';
  const netAddr = at >= 0 ? prefix.slice(at + 1) : prefix;
  const colon = cred.indexOf(':');
  const user = colon >= 0 ? cred.slice(0, colon) : cred;
  const password = colon >= 0 ? cred.slice(colon + 1) : '';
  const m = /^(\w*)(?:\((.*)\))?$/.exec(netAddr);
  if (m === null) throw invalid('mysql', 'bad network address');
  const net = m[1] || 'tcp';
  const addr = m[2] ?? '';
  const timeout = query.get('timeout');
  const connectTimeoutMs = timeout === null ? undefined : goDuration(timeout);
  const common = {
    database, ...(user !== '' ? { user } : {}), ...(password !== '' ? { password } : {}),
    ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
  };
  if (net === 'unix') return { socketPath: addr || '/tmp/mysql.sock', ...common };
  if (net !== 'tcp' && net !== 'tcp6') throw invalid('mysql', `unsupported network ${JSON.stringify(net)}`);
  const hp = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(addr);
  if (hp === null) throw invalid('mysql', 'bad host:port');
  return { host: hp[1] ?? (hp[2] || '127.0.0.1'), port: hp[3] === undefined ? 3306 : Number(hp[3]), ...common };
}

/** A db_url safe to log: passwords replaced by `xxxxx`. */
export function redactDbUrl(config: StorageConfig): string {
  const { backend, dbUrl } = config;
  if (backend === 'sqlite3') return dbUrl;
  if (backend === 'postgres' && !/^postgres(ql)?:\/\//.test(dbUrl)) {
    return dbUrl.replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)/g, '$1xxxxx');
  }
  if (dbUrl.includes('://')) return dbUrl.replace(/^(\w+:\/\/[^:/@]*):[^@/]*@/, '$1:xxxxx@');
  const slash = dbUrl.lastIndexOf('/', dbUrl.includes('?') ? dbUrl.indexOf('?') : dbUrl.length);
  const at = dbUrl.lastIndexOf('@', slash);
  if (at < 0) return dbUrl;
  const colon = dbUrl.slice(0, at).indexOf(':');
  return colon < 0 ? dbUrl : `${dbUrl.slice(0, colon)}:xxxxx${dbUrl.slice(at)}`;
}

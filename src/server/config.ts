/**
 * notary-server's JSON configuration (docs/compatibility.md G1, G13–G21; notary's
 * cmd/notary-server/config.go) and its `NOTARY_SERVER_*` environment overrides, parsed into a
 * typed `ServerConfig`.
 *
 * Contract:
 * - Every scalar key notary reads can be overridden by `NOTARY_SERVER_<PATH>` (dots → `_`,
 *   upper-cased), e.g. `NOTARY_SERVER_STORAGE_DB_URL`; `repositories.gun_prefixes` takes a
 *   whitespace-separated list; map-valued keys (`auth.options`) cannot be overridden, as in notary.
 * - File paths of `server.*` and `trust_service.*` are relative to the config file's directory.
 * - Vouch additions: storage backend `sqlite3` (notary's name; `db_url` is a file path), and
 *   `trust_service.type: "local"` meaning Vouch's signer in-process with persistent keys
 *   (`trust_service.storage` defaults to the server's storage; `default_alias` and
 *   `passphrase_file` pick the key-encryption passphrase; `NOTARY_SIGNER_<ALIAS>` wins).
 * - Anything invalid is `ServerConfigError` with notary's wording where notary has one. Parsing
 *   reads no files: checking that certificate files load is the caller's job (and must fail
 *   closed).
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { VouchError } from '../errors.ts';
import { isJsonObject, parseJson, type JsonObject, type JsonValue } from '../tuf/canonical.ts';

export class ServerConfigError extends VouchError<'SERVER_CONFIG_INVALID'> {
  constructor(message: string) {
    super('SERVER_CONFIG_INVALID', message);
  }
}

export type KeyAlgorithm = 'ecdsa' | 'ed25519' | 'rsa';
export type StorageSection = { readonly backend: 'memory' } | { readonly backend: 'sqlite3' | 'postgres' | 'mysql'; readonly dbUrl: string };

export interface RemoteTrustService {
  readonly type: 'remote';
  readonly hostname: string;
  readonly port: number;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly tlsCaFile?: string;
  readonly tlsClientCert?: string;
  readonly tlsClientKey?: string;
}

export interface LocalTrustService {
  readonly type: 'local';
  readonly keyAlgorithm: KeyAlgorithm;
  /** Where keys live; undefined: the server's own storage (memory storage keeps keys in memory). */
  readonly storage?: StorageSection;
  readonly defaultAlias: string;
  readonly passphraseFile?: string;
}

export interface TokenAuthSection {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly rootCertBundle: string;
  readonly autoRedirect: boolean;
}

/** `auth.type: "basic"`: HTTP basic auth against an htpasswd file of bcrypt hashes (basic-auth.ts). */
export interface BasicAuthSection {
  readonly htpasswdFile: string;
}

export interface ServerConfig {
  readonly httpAddr: { readonly host: string; readonly port: number };
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly clientCaFile?: string };
  readonly trustService: RemoteTrustService | LocalTrustService;
  readonly storage: StorageSection;
  readonly auth?: TokenAuthSection;
  readonly basicAuth?: BasicAuthSection;
  readonly cacheControl: { readonly currentMaxAge: number; readonly consistentMaxAge: number };
  readonly gunPrefixes: readonly string[];
  /** A pino level. */
  readonly logLevel: string;
}

const MAX_AGE_LIMIT = 31_536_000;
const LOG_LEVELS: Record<string, string> = { debug: 'debug', info: 'info', warn: 'warn', warning: 'warn', error: 'error', fatal: 'fatal', panic: 'fatal' };

/** Reads `a.b.c` from the file, with the environment override taking precedence. */
class Reader {
  private readonly doc: JsonObject;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly base: string;

  constructor(doc: JsonObject, env: Readonly<Record<string, string | undefined>>, base: string) {
    this.doc = doc;
    this.env = env;
    this.base = base;
  }

  raw(path: string): JsonValue | undefined {
    let v: JsonValue | undefined = this.doc;
    for (const seg of path.split('.')) v = isJsonObject(v) ? v[seg] : undefined;
    return v;
  }

  string(path: string): string {
    const fromEnv = this.env[`NOTARY_SERVER_${path.replace(/\./g, '_').toUpperCase()}`];
    if (fromEnv !== undefined) return fromEnv;
    const v = this.raw(path);
    if (v === undefined || v === null) return '';
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new ServerConfigError(`${path} must be a scalar value`);
  }

  file(path: string): string | undefined {
    const s = this.string(path);
    if (s === '') return undefined;
    return isAbsolute(s) ? s : resolve(this.base, s);
  }

  strings(path: string): string[] {
    const fromEnv = this.env[`NOTARY_SERVER_${path.replace(/\./g, '_').toUpperCase()}`];
    if (fromEnv !== undefined) return fromEnv.split(/\s+/).filter((s) => s !== '');
    const v = this.raw(path);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ServerConfigError(`${path} must be a list of strings`);
    return v as string[];
  }
}

export function parseHttpAddr(addr: string): { host: string; port: number } {
  if (addr === '') throw new ServerConfigError('http listen address required for server');
  const colon = addr.lastIndexOf(':');
  if (colon < 0) throw new ServerConfigError(`invalid http listen address ${addr}: missing port`);
  let host = addr.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = Number(addr.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535 || addr.slice(colon + 1) === '') throw new ServerConfigError(`invalid http listen address ${addr}: bad port`);
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function keyAlgorithm(s: string, required: boolean): KeyAlgorithm {
  if (s === '' && !required) return 'ecdsa';
  if (s !== 'ecdsa' && s !== 'ed25519' && s !== 'rsa') throw new ServerConfigError(`invalid key algorithm configured: ${s}`);
  return s;
}

function storageSection(r: Reader, prefix: string): StorageSection {
  const backend = r.string(`${prefix}.backend`);
  if (backend === 'memory') return { backend };
  if (backend === 'sqlite3' || backend === 'postgres' || backend === 'mysql') {
    const dbUrl = r.string(`${prefix}.db_url`);
    if (dbUrl === '') throw new ServerConfigError(`must provide a non-empty database source for ${backend}`);
    return { backend, dbUrl };
  }
  throw new ServerConfigError(`${backend} is not a supported storage backend`);
}

function trustService(r: Reader): RemoteTrustService | LocalTrustService {
  const type = r.string('trust_service.type');
  if (type === 'local') {
    const hasStorage = r.raw('trust_service.storage') !== undefined || r.string('trust_service.storage.backend') !== '';
    const passphraseFile = r.file('trust_service.passphrase_file');
    return {
      type, keyAlgorithm: keyAlgorithm(r.string('trust_service.key_algorithm'), false),
      defaultAlias: r.string('trust_service.default_alias') || 'vouch',
      ...(hasStorage ? { storage: storageSection(r, 'trust_service.storage') } : {}),
      ...(passphraseFile !== undefined ? { passphraseFile } : {}),
    };
  }
  if (type !== 'remote') throw new ServerConfigError('must specify either a "local" or "remote" type for trust_service');
  const alg = keyAlgorithm(r.string('trust_service.key_algorithm'), true);
  const cert = r.file('trust_service.tls_client_cert');
  const key = r.file('trust_service.tls_client_key');
  if ((cert === undefined) !== (key === undefined)) throw new ServerConfigError('either pass both client key and cert, or neither');
  const port = Number(r.string('trust_service.port'));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ServerConfigError(`invalid trust_service.port ${r.string('trust_service.port')}`);
  const hostname = r.string('trust_service.hostname');
  if (hostname === '') throw new ServerConfigError('trust_service.hostname is required for a remote trust service');
  const ca = r.file('trust_service.tls_ca_file');
  return {
    type, hostname, port, keyAlgorithm: alg,
    ...(ca !== undefined ? { tlsCaFile: ca } : {}),
    ...(cert !== undefined && key !== undefined ? { tlsClientCert: cert, tlsClientKey: key } : {}),
  };
}

function maxAge(r: Reader, option: string, fallback: number): number {
  const s = r.string(`caching.max_age.${option}`);
  if (s === '') return fallback;
  const n = Number(s);
  if (!/^\d+$/.test(s.trim()) || !Number.isInteger(n) || n < 0 || n > MAX_AGE_LIMIT) {
    throw new ServerConfigError(`must specify a cache-control max-age between 0 and ${MAX_AGE_LIMIT}`);
  }
  return n;
}

function gunPrefixes(r: Reader): string[] {
  const prefixes = r.strings('repositories.gun_prefixes');
  for (const p of prefixes) {
    const trimmed = p.trim();
    const segments = trimmed.split('/').filter((s) => s !== '');
    const clean = segments.join('/');
    if (`${clean}/` !== p || trimmed.startsWith('/') || trimmed.startsWith('..') || segments.some((s) => s === '.' || s === '..')) {
      throw new ServerConfigError(`invalid GUN prefix ${p}`);
    }
  }
  return prefixes;
}

function auth(r: Reader): TokenAuthSection | BasicAuthSection | undefined {
  const type = r.string('auth.type');
  if (type === '') return undefined;
  if (type !== 'token' && type !== 'basic') throw new ServerConfigError(`unsupported auth type ${type}: only "token" and "basic" are available`);
  const options = r.raw('auth.options');
  if (!isJsonObject(options)) throw new ServerConfigError('auth.options must be a map[string]interface{}');
  if (type === 'basic') {
    const file = r.file('auth.options.htpasswd');
    if (file === undefined) throw new ServerConfigError('basic auth requires a valid option string: "htpasswd"');
    return { htpasswdFile: file };
  }
  const need = (k: string): string => {
    const v = options[k];
    if (typeof v !== 'string' || v === '') throw new ServerConfigError(`token auth requires a valid option string: "${k}"`);
    return v;
  };
  return {
    realm: need('realm'), service: need('service'), issuer: need('issuer'), rootCertBundle: need('rootcertbundle'),
    autoRedirect: options['autoredirect'] === true || options['autoredirect'] === 'true',
  };
}

function tlsSection(r: Reader): ServerConfig['tls'] {
  const certFile = r.file('server.tls_cert_file');
  const keyFile = r.file('server.tls_key_file');
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new ServerConfigError('Partial TLS configuration found. Either include both a cert and key file in the configuration, or include neither to disable TLS.');
  }
  const clientCaFile = r.file('server.client_ca_file');
  return { certFile, keyFile, ...(clientCaFile !== undefined ? { clientCaFile } : {}) };
}

/** Parses config text (from `configPath`, for relative paths) with environment overrides. */
export function parseServerConfig(text: string, configPath: string, env: Readonly<Record<string, string | undefined>>): ServerConfig {
  let doc: JsonValue;
  try {
    doc = parseJson(Buffer.from(text, 'utf8'), 'configuration');
  } catch (e) {
    throw new ServerConfigError(`could not read configuration ${configPath}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isJsonObject(doc)) throw new ServerConfigError(`configuration ${configPath} must be a JSON object`);
  const r = new Reader(doc, env, dirname(resolve(configPath)));
  const levelName = r.string('logging.level').toLowerCase();
  const logLevel = levelName === '' ? 'error' : Object.hasOwn(LOG_LEVELS, levelName) ? LOG_LEVELS[levelName] : undefined;
  if (logLevel === undefined) throw new ServerConfigError(`not a valid logrus Level: "${levelName}"`);
  const tls = tlsSection(r);
  const authSection = auth(r);
  return {
    httpAddr: parseHttpAddr(r.string('server.http_addr')),
    ...(tls !== undefined ? { tls } : {}),
    trustService: trustService(r),
    storage: storageSection(r, 'storage'),
    ...(authSection === undefined ? {} : 'htpasswdFile' in authSection ? { basicAuth: authSection } : { auth: authSection }),
    cacheControl: { currentMaxAge: maxAge(r, 'current_metadata', 300), consistentMaxAge: maxAge(r, 'consistent_metadata', 2_592_000) },
    gunPrefixes: gunPrefixes(r),
    logLevel,
  };
}

/**
 * notary-signer's JSON configuration (docs/compatibility.md J7) with notary's environment overrides.
 *
 * Contract:
 * - Keys read: `server.{grpc_addr,tls_cert_file,tls_key_file,client_ca_file}`,
 *   `storage.{backend,db_url,default_alias}`, `logging.level`, and Vouch's own
 *   `vouch.last_used_refresh_ms`; other keys are ignored, as viper does. Each is overridden by `NOTARY_SIGNER_<KEY with . → _, upper-cased>` when that variable
 *   is set and non-empty (e.g. `NOTARY_SIGNER_STORAGE_DB_URL`); the default alias falls back to
 *   `NOTARY_SIGNER_DEFAULT_ALIAS`.
 * - TLS file paths and a relative SQLite path are resolved against the config file's directory.
 * - Backend `memory` (notary's in-memory store) becomes a private in-memory SQLite database whose
 *   keys use notary's constant passphrase; `rethinkdb` is refused.
 * - Every problem is `SignerError('SIGNER_CONFIG_INVALID')` with notary's wording where it has one.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

import { storageConfig } from '../storage/config.ts';
import type { StorageConfig } from '../storage/config.ts';
import { StorageError } from '../storage/errors.ts';
import { SignerError } from './errors.ts';
import { parseLogLevel } from './log.ts';
import type { LogLevel } from './log.ts';
import type { ServerTlsFiles } from './tls.ts';

export const ENV_PREFIX = 'NOTARY_SIGNER';
/** notary's memory backend passphrase (cmd/notary-signer/config.go). */
export const MEMORY_ALIAS = 'memory';
export const MEMORY_PASSPHRASE = 'memory-db-ignore';
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface SignerConfig {
  readonly configFile: string;
  readonly grpcAddr: string;
  readonly tls: ServerTlsFiles;
  readonly storage: StorageConfig;
  /** True for notary's `memory` backend (keys vanish on exit). */
  readonly memory: boolean;
  /** Alias new keys are encrypted under; undefined only when not configured (start refuses). */
  readonly defaultAlias: string | undefined;
  readonly logLevel: LogLevel;
  /** Vouch extension `vouch.last_used_refresh_ms` (default 60000; 0 writes on every signature, as notary does). */
  readonly lastUsedRefreshMs?: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function invalid(msg: string): SignerError {
  return new SignerError('SIGNER_CONFIG_INVALID', msg);
}

/** Viper's lookup: the env override if set, else the config file's string at `path`. */
export function configValue(json: Record<string, unknown>, env: Env, path: string): string | undefined {
  const fromEnv = env[`${ENV_PREFIX}_${path.replace(/\./g, '_').toUpperCase()}`];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  let node: unknown = json;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  if (node === undefined || node === null) return undefined;
  if (typeof node === 'string') return node;
  if (typeof node === 'number' || typeof node === 'boolean') return String(node);
  throw invalid(`config key ${path} must be a string`);
}

function relativeTo(configDir: string, p: string | undefined): string | undefined {
  if (p === undefined || p === '') return p;
  return isAbsolute(p) ? p : resolve(configDir, p);
}

function parseJson(text: string, configFile: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw invalid(`Could not read config at :${configFile}, error: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid(`Could not read config at :${configFile}: not a JSON object`);
  return json as Record<string, unknown>;
}

function parseStorage(get: (p: string) => string | undefined, configDir: string): { storage: StorageConfig; memory: boolean } {
  const backend = get('storage.backend');
  if (backend === 'memory') return { storage: { backend: 'sqlite3', dbUrl: ':memory:' }, memory: true };
  if (backend === 'rethinkdb') throw invalid('rethinkdb is not supported by vouch signer: use sqlite3, postgres or mysql');
  try {
    const cfg = storageConfig(backend, get('storage.db_url'));
    if (cfg.backend !== 'sqlite3' || cfg.dbUrl === ':memory:') return { storage: cfg, memory: false };
    return { storage: { backend: 'sqlite3', dbUrl: relativeTo(configDir, cfg.dbUrl.replace(/^file:/, '')) ?? cfg.dbUrl }, memory: false };
  } catch (e) {
    if (e instanceof StorageError) throw invalid(e.message);
    throw e;
  }
}

export function parseSignerConfig(text: string, configFile: string, env: Env): SignerConfig {
  const json = parseJson(text, configFile);
  const configDir = dirname(resolve(configFile));
  const get = (p: string): string | undefined => configValue(json, env, p);
  const grpcAddr = get('server.grpc_addr') ?? '';
  if (grpcAddr === '') throw invalid('grpc listen address required for server');
  const levelText = get('logging.level');
  const logLevel = levelText === undefined || levelText === '' ? 'error' : parseLogLevel(levelText);
  if (logLevel === undefined) throw invalid(`not a valid logrus Level: ${JSON.stringify(levelText)}`);
  const { storage, memory } = parseStorage(get, configDir);
  const alias = memory ? MEMORY_ALIAS : get('storage.default_alias') || (get('default_alias') ?? undefined);
  const caFile = relativeTo(configDir, get('server.client_ca_file'));
  const refresh = get('vouch.last_used_refresh_ms');
  const lastUsedRefreshMs = refresh === undefined ? undefined : Number(refresh);
  if (lastUsedRefreshMs !== undefined && (!Number.isSafeInteger(lastUsedRefreshMs) || lastUsedRefreshMs < 0)) {
    throw invalid('vouch.last_used_refresh_ms must be a non-negative integer');
  }
  return {
    configFile, grpcAddr, storage, memory, defaultAlias: alias === '' ? undefined : alias, logLevel,
    ...(lastUsedRefreshMs !== undefined ? { lastUsedRefreshMs } : {}),
    tls: {
      certFile: relativeTo(configDir, get('server.tls_cert_file')) ?? '',
      keyFile: relativeTo(configDir, get('server.tls_key_file')) ?? '',
      ...(caFile !== undefined && caFile !== '' ? { clientCaFile: caFile } : {}),
    },
  };
}

export function readSignerConfig(configFile: string, env: Env): SignerConfig {
  let text: string;
  try {
    const buf = readFileSync(configFile);
    if (buf.length > MAX_CONFIG_BYTES) throw new Error('file too large');
    text = buf.toString('utf8');
  } catch (e) {
    throw invalid(`Could not read config at :${configFile}, error: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseSignerConfig(text, configFile, env);
}

/** `host:port` for grpc-js from Go's listen syntax (`:7899` listens on every interface). */
export function listenAddress(grpcAddr: string): string {
  const m = /^(\[[^\]]*\]|[^:[\]]*):(\d{1,5})$/.exec(grpcAddr);
  if (m === null || Number(m[2]) > 65535) throw invalid(`grpc listen address ${JSON.stringify(grpcAddr)} is not host:port`);
  return `${m[1] === '' ? '0.0.0.0' : m[1]}:${m[2]}`;
}

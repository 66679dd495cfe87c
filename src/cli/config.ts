/**
 * The client configuration: notary's `config.json` format (docs/formats.md §10.5, docs/compatibility.md
 * J1–J3) plus the trust-dir defaults of the two CLIs Vouch stands in for.
 *
 * Contract:
 * - Trust dir precedence: `-d/--trustDir` (relative to the working directory), then `trust_dir` in
 *   the config file, then one default for every Vouch command: docker's `$DOCKER_CONFIG/trust` or
 *   `~/.docker/trust` — except that a machine with only a notary trust dir (`~/.notary`) keeps
 *   using it, so `vouch key list` and `vouch list` always look at the same keys and a notary user's
 *   scripts find their keys without `-d`. A leading `~/` is expanded everywhere.
 * - Config file: `-c/--configFile` (must exist: `error opening config file: …`), else
 *   `~/.notary/config.json` when present. Keys match case-insensitively, as notary's viper
 *   does. Relative paths in the file (`trust_dir`, `remote_server.root_ca`, `tls_client_cert`,
 *   `tls_client_key`, `trust_pinning.ca` values) resolve against the file's directory; notary
 *   itself resolves `trust_dir` against the working directory — Vouch follows its docs here.
 * - A value of the wrong type is an error naming the key; unknown keys are ignored.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { VouchError } from '../errors.ts';

export const DEFAULT_NOTARY_SERVER_URL = 'https://notary-server:4443';
const MAX_CONFIG_BYTES = 1024 * 1024;

export class ConfigError extends VouchError<'CONFIG_ERROR'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG_ERROR', message, options);
  }
}

export interface RemoteServerConfig {
  /** Undefined when neither a flag nor the file sets it (docker derives it from the registry). */
  readonly url: string | undefined;
  readonly rootCa: string | undefined;
  readonly tlsClientCert: string | undefined;
  readonly tlsClientKey: string | undefined;
  readonly skipTlsVerify: boolean;
}

export interface TrustPinningConfig {
  readonly certs: Readonly<Record<string, readonly string[]>>;
  readonly ca: Readonly<Record<string, string>>;
  readonly disableTofu: boolean;
}

export interface ClientConfig {
  /** The config file that was read, if any. */
  readonly configFile: string | undefined;
  /** Absolute trust directory. */
  readonly trustDir: string;
  readonly remoteServer: RemoteServerConfig;
  readonly trustPinning: TrustPinningConfig;
}

export type ConfigDefaults = 'docker' | 'notary';

export interface LoadConfigOptions {
  readonly defaults: ConfigDefaults;
  /** `-d/--trustDir`. */
  readonly trustDir?: string | undefined;
  /** `-c/--configFile`. */
  readonly configFile?: string | undefined;
  /** `-s/--server`, `--tlscacert`, `--tlscert`, `--tlskey` (paths relative to `cwd`). */
  readonly server?: string | undefined;
  readonly tlsCaCert?: string | undefined;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  readonly home?: string;
}

function expandHome(path: string, home: string): string {
  if (path === '~') return home;
  return path.startsWith('~/') ? join(home, path.slice(2)) : path;
}

/**
 * `$DOCKER_CONFIG/trust` or `~/.docker/trust`; `~/.notary` instead when only that one exists.
 * `defaults` no longer changes the trust dir (only the default server URL): one policy everywhere.
 */
export function defaultTrustDir(_defaults: ConfigDefaults, env: Readonly<Record<string, string | undefined>> = process.env,
  home: string = homedir(), cwd: string = process.cwd(), exists: (p: string) => boolean = existsSync): string {
  const dockerConfig = env['DOCKER_CONFIG'];
  const docker = dockerConfig !== undefined && dockerConfig !== '' ? resolve(cwd, expandHome(dockerConfig, home), 'trust') : join(home, '.docker', 'trust');
  const notary = join(home, '.notary');
  if (!exists(docker) && (exists(join(notary, 'private')) || exists(join(notary, 'tuf')))) return notary;
  return docker;
}

export function loadClientConfig(opts: LoadConfigOptions): ClientConfig {
  const env = opts.env ?? process.env;
  const home = opts.home ?? homedir();
  const cwd = opts.cwd ?? process.cwd();
  const fromCwd = (p: string | undefined): string | undefined => (p === undefined || p === '' ? undefined : resolve(cwd, expandHome(p, home)));
  let configFile = fromCwd(opts.configFile);
  if (configFile === undefined) {
    const candidate = join(home, '.notary', 'config.json');
    if (isFile(candidate)) configFile = candidate;
  }
  const raw = configFile === undefined ? {} : readConfigObject(configFile);
  const where = configFile ?? '';
  const fromFile = (p: string | undefined): string | undefined =>
    p === undefined || p === '' ? undefined : resolve(dirname(where), expandHome(p, home));

  const remote = objectAt(raw, 'remote_server', where);
  const pinning = objectAt(raw, 'trust_pinning', where);
  const trustDir = fromCwd(opts.trustDir) ?? fromFile(stringAt(raw, 'trust_dir', where)) ?? defaultTrustDir(opts.defaults, env, home, cwd);
  const url = opts.server ?? stringAt(remote, 'url', where, 'remote_server.') ?? (opts.defaults === 'notary' ? DEFAULT_NOTARY_SERVER_URL : undefined);
  return {
    configFile,
    trustDir,
    remoteServer: {
      url: url === '' ? undefined : url,
      rootCa: fromCwd(opts.tlsCaCert) ?? fromFile(stringAt(remote, 'root_ca', where, 'remote_server.')),
      tlsClientCert: fromCwd(opts.tlsCert) ?? fromFile(stringAt(remote, 'tls_client_cert', where, 'remote_server.')),
      tlsClientKey: fromCwd(opts.tlsKey) ?? fromFile(stringAt(remote, 'tls_client_key', where, 'remote_server.')),
      skipTlsVerify: boolAt(remote, 'skiptlsverify', where, 'remote_server.') ?? false,
    },
    trustPinning: {
      certs: certsAt(pinning, where),
      ca: Object.fromEntries(Object.entries(objectAt(pinning, 'ca', where, 'trust_pinning.')).map(([gun, v]) => {
        if (typeof v !== 'string') throw new ConfigError(`invalid config file ${where}: trust_pinning.ca.${gun} must be a string`);
        return [gun, fromFile(v) ?? ''];
      })),
      disableTofu: boolAt(pinning, 'disable_tofu', where, 'trust_pinning.') ?? false,
    },
  };
}

/** notary's check before it builds a TLS client. */
export function checkTlsClientPair(remote: RemoteServerConfig): void {
  if ((remote.tlsClientCert === undefined) !== (remote.tlsClientKey === undefined)) {
    throw new ConfigError('either pass both client key and cert, or neither');
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

type JsonRecord = Record<string, unknown>;

function readConfigObject(path: string): JsonRecord {
  let text: string;
  try {
    if (statSync(path).size > MAX_CONFIG_BYTES) throw new ConfigError(`error opening config file: ${path} is larger than 1 MiB`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : String(e);
    throw new ConfigError(`error opening config file: open ${path}: ${why}`, { cause: e });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`error opening config file: ${path} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`error opening config file: ${path} must hold a JSON object`);
  }
  return value as JsonRecord;
}

/** A member by case-insensitive name, as viper matches keys. */
function member(obj: JsonRecord, name: string): unknown {
  const key = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : obj[key];
}

function objectAt(obj: JsonRecord, name: string, where: string, prefix = ''): JsonRecord {
  const v = member(obj, name);
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`invalid config file ${where}: ${prefix}${name} must be an object`);
  return v as JsonRecord;
}

function stringAt(obj: JsonRecord, name: string, where: string, prefix = ''): string | undefined {
  const v = member(obj, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ConfigError(`invalid config file ${where}: ${prefix}${name} must be a string`);
  return v;
}

function boolAt(obj: JsonRecord, name: string, where: string, prefix = ''): boolean | undefined {
  const v = member(obj, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new ConfigError(`invalid config file ${where}: ${prefix}${name} must be true or false`);
}

function certsAt(pinning: JsonRecord, where: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [gun, ids] of Object.entries(objectAt(pinning, 'certs', where, 'trust_pinning.'))) {
    if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string')) {
      throw new ConfigError(`invalid config file ${where}: invalid format for trust_pinning.certs`);
    }
    out[gun] = ids;
  }
  return out;
}

/**
 * The gate's configuration: a JSON file (`--config`) and the command-line flags, which win.
 *
 * Contract: unknown keys, wrong types and missing required values fail with `GateError('CONFIG')`
 * naming the key; files named in the config resolve against the config file's directory; the
 * file is capped at 1 MiB. Upstream credentials come from `upstream.username`/`password`, else
 * from `~/.docker/config.json` (`$DOCKER_CONFIG`) for the upstream host.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { CredentialSource } from '../client/auth.ts';
import { dockerConfigSource } from '../client/credentials.ts';
import type { Logger } from '../client/log.ts';
import type { TrustPinning } from '../tuf/root-trust.ts';
import type { TokenAuthOptions } from '../server/auth.ts';
import { configError } from './errors.ts';
import { parsePolicies, type Policy } from './policy.ts';
import type { GunPrefix } from './server.ts';

const MAX_CONFIG_BYTES = 1 << 20;

export interface GateFlags {
  readonly upstream?: string;
  readonly listen?: string;
  readonly trustServer?: string;
  readonly trustCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly config?: string;
}

export interface GateConfig {
  readonly upstreamUrl: string;
  readonly upstreamCa?: string;
  readonly upstreamCredentials: readonly CredentialSource[];
  readonly host: string;
  readonly port: number;
  readonly trustServer: string;
  readonly trustCa?: string;
  readonly trustDir: string;
  readonly pinning?: TrustPinning;
  readonly ttlMs: number;
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly policies: readonly Policy[];
  readonly gunPrefixes: readonly GunPrefix[];
  readonly tokenAuth?: TokenAuthOptions;
  readonly allowInsecureListen: boolean;
}

type Obj = Record<string, unknown>;

function obj(v: unknown, where: string, keys: readonly string[]): Obj {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw configError(`${where} must be an object`);
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw configError(`${where}: unknown key ${JSON.stringify(k)}`);
  return v as Obj;
}

function str(o: Obj, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw configError(`${where}.${key} must be a non-empty string`);
  return v;
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw configError(`cannot read ${what} ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** `host:port` / `[v6]:port` / `:port` (loopback). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || !Number.isInteger(port) || port > 65_535) throw configError(`--listen must be HOST:PORT (e.g. 127.0.0.1:5000), not ${JSON.stringify(text)}`);
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '127.0.0.1' : m[2]);
  return { host, port };
}

function httpUrl(text: string, what: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw configError(`${what} must be an http(s) URL, not ${JSON.stringify(text)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw configError(`${what} must be an http(s) URL, not ${JSON.stringify(text)}`);
  return u.origin;
}

export function loadGateConfig(flags: GateFlags, env: Readonly<Record<string, string | undefined>>, log: Logger): GateConfig {
  let raw: Obj = {};
  let base = process.cwd();
  if (flags.config !== undefined) {
    const text = readText(flags.config, 'config file');
    if (text.length > MAX_CONFIG_BYTES) throw configError(`config file ${flags.config} is larger than 1 MiB`);
    try {
      raw = obj(JSON.parse(text), 'config', ['upstream', 'listen', 'trust_server', 'trust_dir', 'trust_pinning', 'tls', 'policies', 'gun_prefixes', 'auth', 'cache', 'allow_insecure_listen']);
    } catch (e) {
      if (e instanceof SyntaxError) throw configError(`config file ${flags.config} is not valid JSON: ${e.message}`);
      throw e;
    }
    base = dirname(resolve(flags.config));
  }
  const file = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(base, p));
  const up = obj(raw['upstream'], 'upstream', ['url', 'ca', 'username', 'password']);
  const upstreamUrl = flags.upstream ?? str(up, 'url', 'upstream');
  if (upstreamUrl === undefined) throw configError('no upstream registry: give --upstream URL (e.g. http://127.0.0.1:5001)');
  const ts = obj(raw['trust_server'], 'trust_server', ['url', 'ca', 'username', 'password']);
  const trustServer = flags.trustServer ?? str(ts, 'url', 'trust_server');
  if (trustServer === undefined) throw configError('no trust server: give --trust-server URL (e.g. https://notary.example.com:4443)');
  const listen = parseListen(flags.listen ?? str(raw, 'listen', 'config') ?? '127.0.0.1:5000');
  const tlsCfg = obj(raw['tls'], 'tls', ['cert', 'key']);
  const certFile = flags.tlsCert ?? file(str(tlsCfg, 'cert', 'tls'));
  const keyFile = flags.tlsKey ?? file(str(tlsCfg, 'key', 'tls'));
  if ((certFile === undefined) !== (keyFile === undefined)) throw configError('give both --tls-cert and --tls-key, or neither');
  const upstreamHost = new URL(httpUrl(upstreamUrl, '--upstream')).host;
  const user = str(up, 'username', 'upstream');
  const password = str(up, 'password', 'upstream');
  if ((user === undefined) !== (password === undefined)) throw configError('upstream.username and upstream.password go together');
  const creds: CredentialSource[] = user !== undefined && password !== undefined
    ? [{ get: () => Promise.resolve({ kind: 'basic', username: user, password }) }]
    : [dockerConfigSource(join(env['DOCKER_CONFIG'] ?? join(homedir(), '.docker'), 'config.json'), log)];
  const pin = obj(raw['trust_pinning'], 'trust_pinning', ['certs', 'ca', 'disable_tofu']);
  const certs = obj(pin['certs'], 'trust_pinning.certs', Object.keys(pin['certs'] ?? {}));
  const cas = obj(pin['ca'], 'trust_pinning.ca', Object.keys(pin['ca'] ?? {}));
  const pinning: TrustPinning | undefined = raw['trust_pinning'] === undefined ? undefined : {
    certs: Object.fromEntries(Object.entries(certs).map(([g, ids]) => {
      if (!Array.isArray(ids) || ids.some((i) => typeof i !== 'string')) throw configError(`trust_pinning.certs.${g} must be a list of key IDs`);
      return [g, ids as string[]];
    })),
    ca: Object.fromEntries(Object.entries(cas).map(([g, f]) => {
      if (typeof f !== 'string') throw configError(`trust_pinning.ca.${g} must be a file name`);
      return [g, readText(resolve(base, f), 'trust_pinning CA')];
    })),
    disableTofu: pin['disable_tofu'] === true,
  };
  const cache = obj(raw['cache'], 'cache', ['ttl_seconds']);
  const ttl = cache['ttl_seconds'] ?? 10;
  if (typeof ttl !== 'number' || !(ttl >= 0) || ttl > 86_400) throw configError('cache.ttl_seconds must be a number of seconds (0–86400)');
  const prefixes = raw['gun_prefixes'] ?? [];
  if (!Array.isArray(prefixes)) throw configError('gun_prefixes must be a list of {"prefix": …, "gun": …}');
  const gunPrefixes = prefixes.map((p, i) => {
    const o = obj(p, `gun_prefixes[${i}]`, ['prefix', 'gun']);
    const prefix = str(o, 'prefix', `gun_prefixes[${i}]`);
    const gun = str(o, 'gun', `gun_prefixes[${i}]`);
    if (prefix === undefined || gun === undefined) throw configError(`gun_prefixes[${i}] needs prefix and gun`);
    return { prefix, gun };
  });
  const auth = obj(raw['auth'], 'auth', ['type', 'options']);
  let tokenAuth: TokenAuthOptions | undefined;
  if (auth['type'] !== undefined) {
    if (auth['type'] !== 'token') throw configError('auth.type must be "token"');
    const o = obj(auth['options'], 'auth.options', ['realm', 'service', 'issuer', 'rootcertbundle']);
    const [realm, service, issuer, bundle] = ['realm', 'service', 'issuer', 'rootcertbundle'].map((k) => str(o, k, 'auth.options'));
    if (realm === undefined || service === undefined || issuer === undefined || bundle === undefined) throw configError('auth.options needs realm, service, issuer and rootcertbundle');
    tokenAuth = { realm, service, issuer, rootCertBundle: readText(resolve(base, bundle), 'auth root certificate bundle') };
  }
  const trustCa = flags.trustCa ?? file(str(ts, 'ca', 'trust_server'));
  const upstreamCa = file(str(up, 'ca', 'upstream'));
  return {
    upstreamUrl: httpUrl(upstreamUrl, '--upstream'), upstreamCredentials: creds,
    ...(upstreamCa !== undefined ? { upstreamCa: readText(upstreamCa, 'upstream CA') } : {}),
    host: listen.host, port: listen.port,
    trustServer: httpUrl(trustServer, '--trust-server'),
    ...(trustCa !== undefined ? { trustCa: readText(trustCa, 'trust server CA') } : {}),
    trustDir: file(str(raw, 'trust_dir', 'config')) ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'vouch-gate', upstreamHost.replace(/:/g, '_')),
    ...(pinning !== undefined ? { pinning } : {}),
    ttlMs: ttl * 1000,
    ...(certFile !== undefined && keyFile !== undefined ? { tls: { cert: Buffer.from(readText(certFile, 'TLS certificate')), key: Buffer.from(readText(keyFile, 'TLS key')) } } : {}),
    policies: parsePolicies(raw['policies']), gunPrefixes,
    ...(tokenAuth !== undefined ? { tokenAuth } : {}),
    allowInsecureListen: raw['allow_insecure_listen'] === true,
  };
}

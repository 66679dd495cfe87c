/**
 * Where docker's trust commands find their trust server and its TLS material (docs/formats.md
 * §12.1, docs/compatibility.md K14; docker `cli/trust/trust.go`).
 *
 * Contract:
 * - Server: `$DOCKER_CONTENT_TRUST_SERVER`, which must parse as an `https://` URL (`valid https URL
 *   required for trust server, got …`); else `https://notary.docker.io` for Docker Hub; else
 *   `https://<registry index name>` (docker adds no port).
 * - Docker's config directory is `$DOCKER_CONFIG`, else `~/.docker`.
 * - TLS for a server at `host[:port]` comes from `<config dir>/tls/<host[:port]>/` as docker's
 *   `ReadCertsDirectory` reads a certs directory: every `*.crt` is a CA added to the system roots,
 *   every `*.cert` needs its `*.key` (and the other way round). A missing directory means defaults.
 *   Unlike docker, verification is never skipped for a registry docker calls "insecure".
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { rootCertificates } from 'node:tls';
import { ClientError, ioReason, isErrno } from '../errors.ts';
import type { TlsOptions } from '../transport.ts';
import type { ImageReference } from './reference.ts';

export const DOCKER_HUB_NOTARY = 'https://notary.docker.io';
export const TRUST_SERVER_VARIABLE = 'DOCKER_CONTENT_TRUST_SERVER';
const MAX_PEM_BYTES = 1 << 20;

export type Env = Readonly<Record<string, string | undefined>>;

/** docker's `trust.Server`. */
export function trustServerUrl(ref: Pick<ImageReference, 'domain' | 'official'>, env: Env): string {
  const configured = env[TRUST_SERVER_VARIABLE];
  if (configured !== undefined && configured !== '') {
    let url: URL | undefined;
    try {
      url = new URL(configured);
    } catch {
      url = undefined;
    }
    if (url?.protocol !== 'https:') throw new ClientError('INVALID_INPUT', `valid https URL required for trust server, got ${configured}`);
    return configured;
  }
  return ref.official ? DOCKER_HUB_NOTARY : `https://${ref.domain}`;
}

/** `$DOCKER_CONFIG`, else `~/.docker`. */
export function dockerConfigDir(env: Env, home: string = homedir(), cwd: string = process.cwd()): string {
  const dir = env['DOCKER_CONFIG'];
  if (dir === undefined || dir === '') return join(home, '.docker');
  return resolve(cwd, dir.startsWith('~/') ? join(home, dir.slice(2)) : dir);
}

function readPem(path: string): string {
  try {
    if (statSync(path).size > MAX_PEM_BYTES) throw new ClientError('INVALID_INPUT', `${path} is larger than 1 MiB`);
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof ClientError) throw e;
    throw new ClientError('LOCAL_IO', `could not read ${path}: ${ioReason(e)}`, { cause: e });
  }
}

/** docker's `ReadCertsDirectory`; undefined when the directory does not exist. */
export function readCertsDirectory(dir: string): TlsOptions | undefined {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return undefined;
    throw new ClientError('LOCAL_IO', `could not read certificate directory ${dir}: ${ioReason(e)}`, { cause: e });
  }
  const cas: string[] = [];
  let cert: string | undefined;
  let key: string | undefined;
  for (const name of names) {
    if (name.endsWith('.crt')) cas.push(readPem(join(dir, name)));
    if (name.endsWith('.cert')) {
      const keyName = `${name.slice(0, -'.cert'.length)}.key`;
      if (!names.includes(keyName)) throw new ClientError('INVALID_INPUT', `missing key ${keyName} for client certificate ${name}. CA certificates must use the extension .crt`);
      cert = readPem(join(dir, name));
      key = readPem(join(dir, keyName));
    }
    if (name.endsWith('.key') && !names.includes(`${name.slice(0, -'.key'.length)}.cert`)) {
      throw new ClientError('INVALID_INPUT', `missing client certificate ${name.slice(0, -'.key'.length)}.cert for key ${name}`);
    }
  }
  return {
    // docker adds these CAs to the system pool rather than replacing it.
    ...(cas.length > 0 ? { ca: [...rootCertificates, ...cas].join('\n') } : {}),
    ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
  };
}

/** TLS options for `serverUrl` from `<config dir>/tls/<host[:port]>/`. */
export function trustServerTls(serverUrl: string, configDir: string): TlsOptions {
  // The authority as written (URL.host would drop an explicit :443), as Go's url.Host keeps it.
  const host = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(serverUrl)?.[1]?.replace(/^[^@]*@/, '') ?? new URL(serverUrl).host;
  return readCertsDirectory(join(configDir, 'tls', host)) ?? {};
}

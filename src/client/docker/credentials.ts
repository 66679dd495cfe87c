/**
 * The registry credentials docker would use for an image (`command.ResolveAuthConfig`): they are
 * looked up under the registry's index name — `https://index.docker.io/v1/` for Docker Hub, else
 * `host[:port]` — whatever host the request goes to, because docker sends the registry login to the
 * trust server too (docs/compatibility.md K15).
 *
 * Contract: `credHelpers[<host>]` or `credsStore` in `config.json` name a credential helper, which
 * is run as `docker-credential-<name> get` with the server key on stdin (5 s limit, 64 KiB of
 * output); a `<token>` username means an identity token. Without a helper the `auths` section is
 * read. A helper that fails or has no entry yields no credentials (and a debug line), never a throw.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CredentialSource, Credentials } from '../auth.ts';
import { dockerConfigSource } from '../credentials.ts';
import type { Logger } from '../log.ts';
import type { ImageReference } from './reference.ts';

export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';
const HELPER_TIMEOUT_MS = 5_000;
const MAX_HELPER_OUTPUT = 64 * 1024;
const MAX_CONFIG_BYTES = 1 << 20;

/** The key docker files a registry's credentials under. */
export function registryAuthKey(ref: Pick<ImageReference, 'domain' | 'official'>): string {
  return ref.official ? DOCKER_HUB_AUTH_KEY : ref.domain;
}

interface HelperConfig {
  readonly credsStore?: unknown;
  readonly credHelpers?: unknown;
}

async function readHelperConfig(file: string): Promise<HelperConfig> {
  try {
    const text = await readFile(file, 'utf8');
    if (text.length > MAX_CONFIG_BYTES) return {};
    const doc: unknown = JSON.parse(text);
    return typeof doc === 'object' && doc !== null ? doc : {};
  } catch {
    return {};
  }
}

function helperFor(config: HelperConfig, key: string): string | undefined {
  const host = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  const helpers = typeof config.credHelpers === 'object' && config.credHelpers !== null ? (config.credHelpers as Record<string, unknown>) : {};
  const named = helpers[key] ?? helpers[host];
  if (typeof named === 'string' && named !== '') return named;
  return typeof config.credsStore === 'string' && config.credsStore !== '' ? config.credsStore : undefined;
}

/** Runs `docker-credential-<helper> get`; undefined when it fails or knows nothing. */
function runHelper(helper: string, key: string, log: Logger): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) {
    log.warn(`ignoring credential helper with an invalid name: ${JSON.stringify(helper)}`);
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    // Loaded here, not at start-up: only a credential helper lookup runs a child process.
    const { spawn } = process.getBuiltinModule('node:child_process');
    const child = spawn(`docker-credential-${helper}`, ['get'], { stdio: ['pipe', 'pipe', 'ignore'], timeout: HELPER_TIMEOUT_MS });
    const chunks: Buffer[] = [];
    let size = 0;
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_HELPER_OUTPUT) chunks.push(c);
    });
    child.once('error', (e) => {
      log.debug(`credential helper docker-credential-${helper}: ${e.message}`);
      resolve(undefined);
    });
    child.once('close', (code) => {
      if (code !== 0 || size > MAX_HELPER_OUTPUT) {
        log.debug(`credential helper docker-credential-${helper} has no credentials for ${key}`);
        resolve(undefined);
        return;
      }
      try {
        const doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Username?: unknown; Secret?: unknown };
        const username = typeof doc.Username === 'string' ? doc.Username : '';
        const secret = typeof doc.Secret === 'string' ? doc.Secret : '';
        if (secret === '') resolve(undefined);
        else if (username === '<token>') resolve({ kind: 'identityToken', username: '', token: secret });
        else resolve({ kind: 'basic', username, password: secret });
      } catch {
        log.debug(`credential helper docker-credential-${helper} answered something that is not JSON`);
        resolve(undefined);
      }
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(key);
  });
}

/** The credentials docker would send for `key` (see `registryAuthKey`). */
export async function dockerCredentials(configDir: string, key: string, log: Logger): Promise<Credentials | undefined> {
  const file = join(configDir, 'config.json');
  const helper = helperFor(await readHelperConfig(file), key);
  if (helper !== undefined) return runHelper(helper, key, log);
  const host = key === DOCKER_HUB_AUTH_KEY ? 'index.docker.io' : key;
  return dockerConfigSource(file, log).get(host);
}

/** A credential source that answers with the registry's credentials for every host asked. */
export function registryCredentialSource(configDir: string, key: string, log: Logger): CredentialSource {
  let found: Promise<Credentials | undefined> | undefined;
  return {
    get: () => {
      found ??= dockerCredentials(configDir, key, log);
      return found;
    },
  };
}

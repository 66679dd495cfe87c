/**
 * What every `vouch trust` workflow works with, and how it opens the notary repository of an image
 * the way docker's `trust.GetNotaryRepository` does: server from §12.1, TLS from
 * `<docker config>/tls/<server host>/`, the registry login sent to the trust server's token
 * service, the trust directory `<docker config>/trust`, and the GUN = the image's full name.
 *
 * Contract: workflows print docker's messages through `io` (stdout/stderr text and yes/no
 * questions), never to the process streams directly, so they run the same in tests. The registry
 * is reached through `manifestOf` (the Registry API client by default, a stub in tests).
 */
import { join } from 'node:path';
import { TokenAuthenticator } from '../auth.ts';
import type { KeySource } from '../keys.ts';
import type { Logger } from '../log.ts';
import { RemoteStore } from '../remote.ts';
import { Repository } from '../repository.ts';
import { HttpTransport } from '../transport.ts';
import type { TrustPinning } from '../../tuf/root-trust.ts';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.ts';
import type { ManifestInfo } from '../registry/manifest.ts';
import { dockerCredentials, registryAuthKey, registryCredentialSource } from './credentials.ts';
import { registryApiHost, type ImageReference } from './reference.ts';
import { DOCKER_HUB_NOTARY, readCertsDirectory, trustServerTls, trustServerUrl, type Env } from './server.ts';

/** docker 28.5's notice when the trust server is Docker Hub's. */
export const DCT_RETIREMENT_WARNING = 'WARNING: Docker is retiring DCT for Docker Official Images (DOI).\n         For details, refer to https://docs.docker.com/go/dct-deprecation/\n\n';

export interface DockerIo {
  out(text: string): void;
  err(text: string): void;
  /** Writes `prompt` + ` [y/N] ` to stdout and reads one line; true only for `y`/`Y`. */
  confirm(prompt: string): Promise<boolean>;
}

export interface DockerContext {
  readonly env: Env;
  /** `$DOCKER_CONFIG` or `~/.docker`. */
  readonly configDir: string;
  /** Usually `<configDir>/trust`. */
  readonly trustDir: string;
  readonly keys: KeySource;
  /** Canonical IDs of the held keys whose role header is `role`, sorted (root: the preferred key first). */
  keyIdsForRole(role: string): Promise<string[]>;
  readonly log: Logger;
  readonly io: DockerIo;
  readonly pinning?: TrustPinning;
  readonly now?: () => Date;
  readonly userAgent?: string;
  /** The manifest a tag points at; defaults to asking the image's registry. */
  readonly manifestOf?: (ref: ImageReference) => Promise<ManifestInfo>;
}

export interface TrustSession {
  readonly ref: ImageReference;
  readonly repo: Repository;
  readonly serverUrl: string;
  close(): Promise<void>;
}

/**
 * HTTPS to the trust server at `serverUrl` for `ref`, as docker talks to it: TLS material from
 * `<docker config>/tls/<host>/`, the registry login offered to its token service.
 */
export function trustTransport(ctx: DockerContext, ref: ImageReference, serverUrl: string): HttpTransport {
  return new HttpTransport({
    baseUrl: serverUrl,
    tls: trustServerTls(serverUrl, ctx.configDir),
    userAgent: ctx.userAgent ?? 'vouch (docker trust)',
    authenticator: new TokenAuthenticator({
      gun: ref.name, clientId: 'docker',
      credentials: [registryCredentialSource(ctx.configDir, registryAuthKey(ref), ctx.log)],
    }),
  });
}

export function openTrust(ctx: DockerContext, ref: ImageReference): TrustSession {
  const serverUrl = trustServerUrl(ref, ctx.env);
  if (serverUrl === DOCKER_HUB_NOTARY) ctx.io.err(DCT_RETIREMENT_WARNING);
  const transport = trustTransport(ctx, ref, serverUrl);
  const repo = new Repository({
    gun: ref.name, trustDir: ctx.trustDir, keys: ctx.keys, log: ctx.log,
    remote: new RemoteStore(transport, ref.name),
    ...(ctx.pinning !== undefined ? { pinning: ctx.pinning } : {}),
    ...(ctx.now !== undefined ? { now: ctx.now } : {}),
  });
  return { ref, repo, serverUrl, close: () => transport.close() };
}

/** Opens the repository, runs `fn` with docker's changelist hygiene (K17), and closes it. */
export async function withTrust<T>(ctx: DockerContext, ref: ImageReference, fn: (s: TrustSession) => Promise<T>, opts: { clearChanges?: boolean } = {}): Promise<T> {
  const session = openTrust(ctx, ref);
  const clear = opts.clearChanges !== false;
  try {
    if (clear) await session.repo.changelist.clear();
    return await fn(session);
  } finally {
    try {
      if (clear) await session.repo.changelist.clear();
    } finally {
      await session.close();
    }
  }
}

function isLoopback(domain: string): boolean {
  const host = domain.replace(/:\d+$/, '');
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';
}

/** CA and client certificates for a registry: docker's `tls/` dir, then the daemon's certs.d. */
function registryTls(ctx: DockerContext, domain: string): { tls: ReturnType<typeof readCertsDirectory>; hint: string } {
  const own = join(ctx.configDir, 'tls', domain);
  const daemon = join('/etc/docker/certs.d', domain);
  return { tls: readCertsDirectory(own) ?? readCertsDirectory(daemon), hint: join(own, 'ca.crt') };
}

/** How `ref`'s registry is reached: host, TLS from docker's directories, the registry login. */
export function registryOptions(ctx: DockerContext, ref: ImageReference): RegistryClientOptions {
  const { tls, hint } = registryTls(ctx, ref.domain);
  return {
    host: registryApiHost(ref.domain),
    ...(tls !== undefined ? { tls } : {}),
    credentials: [registryCredentialSource(ctx.configDir, registryAuthKey(ref), ctx.log)],
    allowHttp: isLoopback(ref.domain),
    caHint: hint,
    userAgent: ctx.userAgent ?? 'vouch (docker trust)',
  };
}

/** The manifest `ref` points at, from its registry over the Registry HTTP API v2. */
export async function manifestOf(ctx: DockerContext, ref: ImageReference): Promise<ManifestInfo> {
  if (ctx.manifestOf !== undefined) return ctx.manifestOf(ref);
  const client = new RegistryClient(registryOptions(ctx, ref));
  const reference = ref.digest ?? ref.tag ?? 'latest';
  return client.getManifest(ref.path, reference, `${ref.familiarName}${ref.digest !== undefined ? `@${ref.digest}` : `:${reference}`}`);
}

/** The registry login name docker would use (`AuthConfig().Username`), if any. */
export async function registryUsername(ctx: DockerContext, ref: ImageReference): Promise<string | undefined> {
  const creds = await dockerCredentials(ctx.configDir, registryAuthKey(ref), ctx.log);
  return creds?.username === '' ? undefined : creds?.username;
}

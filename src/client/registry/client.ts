/**
 * A Registry HTTP API v2 client, just big enough to sign without a Docker engine: it fetches a
 * tag's manifest and reports the digest and size of the exact bytes served.
 *
 * Contract:
 * - `GET /v2/<path>/manifests/<tag|digest>` asking for docker schema 2 and OCI manifests and
 *   indexes; the body is capped at 4 MiB and checked by `parseManifest`. A `Docker-Content-Digest`
 *   header that disagrees with the bytes, or bytes that do not match a requested digest, fail with
 *   `DIGEST_MISMATCH`: the registry (or something in between) is lying.
 * - Auth is docker/distribution token auth (anonymous first, then the registry login) with
 *   `repository:<path>:pull`; `Basic` challenges are answered with the login.
 * - TLS as configured by the caller; with `allowHttp` (docker's default for 127.0.0.0/8, where it
 *   tries HTTPS, then HTTP) a failed HTTPS connection is retried over plain HTTP.
 * - Registry error bodies are rendered as distribution renders them: `manifest unknown: <msg>`.
 */
import { VouchError } from '../../errors.ts';
import { TokenAuthenticator, type CredentialSource } from '../auth.ts';
import { ClientError } from '../errors.ts';
import { headerValue, HttpTransport, type HttpResponse, type TlsOptions } from '../transport.ts';
import { ACCEPTED_MANIFEST_TYPES, MAX_MANIFEST_BYTES, parseManifest, type ManifestInfo } from './manifest.ts';

export type RegistryErrorCode =
  | 'MANIFEST_UNKNOWN' // manifest for <name>:<tag> not found: manifest unknown: …
  | 'NAME_UNKNOWN' // repository name not known to registry
  | 'UNAUTHORIZED' // unauthorized: authentication required
  | 'DENIED' // denied: requested access to the resource is denied
  | 'DIGEST_MISMATCH' // the bytes served do not have the digest announced or asked for
  | 'UNREACHABLE' // could not reach the registry (network, TLS)
  | 'BAD_RESPONSE' // not a manifest, too large, unexpected status
  | 'REGISTRY_ERROR'; // any other error the registry reported

export class RegistryError extends VouchError<RegistryErrorCode> {}

const MAX_ERROR_BODY = 64 * 1024;

export interface RegistryClientOptions {
  /** `host[:port]` serving the Registry API (`registry-1.docker.io` for docker.io). */
  readonly host: string;
  readonly tls?: TlsOptions;
  readonly credentials?: readonly CredentialSource[];
  /** Retry over plain HTTP when HTTPS cannot connect (loopback registries). */
  readonly allowHttp?: boolean;
  /** Shown in TLS errors: where a CA for this registry can be put. */
  readonly caHint?: string;
  readonly userAgent?: string;
}

interface RegistryErrorEntry {
  code?: unknown;
  message?: unknown;
}

/** distribution's `<code in lower case with spaces>: <message>` for each error of a body. */
export function registryErrorText(body: Buffer): { code: string; text: string } | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(body.subarray(0, MAX_ERROR_BODY).toString('utf8'));
  } catch {
    return undefined;
  }
  const errors = (doc as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  const parts = (errors as RegistryErrorEntry[]).map((e) => {
    const code = typeof e.code === 'string' ? e.code : 'UNKNOWN';
    const message = typeof e.message === 'string' ? e.message : '';
    return `${code.toLowerCase().replace(/_/g, ' ')}: ${message}`;
  });
  const first = (errors as RegistryErrorEntry[])[0];
  return { code: typeof first?.code === 'string' ? first.code : 'UNKNOWN', text: parts.join('; ') };
}

export class RegistryClient {
  private readonly opts: RegistryClientOptions;

  constructor(opts: RegistryClientOptions) {
    this.opts = opts;
  }

  private transport(scheme: 'https' | 'http', path: string): HttpTransport {
    return new HttpTransport({
      baseUrl: `${scheme}://${this.opts.host}/`,
      authenticator: new TokenAuthenticator({ gun: path, credentials: this.opts.credentials ?? [], clientId: 'vouch' }),
      userAgent: this.opts.userAgent ?? 'vouch',
      ...(scheme === 'https' && this.opts.tls !== undefined ? { tls: this.opts.tls } : {}),
      timeouts: { connectMs: 15_000, headersMs: 30_000, bodyMs: 60_000 },
    });
  }

  private unreachable(e: ClientError): RegistryError {
    let message = e.message.replace(/; trust its CA with --tlscacert or remote_server\.root_ca$/, '');
    if (e.code === 'TLS' && this.opts.caHint !== undefined) message += ` (trust the registry's CA by putting it in ${this.opts.caHint})`;
    return new RegistryError('UNREACHABLE', message, { cause: e });
  }

  /** One GET over HTTPS, or HTTP when allowed and HTTPS cannot connect. */
  private async get(path: string, resource: string, headers: Record<string, string>, maxBytes: number): Promise<HttpResponse> {
    const attempt = async (scheme: 'https' | 'http'): Promise<HttpResponse> => {
      const t = this.transport(scheme, path);
      try {
        return await t.request({ method: 'GET', url: resource, headers, maxBytes, access: 'pull' });
      } finally {
        await t.close();
      }
    };
    try {
      return await attempt('https');
    } catch (e) {
      if (!(e instanceof ClientError) || (e.code !== 'TLS' && e.code !== 'NETWORK')) throw this.mapTransport(e);
      if (this.opts.allowHttp !== true) throw this.unreachable(e);
      try {
        return await attempt('http');
      } catch (e2) {
        throw e2 instanceof ClientError && (e2.code === 'TLS' || e2.code === 'NETWORK') ? this.unreachable(e) : this.mapTransport(e2);
      }
    }
  }

  private mapTransport(e: unknown): unknown {
    if (e instanceof ClientError && e.code === 'BAD_RESPONSE') {
      return new RegistryError('BAD_RESPONSE', e.message.replace(/^trust server returned a bad response\./, 'the registry returned a bad response.'), { cause: e });
    }
    if (e instanceof ClientError && e.code === 'AUTH_FAILED') return new RegistryError('UNAUTHORIZED', e.message, { cause: e });
    return e;
  }

  /**
   * The manifest `reference` (a tag or `sha256:…`) of repository `path`; `display` names the
   * image in messages (docker's `manifest for <display> not found`).
   */
  async getManifest(path: string, reference: string, display: string): Promise<ManifestInfo> {
    const res = await this.get(path, `v2/${path}/manifests/${encodeURIComponent(reference).replace(/%3A/gi, ':')}`,
      { accept: ACCEPTED_MANIFEST_TYPES.join(', ') }, MAX_MANIFEST_BYTES);
    if (res.status !== 200) throw this.statusError(res, display);
    const info = parseManifest(res.body, headerValue(res.headers, 'content-type'), display);
    const announced = headerValue(res.headers, 'docker-content-digest');
    if (announced !== undefined && announced.startsWith('sha256:') && announced !== info.digest) {
      throw new RegistryError('DIGEST_MISMATCH', `the registry announced digest ${announced} for ${display} but sent a manifest whose digest is ${info.digest}`);
    }
    if (reference.startsWith('sha256:') && reference !== info.digest) {
      throw new RegistryError('DIGEST_MISMATCH', `the registry sent a manifest with digest ${info.digest} when ${reference} was asked for`);
    }
    return info;
  }

  private statusError(res: HttpResponse, display: string): RegistryError {
    const err = registryErrorText(res.body);
    if (res.status === 404) {
      const code = err?.code === 'NAME_UNKNOWN' ? 'NAME_UNKNOWN' : 'MANIFEST_UNKNOWN';
      return new RegistryError(code, `manifest for ${display} not found: ${err?.text ?? 'manifest unknown: manifest unknown'}`);
    }
    if (res.status === 401) return new RegistryError('UNAUTHORIZED', err?.text ?? 'unauthorized: authentication required');
    if (res.status === 403) return new RegistryError('DENIED', err?.text ?? 'denied: requested access to the resource is denied');
    if (err !== undefined) return new RegistryError('REGISTRY_ERROR', `${err.text} (HTTP ${res.status})`);
    return new RegistryError('BAD_RESPONSE', `the registry answered HTTP ${res.status} for the manifest of ${display}`);
  }
}

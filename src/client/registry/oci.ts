/**
 * Reading and writing one repository of a registry (Registry HTTP API v2 / OCI distribution 1.1):
 * what Sigstore signatures need beyond `RegistryClient`'s manifest fetch — blobs up and down,
 * manifests of any media type by tag or digest, manifest deletion and the referrers API.
 *
 * Contract:
 * - One connection setup per instance: the scheme (HTTPS, or HTTP when allowed and HTTPS cannot
 *   connect) is chosen on the first request and kept; tokens are cached by the authenticator, so a
 *   collection of thousands of tags costs no handshake per request.
 * - Every body read is capped (`MAX_MANIFEST_BYTES` for manifests, the caller's cap for blobs);
 *   every blob and manifest fetched by digest is checked against that digest (`DIGEST_MISMATCH`).
 * - `manifest()` and `referrers()` return undefined for 404; `referrers()` also for a registry
 *   without the referrers API (docker-registry 2.8 answers 404), so callers fall back to the
 *   referrers tag schema.
 * - Errors are `RegistryError`s with distribution's error text.
 */
import { TokenAuthenticator } from '../auth.ts';
import { ClientError } from '../errors.ts';
import { headerValue, HttpTransport, type Access, type HttpResponse } from '../transport.ts';
import { RegistryError, registryErrorText, type RegistryClientOptions } from './client.ts';
import { MAX_MANIFEST_BYTES, sha256Digest } from './manifest.ts';

export interface RawManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Buffer;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export class OciRepository {
  private readonly opts: RegistryClientOptions;
  /** Repository path in the registry (`team/app`). */
  readonly path: string;
  private transport: HttpTransport | undefined;
  private scheme: 'https' | 'http' | undefined;

  constructor(opts: RegistryClientOptions, path: string) {
    this.opts = opts;
    this.path = path;
  }

  private make(scheme: 'https' | 'http'): HttpTransport {
    return new HttpTransport({
      baseUrl: `${scheme}://${this.opts.host}/`,
      authenticator: new TokenAuthenticator({ gun: this.path, credentials: this.opts.credentials ?? [], clientId: 'vouch' }),
      userAgent: this.opts.userAgent ?? 'vouch',
      ...(scheme === 'https' && this.opts.tls !== undefined ? { tls: this.opts.tls } : {}),
      timeouts: { connectMs: 15_000, headersMs: 30_000, bodyMs: 60_000 },
    });
  }

  private async send(method: 'GET' | 'PUT' | 'POST' | 'HEAD' | 'DELETE', url: string, access: Access, opts: { headers?: Record<string, string>; body?: Buffer; maxBytes?: number } = {}): Promise<HttpResponse> {
    const req = { method, url, access, maxBytes: opts.maxBytes ?? MAX_MANIFEST_BYTES, ...(opts.headers !== undefined ? { headers: opts.headers } : {}), ...(opts.body !== undefined ? { body: opts.body } : {}) };
    const held = this.transport;
    if (held !== undefined) return this.wrap(() => held.request(req));
    const https = this.make('https');
    try {
      const res = await https.request(req);
      this.transport = https;
      this.scheme = 'https';
      return res;
    } catch (e) {
      await https.close();
      if (!(e instanceof ClientError) || (e.code !== 'TLS' && e.code !== 'NETWORK') || this.opts.allowHttp !== true) throw this.mapError(e);
      const http = this.make('http');
      try {
        const res = await http.request(req);
        this.transport = http;
        this.scheme = 'http';
        return res;
      } catch (e2) {
        await http.close();
        throw this.mapError(e2 instanceof ClientError && (e2.code === 'TLS' || e2.code === 'NETWORK') ? e : e2);
      }
    }
  }

  private async wrap(fn: () => Promise<HttpResponse>): Promise<HttpResponse> {
    try {
      return await fn();
    } catch (e) {
      throw this.mapError(e);
    }
  }

  private mapError(e: unknown): unknown {
    if (e instanceof ClientError && (e.code === 'TLS' || e.code === 'NETWORK')) {
      const hint = e.code === 'TLS' && this.opts.caHint !== undefined ? ` (trust the registry's CA by putting it in ${this.opts.caHint})` : '';
      return new RegistryError('UNREACHABLE', `${e.message.replace(/; trust its CA with --tlscacert or remote_server\.root_ca$/, '')}${hint}`, { cause: e });
    }
    if (e instanceof ClientError && e.code === 'BAD_RESPONSE') return new RegistryError('BAD_RESPONSE', e.message.replace(/^trust server returned a bad response\./, 'the registry returned a bad response.'), { cause: e });
    if (e instanceof ClientError && e.code === 'AUTH_FAILED') return new RegistryError('UNAUTHORIZED', e.message, { cause: e });
    return e;
  }

  private fail(res: HttpResponse, what: string): RegistryError {
    const err = registryErrorText(res.body);
    if (res.status === 401) return new RegistryError('UNAUTHORIZED', err?.text ?? 'unauthorized: authentication required');
    if (res.status === 403) return new RegistryError('DENIED', err?.text ?? 'denied: requested access to the resource is denied');
    if (res.status === 404) return new RegistryError(err?.code === 'NAME_UNKNOWN' ? 'NAME_UNKNOWN' : 'MANIFEST_UNKNOWN', `${what}: ${err?.text ?? 'not found'}`);
    return new RegistryError(err !== undefined ? 'REGISTRY_ERROR' : 'BAD_RESPONSE', `${what}: ${err?.text ?? 'unexpected answer'} (HTTP ${res.status})`);
  }

  /** The manifest `reference` (tag or digest) with any of `accept`'s media types; undefined when absent. */
  async manifest(reference: string, accept: readonly string[]): Promise<RawManifest | undefined> {
    const res = await this.send('GET', `v2/${this.path}/manifests/${reference}`, 'pull', { headers: { accept: accept.join(', ') } });
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.fail(res, `fetching manifest ${this.path}:${reference}`);
    const digest = sha256Digest(res.body);
    if (DIGEST.test(reference) && digest !== reference) throw new RegistryError('DIGEST_MISMATCH', `the registry sent a manifest with digest ${digest} when ${reference} was asked for`);
    const mediaType = headerValue(res.headers, 'content-type')?.split(';')[0]?.trim() ?? '';
    return { digest, mediaType, bytes: res.body };
  }

  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const res = await this.send('PUT', `v2/${this.path}/manifests/${reference}`, 'push,pull', { headers: { 'content-type': mediaType }, body: bytes });
    if (res.status !== 201) throw this.fail(res, `uploading manifest ${this.path}:${reference}`);
    return sha256Digest(bytes);
  }

  /** Deletes a manifest by digest; false when it was not there. */
  async deleteManifest(digest: string): Promise<boolean> {
    const res = await this.send('DELETE', `v2/${this.path}/manifests/${digest}`, '*');
    if (res.status === 404) return false;
    if (res.status !== 202 && res.status !== 200) throw this.fail(res, `deleting manifest ${this.path}@${digest}`);
    return true;
  }

  async blob(digest: string, maxBytes: number): Promise<Buffer> {
    const res = await this.send('GET', `v2/${this.path}/blobs/${digest}`, 'pull', { maxBytes });
    if (res.status !== 200) throw this.fail(res, `fetching blob ${digest}`);
    if (sha256Digest(res.body) !== digest) throw new RegistryError('DIGEST_MISMATCH', `the registry sent a blob that is not ${digest}`);
    return res.body;
  }

  /** Uploads a blob unless the registry already has it (monolithic upload); returns its digest. */
  async putBlob(bytes: Buffer): Promise<string> {
    const digest = sha256Digest(bytes);
    // The cap is checked against Content-Length, which a HEAD announces without sending a body.
    const head = await this.send('HEAD', `v2/${this.path}/blobs/${digest}`, 'push,pull', { maxBytes: Number.MAX_SAFE_INTEGER });
    if (head.status === 200) return digest;
    const start = await this.send('POST', `v2/${this.path}/blobs/uploads/`, 'push,pull');
    if (start.status !== 202) throw this.fail(start, 'starting a blob upload');
    const location = headerValue(start.headers, 'location');
    if (location === undefined) throw new RegistryError('BAD_RESPONSE', 'the registry started a blob upload without a Location');
    const url = new URL(location, `${this.scheme ?? 'https'}://${this.opts.host}/`);
    url.searchParams.set('digest', digest);
    const put = await this.send('PUT', url.href, 'push,pull', { headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    if (put.status !== 201) throw this.fail(put, `uploading blob ${digest}`);
    return digest;
  }

  /** The referrers index of `digest` (OCI 1.1 API); undefined when the registry has no such API. */
  async referrers(digest: string): Promise<Buffer | undefined> {
    const res = await this.send('GET', `v2/${this.path}/referrers/${digest}`, 'pull', { headers: { accept: 'application/vnd.oci.image.index.v1+json' } });
    if (res.status === 404 || res.status === 405) return undefined;
    if (res.status !== 200) throw this.fail(res, `listing referrers of ${digest}`);
    const type = headerValue(res.headers, 'content-type')?.split(';')[0]?.trim();
    return type === 'application/vnd.oci.image.index.v1+json' ? res.body : undefined;
  }

  async close(): Promise<void> {
    await this.transport?.close();
    this.transport = undefined;
  }
}

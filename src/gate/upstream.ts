/**
 * The upstream registry as the gate sees it: Registry HTTP API v2 GETs and HEADs with
 * docker/distribution token auth (or basic) per repository, over keep-alive connections, with
 * responses handed back as streams so blobs never sit in memory.
 *
 * Contract:
 * - `open(path, resource, method, accept)` sends the request with a cached token when there is
 *   one; a 401 challenge is answered through `TokenAuthenticator` (anonymous, then the
 *   configured credentials) and the request sent again. Redirects (blob storage) are followed up
 *   to 3 times, without the `Authorization` header when they leave the registry's origin.
 * - `manifest(path, digest)` reads at most 4 MiB and checks nothing itself: the caller compares
 *   the bytes with the signed hashes and length.
 * - Connection failures become `GateError('UPSTREAM')`; deadlines: 10 s to connect and for the
 *   response headers, 60 s of body inactivity.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { TokenAuthenticator, type CredentialSource } from '../client/auth.ts';
import { HttpTransport, type TlsOptions } from '../client/transport.ts';
import { ACCEPTED_MANIFEST_TYPES, MAX_MANIFEST_BYTES } from '../client/registry/manifest.ts';
import { GateError } from './errors.ts';

export interface UpstreamOptions {
  /** `http(s)://host[:port]` of the registry. */
  readonly url: string;
  readonly tls?: TlsOptions;
  readonly credentials?: readonly CredentialSource[];
  readonly userAgent?: string;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: IncomingMessage;
}

const HEADERS_TIMEOUT_MS = 10_000;
const BODY_IDLE_MS = 60_000;
const MAX_REDIRECTS = 3;

function header(h: IncomingMessage['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

export async function readCapped(body: IncomingMessage, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const chunk = c as Buffer;
    n += chunk.length;
    if (n > max) {
      body.destroy();
      throw new GateError('UPSTREAM', `the upstream sent more than ${max} bytes for ${what}`, 'upstream-too-large');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, n);
}

export class Upstream {
  readonly base: URL;
  private readonly o: UpstreamOptions;
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  private readonly httpsAgent: HttpsAgent;
  /** One authenticator per repository: tokens are scoped `repository:<path>:pull`. */
  private readonly auth = new Map<string, { authenticator: TokenAuthenticator; transport: HttpTransport }>();

  constructor(o: UpstreamOptions) {
    this.o = o;
    this.base = new URL(o.url);
    this.httpsAgent = new HttpsAgent({
      keepAlive: true, maxSockets: 64, minVersion: 'TLSv1.2',
      ...(o.tls?.ca !== undefined ? { ca: o.tls.ca } : {}),
      ...(o.tls?.cert !== undefined ? { cert: o.tls.cert, key: o.tls.key } : {}),
      rejectUnauthorized: o.tls?.insecureSkipVerify !== true,
    });
  }

  /** `host[:port]` as image names spell it. */
  get host(): string {
    return this.base.host;
  }

  private authFor(path: string): { authenticator: TokenAuthenticator; transport: HttpTransport } {
    let a = this.auth.get(path);
    if (a === undefined) {
      const authenticator = new TokenAuthenticator({ gun: path, credentials: this.o.credentials ?? [], clientId: 'vouch-gate' });
      // Used only to fetch tokens from the realm the registry names.
      const transport = new HttpTransport({ baseUrl: this.base.href, ...(this.o.tls !== undefined ? { tls: this.o.tls } : {}), userAgent: this.o.userAgent ?? 'vouch (gate)' });
      a = { authenticator, transport };
      if (this.auth.size > 10_000) this.auth.clear();
      this.auth.set(path, a);
    }
    return a;
  }

  private send(url: URL, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const https = url.protocol === 'https:';
      const req = (https ? httpsRequest : httpRequest)(url, {
        method, headers: { 'user-agent': this.o.userAgent ?? 'vouch (gate)', ...headers },
        agent: https ? this.httpsAgent : this.httpAgent,
      });
      const timer = setTimeout(() => req.destroy(new Error(`no response within ${HEADERS_TIMEOUT_MS / 1000} s`)), HEADERS_TIMEOUT_MS);
      req.once('response', (res) => {
        clearTimeout(timer);
        res.setTimeout(BODY_IDLE_MS, () => res.destroy(new Error('the upstream stopped sending')));
        resolve(res);
      });
      req.once('error', (e) => {
        clearTimeout(timer);
        reject(new GateError('UPSTREAM', `could not reach the upstream ${url.origin}: ${e.message}`, 'upstream-unreachable', { cause: e }));
      });
      req.end();
    });
  }

  /** One request for `resource` (`/v2/…`) of repository `path`, authenticated as needed. */
  async open(path: string, resource: string, method: 'GET' | 'HEAD', extraHeaders: Record<string, string> = {}): Promise<UpstreamResponse> {
    const { authenticator, transport } = this.authFor(path);
    let url = new URL(resource, this.base);
    const headers = { ...extraHeaders };
    const cached = authenticator.cached('pull');
    if (cached !== undefined) headers['authorization'] = cached;
    let res = await this.send(url, method, headers);
    for (let attempt = 0; attempt < 2 && res.statusCode === 401; attempt++) {
      const challenge = header(res.headers, 'www-authenticate');
      if (challenge === undefined) break;
      res.resume();
      let answer: string | undefined;
      try {
        answer = await authenticator.answer(challenge, 'pull', attempt, transport);
      } catch (e) {
        throw new GateError('UPSTREAM', `the upstream's token service failed: ${e instanceof Error ? e.message : String(e)}`, 'upstream-auth', { cause: e });
      }
      if (answer === undefined) continue;
      headers['authorization'] = answer;
      res = await this.send(url, method, headers);
    }
    for (let hops = 0; hops < MAX_REDIRECTS && [301, 302, 303, 307, 308].includes(res.statusCode ?? 0); hops++) {
      const location = header(res.headers, 'location');
      if (location === undefined) break;
      res.resume();
      const next = new URL(location, url);
      if (next.origin !== this.base.origin) delete headers['authorization'];
      url = next;
      res = await this.send(url, method, headers);
    }
    return { status: res.statusCode ?? 0, headers: res.headers, body: res };
  }

  /** The manifest `digest` of `path`: its bytes and media type (not yet checked). */
  async manifest(path: string, digest: string): Promise<{ status: number; bytes: Buffer; mediaType: string | undefined }> {
    const res = await this.open(path, `/v2/${path}/manifests/${digest}`, 'GET', { accept: ACCEPTED_MANIFEST_TYPES.join(', ') });
    const bytes = await readCapped(res.body, MAX_MANIFEST_BYTES, `manifest ${digest}`);
    return { status: res.status, bytes, mediaType: header(res.headers, 'content-type')?.split(';')[0]?.trim() };
  }

  async close(): Promise<void> {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    await Promise.all([...this.auth.values()].map((a) => a.transport.close()));
  }
}

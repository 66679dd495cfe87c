/**
 * HTTPS transport to a notary-compatible trust server (node:https; undici behind a proxy).
 *
 * Contract:
 * - TLS 1.2 or later; a configured CA bundle replaces the system roots (notary's exclusive root
 *   pool); optional client certificate; `insecureSkipVerify` only when the config asks for it.
 * - Every request has connect, header and body deadlines and a byte cap: a `Content-Length` above
 *   the cap, or a body that grows past it, aborts with `BAD_RESPONSE` (notary: `trust server
 *   returned a bad response.`).
 * - Failures to talk to the server become `ClientError('NETWORK' | 'TLS')` whose message says what
 *   failed (`could not reach <url>: TLS: the server certificate is signed by an unknown
 *   authority …`). After one such failure the transport fails fast with the same error, so an
 *   offline client does not wait for every request to time out (notary pings once and goes offline).
 * - A 401 with a Bearer/Basic challenge is answered through the `Authenticator` (anonymous first,
 *   then credentials) and the request is sent once more; HTTP status handling is the caller's.
 */
import { ClientError } from './errors.ts';
import { nodeWire, proxyConfigured, proxyWire, type Timeouts, type TlsOptions, type Wire } from './wire.ts';

export type { Timeouts, TlsOptions, Wire } from './wire.ts';

/** notary's client: dial 30 s, TLS handshake 10 s; responses must start within 30 s. */
export const DEFAULT_TIMEOUTS: Timeouts = { connectMs: 30_000, headersMs: 30_000, bodyMs: 60_000 };

/** Token actions per operation (docs/formats.md §7.4): `pull`, `push,pull`, or `*` (admin). */
export type Access = 'pull' | 'push,pull' | '*';

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'HEAD';
  /** Absolute URL, or a path resolved against the base URL. */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  readonly maxBytes: number;
  /** Access the request needs when the server asks for a token; undefined sends no credentials. */
  readonly access?: Access;
  /**
   * False: send a token already held, but return a 401 as it is instead of answering the challenge
   * (speculative requests must never fetch tokens or prompt for credentials in parallel).
   */
  readonly answerChallenge?: boolean;
}

/** Answers an auth challenge with an `Authorization` header value (or undefined to give up). */
export interface Authenticator {
  /** A header for `access` already known (cached token), sent up front. */
  cached(access: Access): string | undefined;
  /** Answers a 401 challenge; `attempt` 0 is anonymous, 1 uses credentials. */
  answer(challenge: string, access: Access, attempt: number, transport: HttpTransport): Promise<string | undefined>;
}

export interface TransportOptions {
  readonly baseUrl: string;
  readonly tls?: TlsOptions;
  readonly timeouts?: Partial<Timeouts>;
  readonly authenticator?: Authenticator;
  readonly userAgent?: string;
  /** Injected wire (tests); overrides TLS and proxy settings. */
  readonly wire?: Wire;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const TLS_UNKNOWN_CA = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

function errorCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur !== undefined && cur !== null && depth < 4; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function innermostMessage(e: unknown): string {
  let msg = e instanceof Error ? e.message : String(e);
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 4; depth++) {
    if (cur.message !== '') msg = cur.message;
    cur = cur.cause;
  }
  return msg;
}

/** Describes a failure to talk to the server; TLS problems say which check failed. */
export function describeTransportError(e: unknown, url: URL): { code: 'NETWORK' | 'TLS'; reason: string } {
  const code = errorCode(e) ?? '';
  const host = url.host;
  if (TLS_UNKNOWN_CA.has(code)) {
    return { code: 'TLS', reason: `TLS: the certificate of ${host} is signed by an unknown authority (${code}); trust its CA with --tlscacert or remote_server.root_ca` };
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return { code: 'TLS', reason: `TLS: the certificate of ${host} is not valid for that name (${innermostMessage(e)})` };
  if (code === 'CERT_HAS_EXPIRED') return { code: 'TLS', reason: `TLS: the certificate of ${host} has expired` };
  if (code === 'CERT_NOT_YET_VALID') return { code: 'TLS', reason: `TLS: the certificate of ${host} is not yet valid` };
  if (code.startsWith('ERR_SSL_') || code === 'EPROTO' || code.startsWith('ERR_TLS_') || code.startsWith('CERT_')) {
    const raw = innermostMessage(e);
    // OpenSSL's text is `<hex>:error:<code>:SSL routines:<function>:<reason>:<file>:<line>…`.
    const reason = /SSL routines:[^:]*:([^:]+)/.exec(raw)?.[1] ?? raw;
    if (/certificate required/.test(reason)) {
      return { code: 'TLS', reason: `TLS: ${host} requires a client certificate; give one with --tlscert and --tlskey (or remote_server.tls_client_cert and tls_client_key)` };
    }
    if (/alert (bad certificate|unknown ca|certificate unknown|certificate expired|certificate revoked)/.test(reason)) {
      return { code: 'TLS', reason: `TLS: ${host} refused the client certificate (${reason})` };
    }
    return { code: 'TLS', reason: `TLS handshake with ${host} failed: ${reason}` };
  }
  const known: Readonly<Record<string, string>> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed (temporary)',
    ECONNRESET: 'connection reset by the server',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ETIMEDOUT: 'connection timed out',
    UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
    UND_ERR_HEADERS_TIMEOUT: 'the server did not answer in time',
    UND_ERR_BODY_TIMEOUT: 'the server stopped sending data',
    UND_ERR_CLOSED: 'connection closed',
  };
  const reason = known[code];
  return { code: 'NETWORK', reason: reason === undefined ? innermostMessage(e) : `${reason} (${code})` };
}

export class HttpTransport {
  readonly baseUrl: URL;
  private readonly wire: Wire;
  private readonly timeouts: Timeouts;
  private readonly authenticator: Authenticator | undefined;
  private readonly userAgent: string;
  private unreachable: ClientError | undefined;

  constructor(opts: TransportOptions) {
    this.baseUrl = parseServerUrl(opts.baseUrl);
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    this.authenticator = opts.authenticator;
    this.userAgent = opts.userAgent ?? 'vouch';
    const tls = opts.tls ?? {};
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      throw new ClientError('INVALID_INPUT', 'either pass both client key and cert, or neither');
    }
    this.wire = opts.wire ?? (proxyConfigured(opts.env ?? process.env, this.baseUrl) ? proxyWire(tls, this.timeouts) : nodeWire(tls, this.timeouts));
  }

  /** The URL of `path` under the server's base path (servers may live under a sub-path). */
  resolve(path: string): URL {
    const base = this.baseUrl.href.endsWith('/') ? this.baseUrl.href : `${this.baseUrl.href}/`;
    return new URL(path.replace(/^\/+/, ''), base);
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const url = /^https?:\/\//.test(req.url) ? new URL(req.url) : this.resolve(req.url);
    const auth = req.access === undefined ? undefined : this.authenticator?.cached(req.access);
    let res = await this.send(url, req, auth);
    if (res.status !== 401 || req.access === undefined || this.authenticator === undefined || req.answerChallenge === false) return res;
    for (let attempt = 0; attempt < 2 && res.status === 401; attempt++) {
      const challenge = headerValue(res.headers, 'www-authenticate');
      if (challenge === undefined) return res;
      const header = await this.authenticator.answer(challenge, req.access, attempt, this);
      if (header === undefined) continue;
      res = await this.send(url, req, header);
    }
    return res;
  }

  private async send(url: URL, req: HttpRequest, authorization: string | undefined): Promise<HttpResponse> {
    if (this.unreachable !== undefined && url.origin === this.baseUrl.origin) throw this.unreachable;
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...req.headers };
    if (authorization !== undefined) headers['authorization'] = authorization;
    try {
      return await this.wire.send({ url, method: req.method, headers, ...(req.body !== undefined ? { body: req.body } : {}), maxBytes: req.maxBytes });
    } catch (e) {
      if (e instanceof ClientError) throw e;
      const { code, reason } = describeTransportError(e, url);
      const err = new ClientError(code, `could not reach ${url.origin}${this.baseUrl.pathname.replace(/\/$/, '')}: ${reason}`, { cause: e });
      if (url.origin === this.baseUrl.origin) this.unreachable = err;
      throw err;
    }
  }

  close(): Promise<void> {
    return this.wire.close();
  }
}

/** notary: `trust server url has to be in the form of http(s)://URL:PORT`. */
export function parseServerUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ClientError('INVALID_INPUT', `trust server url has to be in the form of http(s)://URL:PORT. Got: ${text}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ClientError('INVALID_INPUT', `trust server url has to be in the form of http(s)://URL:PORT. Got: ${text}`);
  }
  return url;
}

export function headerValue(headers: HttpResponse['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

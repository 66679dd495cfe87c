/**
 * Raw HTTP(S) exchanges for the transport: node:https by default (no import cost, which matters
 * for a CLI that starts per command), undici's proxy agent when HTTPS_PROXY/HTTP_PROXY are set
 * (loaded only then).
 *
 * Contract: TLS 1.2 or later; the configured CA bundle replaces the system roots (checked by
 * tls-anchors.ts where it can, else by OpenSSL, see `AnchoredAgent`); connect, header
 * and body-idle deadlines; a body over `maxBytes` (announced or streamed) is cut off with
 * `BAD_RESPONSE`. Transport failures are thrown as they come (with their `code`); the caller
 * names them.
 */
import { request as httpsRequest, Agent as HttpsAgent, type RequestOptions } from 'node:https';
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { checkServerIdentity, connect as tlsConnect, createSecureContext, type DetailedPeerCertificate, type SecureContext } from 'node:tls';
import type { Dispatcher } from 'undici';
import { decodePemBlocks } from '../crypto/pem.ts';
import { ClientError } from './errors.ts';
import { chainCertificates, chainTrusted, type ChainCertificate } from './tls-anchors.ts';

export interface TlsOptions {
  /** PEM text of the CA bundle to trust instead of the system roots. */
  readonly ca?: string;
  /** PEM text of a client certificate and its private key (both or neither). */
  readonly cert?: string;
  readonly key?: string;
  readonly insecureSkipVerify?: boolean;
}

export interface Timeouts {
  readonly connectMs: number;
  readonly headersMs: number;
  readonly bodyMs: number;
}

export interface WireResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export interface WireRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  readonly maxBytes: number;
}

export interface Wire {
  send(req: WireRequest): Promise<WireResponse>;
  close(): Promise<void>;
}

function tooLarge(url: URL, why: string): ClientError {
  return new ClientError('BAD_RESPONSE', `trust server returned a bad response. (${url.pathname}: ${why})`);
}

function readBody(res: IncomingMessage, req: WireRequest, bodyMs: number): Promise<Buffer> {
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > req.maxBytes) {
    res.destroy();
    return Promise.reject(tooLarge(req.url, `it announced ${declared} bytes, more than the ${req.maxBytes} allowed`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.setTimeout(bodyMs, () => res.destroy(Object.assign(new Error('the server stopped sending data'), { code: 'UND_ERR_BODY_TIMEOUT' })));
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > req.maxBytes) {
        res.destroy(tooLarge(req.url, `it sent more than the ${req.maxBytes} bytes allowed`));
        return;
      }
      chunks.push(c);
    });
    res.once('error', reject);
    res.once('aborted', () => reject(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' })));
    res.once('end', () => resolve(Buffer.concat(chunks, size)));
  });
}

/** The certificates the server sent, leaf first (Node links them through `issuerCertificate`). */
function sentChain(leaf: DetailedPeerCertificate): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<DetailedPeerCertificate>();
  for (let c: DetailedPeerCertificate | undefined = leaf; c !== undefined && c.raw !== undefined && !seen.has(c) && out.length < 10; c = c.issuerCertificate) {
    seen.add(c);
    out.push(c.raw);
  }
  return out;
}

function sameChain(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((c, i) => Buffer.compare(c, b[i] as Uint8Array) === 0);
}

/** Which verification a new connection went through (tests observe it). */
export type ConnectionPath = 'anchored' | 'standard';

type AgentOptions = NonNullable<ConstructorParameters<typeof HttpsAgent>[0]> & { readonly ca: string };

/**
 * An HTTPS agent for a configured CA file that skips Node's root store (see tls-anchors.ts): each
 * connection first runs on a context without roots, and the request is handed the socket only
 * after the sent chain and the host name check out; otherwise a standard connection (OpenSSL
 * verification against the CA file) replaces it and decides. The CA file is read on the first
 * connection, so commands that never connect pay nothing.
 */
class AnchoredAgent extends HttpsAgent {
  private readonly caPem: string;
  private readonly observe: ((path: ConnectionPath) => void) | undefined;
  /** Undefined until the first connection; null when the CA file offers no usable anchor. */
  private fast: { readonly context: SecureContext; readonly anchors: readonly ChainCertificate[] } | null | undefined;
  /**
   * The last chain accepted (DER, leaf first), with the time window in which every certificate of
   * it and every anchor is valid: parallel connections to one server send the same chain.
   */
  private trusted: { readonly raw: readonly Uint8Array[]; readonly from: Date; readonly until: Date } | undefined;

  constructor(options: AgentOptions, observe: ((path: ConnectionPath) => void) | undefined) {
    super(options);
    this.caPem = options.ca;
    this.observe = observe;
  }

  private fastPath(): { readonly context: SecureContext; readonly anchors: readonly ChainCertificate[] } | null {
    if (this.fast !== undefined) return this.fast;
    let anchors: ChainCertificate[] | undefined;
    try {
      anchors = chainCertificates(decodePemBlocks(this.caPem).filter((b) => b.type === 'CERTIFICATE').map((b) => b.bytes));
    } catch {
      anchors = undefined;
    }
    if (anchors === undefined || anchors.length === 0) return (this.fast = null);
    const { cert, key, minVersion } = this.options;
    const context = createSecureContext({ ca: [], minVersion, ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}) });
    return (this.fast = { context, anchors });
  }

  override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const fast = this.fastPath();
    if (callback === undefined || fast === null) return super.createConnection(options);
    const host = (typeof options.servername === 'string' && options.servername !== '' ? options.servername : undefined) ?? options.host ?? 'localhost';
    const socket = tlsConnect({ ...(options as object), secureContext: fast.context, rejectUnauthorized: false, session: undefined });
    const failed = (e: Error): void => callback(e, socket);
    socket.once('error', failed);
    socket.once('secureConnect', () => {
      socket.off('error', failed);
      const peer = socket.getPeerCertificate(true);
      if (this.trusts(sentChain(peer), fast.anchors) && checkServerIdentity(host, peer) === undefined) {
        this.observe?.('anchored');
        callback(null, socket);
        return;
      }
      socket.destroy();
      this.observe?.('standard');
      const standard = super.createConnection(options);
      if (standard) callback(null, standard);
    });
    return undefined;
  }

  private trusts(raw: readonly Uint8Array[], anchors: readonly ChainCertificate[]): boolean {
    const now = new Date();
    const known = this.trusted;
    if (known !== undefined && sameChain(raw, known.raw) && now >= known.from && now <= known.until) return true;
    const sent = chainCertificates(raw);
    if (sent === undefined || !chainTrusted(sent, anchors, now)) return false;
    const all = [...sent, ...anchors];
    const from = new Date(Math.max(...all.map((c) => c.der.notBefore.getTime())));
    const until = new Date(Math.min(...all.map((c) => c.der.notAfter.getTime())));
    this.trusted = { raw, from, until };
    return true;
  }
}

/** node:http(s) with one keep-alive agent per transport. */
export function nodeWire(tls: TlsOptions, timeouts: Timeouts, observe?: (path: ConnectionPath) => void): Wire {
  const tlsOpts = {
    minVersion: 'TLSv1.2' as const,
    rejectUnauthorized: tls.insecureSkipVerify !== true,
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
  };
  const agentOptions = { keepAlive: true, maxSockets: 8, ...tlsOpts };
  const httpsAgent = tls.ca !== undefined && tls.insecureSkipVerify !== true ? new AnchoredAgent({ ...agentOptions, ca: tls.ca }, observe) : new HttpsAgent(agentOptions);
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 8 });
  const send = (req: WireRequest): Promise<WireResponse> => new Promise((resolve, reject) => {
    const isHttps = req.url.protocol === 'https:';
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined) headers['content-length'] = String(req.body.length);
    const r = (isHttps ? httpsRequest : httpRequest)(req.url, { method: req.method, headers, agent: isHttps ? httpsAgent : httpAgent });
    const connectTimer = setTimeout(() => r.destroy(Object.assign(new Error('connection timed out'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), timeouts.connectMs);
    const headersTimer = setTimeout(() => r.destroy(Object.assign(new Error('the server did not answer in time'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), timeouts.connectMs + timeouts.headersMs);
    const clear = (): void => {
      clearTimeout(connectTimer);
      clearTimeout(headersTimer);
    };
    r.once('socket', (s) => {
      if (!s.connecting) clearTimeout(connectTimer);
      else s.once(isHttps ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    });
    r.once('error', (e) => {
      clear();
      reject(e);
    });
    r.once('response', (res) => {
      clear();
      readBody(res, req, timeouts.bodyMs).then((body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }), reject);
    });
    r.end(req.body);
  });
  return {
    send,
    close: () => {
      httpsAgent.destroy();
      httpAgent.destroy();
      return Promise.resolve();
    },
  };
}

/** True when the standard proxy variables ask for a proxy for `url`. */
export function proxyConfigured(env: Readonly<Record<string, string | undefined>>, url: URL): boolean {
  const proxy = url.protocol === 'https:' ? env['HTTPS_PROXY'] ?? env['https_proxy'] : env['HTTP_PROXY'] ?? env['http_proxy'];
  if (proxy === undefined || proxy === '') return false;
  const noProxy = (env['NO_PROXY'] ?? env['no_proxy'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  return !noProxy.some((p) => p === '*' || url.hostname === p.replace(/^\./, '') || url.hostname.endsWith(p.startsWith('.') ? p : `.${p}`));
}

/** undici's environment proxy agent, loaded on first use. */
export function proxyWire(tls: TlsOptions, timeouts: Timeouts): Wire {
  let agent: Promise<Dispatcher> | undefined;
  const connect = {
    minVersion: 'TLSv1.2' as const,
    rejectUnauthorized: tls.insecureSkipVerify !== true,
    timeout: timeouts.connectMs,
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
  };
  const load = () => (agent ??= import('undici').then((u) => new u.EnvHttpProxyAgent({ connect, requestTls: connect })));
  return {
    async send(req) {
      const u = await import('undici');
      const res = await u.request(req.url, {
        method: req.method as 'GET', headers: req.headers, ...(req.body !== undefined ? { body: req.body } : {}),
        dispatcher: await load(), headersTimeout: timeouts.headersMs, bodyTimeout: timeouts.bodyMs,
      });
      const declared = Number(res.headers['content-length'] ?? NaN);
      if (Number.isFinite(declared) && declared > req.maxBytes) {
        res.body.destroy();
        throw tooLarge(req.url, `it announced ${declared} bytes, more than the ${req.maxBytes} allowed`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of res.body as AsyncIterable<Buffer>) {
        size += c.length;
        if (size > req.maxBytes) {
          res.body.destroy();
          throw tooLarge(req.url, `it sent more than the ${req.maxBytes} bytes allowed`);
        }
        chunks.push(c);
      }
      return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks, size) };
    },
    async close() {
      if (agent !== undefined) await (await agent).close();
    },
  };
}

/**
 * Raw HTTP(S) exchanges for the transport: node:https by default (no import cost, which matters
 * for a CLI that starts per command), undici's proxy agent when HTTPS_PROXY/HTTP_PROXY are set
 * (loaded only then).
 *
 * Contract: TLS 1.2 or later; the configured CA bundle replaces the system roots; connect, header
 * and body-idle deadlines; a body over `maxBytes` (announced or streamed) is cut off with
 * `BAD_RESPONSE`. Transport failures are thrown as they come (with their `code`); the caller
 * names them.
 */
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import type { Dispatcher } from 'undici';
import { ClientError } from './errors.ts';

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

/** node:http(s) with one keep-alive agent per transport. */
export function nodeWire(tls: TlsOptions, timeouts: Timeouts): Wire {
  const tlsOpts = {
    minVersion: 'TLSv1.2' as const,
    rejectUnauthorized: tls.insecureSkipVerify !== true,
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
  };
  const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 8, ...tlsOpts });
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

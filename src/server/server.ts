/**
 * A running trust server: the store, the signing service, the HTTP API and health checks wired
 * together and listening.
 *
 * Contract: `startTrustServer` resolves once the socket listens (on `port` 0 the kernel picks one;
 * `url` reports it). TLS uses node:https with TLS 1.2 as the minimum; client certificates are
 * required when `tls.clientCa` is given. `close()` stops accepting, finishes in-flight requests,
 * then closes the signing service and the store it was given (both owned by the server).
 */
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { Authorizer } from './auth.ts';
import { HealthMonitor, type HealthCheck } from './health.ts';
import { TrustHttp, type CacheControl } from './http.ts';
import { ServerMetrics } from './metrics.ts';
import { TrustService } from './service.ts';
import { ServerKeys, type ServerKeyAlgorithm, type SigningBackend } from './signing.ts';
import type { MetaStore } from './store.ts';
import type { UploadLimits } from './upload.ts';

export interface ServerTls {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** CA bundle for client certificates; when set, clients must present one. */
  readonly clientCa?: string | Buffer;
}

export interface TrustServerOptions {
  readonly store: MetaStore;
  /** Undefined: no signing service (notary's NO_CRYPTOSERVICE answers). */
  readonly signer?: SigningBackend;
  readonly keyAlgorithm?: ServerKeyAlgorithm;
  /** Extra health probe of the signer (e.g. gRPC health); none for an in-process signer. */
  readonly signerHealth?: () => Promise<void>;
  readonly host?: string;
  readonly port?: number;
  readonly tls?: ServerTls;
  readonly auth?: Authorizer;
  readonly cacheControl?: CacheControl;
  readonly gunPrefixes?: readonly string[];
  readonly bodyLimit?: number;
  readonly uploadLimits?: UploadLimits;
  /** Bytes of metadata the in-process cache may hold (default 32 MiB). */
  readonly cacheBytes?: number;
  readonly logger?: Logger;
  readonly healthIntervalMs?: number;
  readonly now?: () => Date;
}

export interface RunningTrustServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly service: TrustService;
  readonly http: TrustHttp;
  readonly health: HealthMonitor;
  close(): Promise<void>;
}

export async function startTrustServer(opts: TrustServerOptions): Promise<RunningTrustServer> {
  const logger = opts.logger ?? pino({ level: 'error' });
  const keys = opts.signer === undefined ? undefined : new ServerKeys(opts.signer, opts.keyAlgorithm ?? 'ecdsa');
  const service = new TrustService({
    store: opts.store, keys,
    ...(opts.now !== undefined ? { now: opts.now } : {}),
    ...(opts.cacheBytes !== undefined ? { cache: { maxBytes: opts.cacheBytes } } : {}),
  });
  const checks: HealthCheck[] = [{ name: 'DB operational', run: () => opts.store.checkHealth() }];
  if (opts.signerHealth !== undefined) checks.push({ name: 'Trust operational', run: opts.signerHealth });
  const health = new HealthMonitor(checks, { logger, ...(opts.healthIntervalMs !== undefined ? { intervalMs: opts.healthIntervalMs } : {}) });
  const tls = opts.tls === undefined ? undefined : {
    cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2',
    ...(opts.tls.clientCa !== undefined ? { ca: opts.tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
  };
  const http = new TrustHttp({
    service, metrics: new ServerMetrics(), health, logger,
    ...(tls !== undefined ? { https: tls } : {}),
    ...(opts.auth !== undefined ? { auth: opts.auth } : {}),
    ...(opts.cacheControl !== undefined ? { cacheControl: opts.cacheControl } : {}),
    ...(opts.gunPrefixes !== undefined ? { gunPrefixes: opts.gunPrefixes } : {}),
    ...(opts.bodyLimit !== undefined ? { bodyLimit: opts.bodyLimit } : {}),
    ...(opts.uploadLimits !== undefined ? { uploadLimits: opts.uploadLimits } : {}),
    ...(opts.now !== undefined ? { now: opts.now } : {}),
  });
  await health.start();
  const host = opts.host ?? '127.0.0.1';
  await http.app.listen({ host, port: opts.port ?? 4443 });
  const port = (http.app.server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://${urlHost}:${port}`, host, port, service, http, health,
    close: () => (closing ??= (async () => {
      health.stop();
      await http.app.close();
      await keys?.close();
      await opts.store.close();
    })()),
  };
}

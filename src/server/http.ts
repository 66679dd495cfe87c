/**
 * notary-server's HTTP API on fastify (docs/formats.md §6): routing in notary's order, the GUN
 * prefix filter, token auth, the handlers, notary's cache headers and error bodies, health and
 * Prometheus metrics.
 *
 * Contract: success bodies are the stored bytes with Go's sniffed `text/plain; charset=utf-8`
 * (gzip-encoded, with `Vary: Accept-Encoding`, when the client accepts gzip and the file is over
 * 1 KiB);
 * errors are `ServerError` bodies (errors.ts) with `application/json; charset=utf-8`; a request
 * body over `bodyLimit` or a part over the part limit is 413 `TOO_LARGE` and is never buffered
 * beyond the limit; uploads are parsed and validated at most `bodyLimit` bytes at a time
 * (upload-gate.ts); an unexpected exception is logged and answered 500 `UNKNOWN` without
 * internals. `/_notary_server/health` and `/metrics` never require auth.
 * Every answer carries an `X-Request-ID` and is logged as one access line with that ID. The
 * read-only console (console.ts) is served under `/console/` (`/` redirects there) and is
 * admitted by the same auth as the API: the collection list and the overall timeline need
 * `registry:catalog:*`, a collection's page `repository:<gun>:pull`.
 */
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Authorizer, Access } from './auth.ts';
import { errorBody, goJson, ServerError } from './errors.ts';
import { TrustConsole } from './console.ts';
import type { HealthMonitor } from './health.ts';
import type { Operation, ServerMetrics } from './metrics.ts';
import { checkGun, gunAllowed, matchRoute, type RouteMatch } from './routes.ts';
import type { TrustService } from './service.ts';
import { keyEndpointBody } from './signing.ts';
import type { StoredFile } from './store.ts';
import { DEFAULT_UPLOAD_LIMITS, parseMultipart, parsePreviousVersions, PREVIOUS_VERSIONS_HEADER, uploadedFiles, type UploadLimits } from './upload.ts';
import { UploadGate } from './upload-gate.ts';

export interface CacheControl {
  /** max-age of `{role}.json` in seconds (notary default 300); 0 disables caching. */
  readonly currentMaxAge: number;
  /** max-age of by-hash and by-version names (default 30 days). */
  readonly consistentMaxAge: number;
}

export const DEFAULT_CACHE_CONTROL: CacheControl = { currentMaxAge: 300, consistentMaxAge: 2_592_000 };

export interface HttpOptions {
  readonly service: TrustService;
  readonly metrics: ServerMetrics;
  readonly health: HealthMonitor;
  readonly logger: Logger;
  readonly auth?: Authorizer;
  readonly cacheControl?: CacheControl;
  readonly gunPrefixes?: readonly string[];
  /** Whole request body cap (default 10 MiB). */
  readonly bodyLimit?: number;
  readonly uploadLimits?: UploadLimits;
  /** TLS options for node:https; undefined serves plain HTTP. */
  readonly https?: Record<string, unknown>;
  readonly now?: () => Date;
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const ZERO_TIME = 'Mon, 01 Jan 0001 00:00:00 UTC';
/** Below this size gzip saves too little to be worth a header. */
const GZIP_MIN_BYTES = 1024;

/** Go's `time.RFC1123` for a UTC time. */
export function lastModified(d: Date | undefined): string {
  if (d === undefined || Number.isNaN(d.getTime())) return ZERO_TIME;
  return d.toUTCString().replace(/GMT$/, 'UTC');
}

function cacheHeaders(maxAge: number, mustRevalidate: boolean): Record<string, string> {
  if (maxAge <= 0) return { 'cache-control': 'max-age=0, no-cache, no-store', pragma: 'no-cache' };
  return { 'cache-control': `public, max-age=${maxAge}, s-maxage=${maxAge}${mustRevalidate ? ', must-revalidate' : ''}` };
}

declare module 'fastify' {
  interface FastifyRequest {
    vouchOperation: Operation | undefined;
    vouchStart: bigint;
  }
}

export class TrustHttp {
  readonly app: FastifyInstance;
  private readonly opts: HttpOptions;
  private readonly cache: CacheControl;
  private readonly limits: UploadLimits;
  private readonly uploads: UploadGate;
  private readonly now: () => Date;
  private readonly gzipped = new WeakMap<StoredFile, Buffer>();
  private readonly modified = new WeakMap<StoredFile, string>();
  private readonly currentHeaders: Record<string, string>;
  private readonly consistentHeaders: Record<string, string>;
  readonly console: TrustConsole;

  constructor(opts: HttpOptions) {
    this.opts = opts;
    this.cache = opts.cacheControl ?? DEFAULT_CACHE_CONTROL;
    this.limits = opts.uploadLimits ?? DEFAULT_UPLOAD_LIMITS;
    this.now = opts.now ?? (() => new Date());
    this.currentHeaders = cacheHeaders(this.cache.currentMaxAge, true);
    this.consistentHeaders = cacheHeaders(this.cache.consistentMaxAge, false);
    const bodyLimit = opts.bodyLimit ?? 10 << 20;
    // One largest body at a time is what the server's heap is sized for (see npm start).
    this.uploads = new UploadGate(bodyLimit);
    this.console = new TrustConsole(opts.service, this.now);
    opts.metrics.exportExpiries(() => this.console.allExpiries().catch(() => []));
    const serverOptions = {
      genReqId: () => randomBytes(8).toString('hex'),
      loggerInstance: opts.logger, logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }), bodyLimit, exposeHeadRoutes: false,
      return503OnClosing: true, keepAliveTimeout: 65_000, requestTimeout: 60_000,
      ...(opts.https !== undefined ? { https: opts.https } : {}),
    };
    this.app = Fastify(serverOptions as FastifyServerOptions);
    this.app.decorateRequest('vouchOperation', undefined);
    this.app.decorateRequest('vouchStart', 0n);
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
    this.app.addHook('onRequest', (req, reply, done) => {
      req.vouchStart = process.hrtime.bigint();
      reply.header('x-request-id', req.id);
      done();
    });
    this.app.addHook('onResponse', (req, reply, done) => {
      const op = req.vouchOperation;
      const micros = Number(process.hrtime.bigint() - req.vouchStart) / 1000;
      // The access log: one line per request (the request logger carries reqId).
      req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(micros) / 1000, remote: req.ip }, 'request');
      if (op !== undefined) {
        const size = Number(reply.getHeader('content-length') ?? 0);
        opts.metrics.observe(op, req.method, reply.statusCode, micros, size);
      }
      done();
    });
    this.app.setErrorHandler((err, req, reply) => this.fail(req, reply, err));
    this.app.setNotFoundHandler((req, reply) => this.fail(req, reply, new ServerError('METADATA_NOT_FOUND')));
    this.app.get('/_notary_server/health', async (_req, reply) => this.healthReply(reply, await opts.health.current()));
    this.app.get('/metrics', async (_req, reply) => reply.header('content-type', opts.metrics.contentType).send(await opts.metrics.text()));
    this.app.get('/', (_req, reply) => reply.redirect('/console/', 302));
    this.app.get('/console', (_req, reply) => reply.redirect('/console/', 302));
    this.app.get('/console/*', (req, reply) => this.consolePage(req, reply));
    this.app.route({
      method: ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS'],
      url: '/*',
      handler: (req, reply) => this.dispatch(req, reply),
    });
  }

  private healthReply(reply: FastifyReply, failures: ReadonlyMap<string, string>): FastifyReply {
    const body = goJson(Object.fromEntries(failures));
    return reply.code(failures.size === 0 ? 200 : 503).header('content-type', JSON_TYPE).send(body);
  }

  private fail(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
    let e: ServerError;
    if (err instanceof ServerError) e = err;
    else {
      const status = (err as { statusCode?: unknown }).statusCode;
      if (status === 413) e = new ServerError('TOO_LARGE');
      else if (typeof status === 'number' && status >= 400 && status < 500) e = new ServerError('MALFORMED_UPLOAD', undefined, { cause: err });
      else e = new ServerError('UNKNOWN', undefined, { cause: err });
    }
    if (e.code === 'UNAVAILABLE') this.opts.health.suspect();
    const log = this.opts.logger;
    // Expected outages are one line; only the unexpected carries a stack.
    if (e.code === 'UNKNOWN' && !(err instanceof ServerError)) log.error({ err, method: req.method, url: req.url, code: e.code }, 'unexpected error');
    else if (e.status >= 500) log.error({ method: req.method, url: req.url, code: e.code }, e.message);
    else log.info({ method: req.method, url: req.url, code: e.code }, e.message);
    return reply.code(e.status).headers({ ...e.headers, 'content-type': JSON_TYPE }).send(errorBody(e));
  }

  private async dispatch(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const raw = req.url;
    const q = raw.indexOf('?');
    let path: string;
    try {
      path = decodeURIComponent(q < 0 ? raw : raw.slice(0, q));
    } catch {
      return this.fail(req, reply, new ServerError('METADATA_NOT_FOUND'));
    }
    const route = matchRoute(req.method, path);
    req.vouchOperation = route.operation;
    try {
      await this.admit(req, route);
      return await this.handle(req, reply, route, new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)));
    } catch (e) {
      return this.fail(req, reply, e);
    }
  }

  /** The auth every route goes through (token auth today; whatever `opts.auth` checks). */
  /** The one auth check of the API routes and the console; `isRead` lets anonymous pulls through where configured. */
  private async authorizeAccess(req: FastifyRequest, access: readonly Access[], isRead: boolean): Promise<void> {
    const auth = this.opts.auth;
    if (auth === undefined) return;
    if (auth.anonymousPull === true && isRead) return;
    await auth.authorize(req.headers.authorization, req.headers.host, access, this.now());
  }

  private async consolePage(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    try {
      const url = new URL(req.url, 'http://console.invalid');
      const path = decodeURIComponent(url.pathname);
      const q = (url.searchParams.get('q') ?? '').slice(0, 256);
      let html: string;
      if (path === '/console/' || path === '/console/expiry') {
        await this.authorizeAccess(req, [{ type: 'registry', name: 'catalog', action: '*' }], false);
        html = path === '/console/' ? await this.console.renderList(q) : await this.console.renderExpiry();
      } else if (path.startsWith('/console/c/')) {
        const gun = path.slice('/console/c/'.length);
        const bad = checkGun(gun);
        if (bad !== undefined) throw new ServerError('INVALID_GUN', bad);
        if (!gunAllowed(gun, this.opts.gunPrefixes ?? [])) throw new ServerError('METADATA_NOT_FOUND');
        await this.authorizeAccess(req, [{ type: 'repository', name: gun, action: 'pull' }], true);
        const pageNo = Number.parseInt(url.searchParams.get('page') ?? '1', 10);
        html = await this.console.renderCollection(gun, q, Number.isSafeInteger(pageNo) ? pageNo : 1);
      } else {
        throw new ServerError('METADATA_NOT_FOUND');
      }
      return reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'")
        .header('x-content-type-options', 'nosniff').send(html);
    } catch (e) {
      if (e instanceof URIError) return this.fail(req, reply, new ServerError('METADATA_NOT_FOUND'));
      return this.fail(req, reply, e);
    }
  }

  /** Prefix filter, GUN sanity and auth, in notary's order. */
  private async admit(req: FastifyRequest, route: RouteMatch): Promise<void> {
    const gun = route.gun;
    if (gun !== undefined) {
      const prefixes = this.opts.gunPrefixes ?? [];
      if (!gunAllowed(gun, prefixes)) {
        if (route.kind === 'update') throw new ServerError('INVALID_GUN', `Require GUNs with prefix: [${prefixes.join(' ')}]`);
        throw new ServerError('METADATA_NOT_FOUND');
      }
      const bad = checkGun(gun);
      if (bad !== undefined) throw new ServerError('INVALID_GUN', bad);
    }
    const isRead = route.actions.length > 0 && route.actions.every((a) => a === 'pull') && route.kind !== 'changefeed';
    const access: Access[] = gun === undefined
      ? [{ type: 'registry', name: 'catalog', action: '*' }]
      : route.actions.map((action) => ({ type: 'repository', name: gun, action }));
    await this.authorizeAccess(req, access, isRead);
  }

  /**
   * The bytes to send: gzip for clients that ask for it (Go's transport, and so notary and docker,
   * always do) when the file is large enough to gain and is held by the cache, where its gzip form
   * is computed once. Decompressed, the body is exactly the stored bytes.
   */
  private encode(req: FastifyRequest, reply: FastifyReply, file: StoredFile): Buffer {
    const raw = Buffer.from(file.data.buffer, file.data.byteOffset, file.data.byteLength);
    if (raw.length < GZIP_MIN_BYTES) return raw;
    reply.header('vary', 'Accept-Encoding');
    if (!/\bgzip\b/.test(req.headers['accept-encoding'] ?? '') || !this.opts.service.current.isCached(file)) return raw;
    let gz = this.gzipped.get(file);
    if (gz === undefined) {
      gz = gzipSync(raw, { level: 6 });
      this.gzipped.set(file, gz);
    }
    if (gz.length >= raw.length) return raw;
    reply.header('content-encoding', 'gzip');
    return gz;
  }

  private sendFile(req: FastifyRequest, reply: FastifyReply, file: StoredFile, cache: 'current' | 'consistent'): FastifyReply {
    let modified = this.modified.get(file);
    if (modified === undefined) {
      modified = lastModified(file.createdAt);
      this.modified.set(file, modified);
    }
    reply.headers(cache === 'current' ? this.currentHeaders : this.consistentHeaders);
    reply.header('last-modified', modified);
    reply.header('content-type', TEXT);
    return reply.send(this.encode(req, reply, file));
  }

  private async handle(req: FastifyRequest, reply: FastifyReply, route: RouteMatch, query: URLSearchParams): Promise<FastifyReply> {
    const svc = this.opts.service;
    const gun = route.gun ?? '';
    const role = route.role ?? '';
    switch (route.kind) {
      case 'ping':
        return reply.header('content-type', TEXT).send('{}');
      case 'update': {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const previous = parsePreviousVersions(req.headers[PREVIOUS_VERSIONS_HEADER]);
        try {
          await this.uploads.run(body.length, () => svc.publish(gun, uploadedFiles(parseMultipart(req.headers['content-type'], body, this.limits)), previous));
        } catch (e) {
          this.opts.metrics.publishRejected(e instanceof ServerError ? e.code : 'UNKNOWN');
          throw e;
        }
        this.opts.metrics.publishAccepted();
        this.opts.logger.info({ gun }, `updated ${gun}`);
        return reply.send();
      }
      case 'getByHash':
        return this.sendFile(req, reply, await svc.getByChecksum(gun, role, route.checksum ?? ''), 'consistent');
      case 'getByVersion':
        return this.sendFile(req, reply, await svc.getByVersion(gun, role, Number(route.version)), 'consistent');
      case 'getCurrent':
        return this.sendFile(req, reply, await svc.getCurrent(gun, role), 'current');
      case 'getKey':
      case 'rotateKey': {
        const r = role as 'snapshot' | 'timestamp';
        const key = route.kind === 'getKey' ? await svc.getKey(gun, r) : await svc.rotateKey(gun, r);
        return reply.header('content-type', TEXT).send(keyEndpointBody(key));
      }
      case 'delete':
        await svc.deleteGun(gun);
        this.opts.logger.info({ gun }, `trust data deleted for ${gun}`);
        return reply.send();
      case 'changefeed':
      case 'globalChangefeed': {
        const body = await svc.changefeed(route.kind === 'changefeed' ? gun : undefined, query.get('change_id') ?? '', query.get('records') ?? '');
        return reply.header('content-type', TEXT).send(body);
      }
      case 'notFound':
        throw new ServerError('METADATA_NOT_FOUND');
    }
  }
}

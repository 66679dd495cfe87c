/**
 * `vouch gate`: an OCI distribution endpoint in front of a registry that serves only signed
 * content (docs/architecture.md, "gate").
 *
 * Contract:
 * - `GET/HEAD /v2/<repo>/manifests/<tag>`: the collection `gunFor(repo)` is updated and verified
 *   (TrustSource), the tag is decided by the repository's policy (policy.ts), and the manifest is
 *   fetched from the upstream BY THE SIGNED DIGEST; its sha256 and length must equal the signed
 *   ones. It is served with `Docker-Content-Digest`, whatever the upstream tag points at now.
 * - `…/manifests/sha256:…`: only a digest some accepted tag signs, or a child of a signed index.
 * - `…/blobs/sha256:…` streams through; the last chunk is held back until the sha256 of the whole
 *   body matches, so a client never receives a complete body with another digest.
 * - `…/tags/list`: the accepted tags only, sorted. Other methods (push, delete): refused.
 * - Refusals are `403` with `{"errors":[{"code":"DENIED","message":…}]}`; the message says why.
 * - Repositories whose policy says `unsigned: allow` are proxied as they are.
 * - Client auth through a `GateAuthorizer` (the trust server's token auth today); without one,
 *   and without TLS, the gate listens on a loopback address only (unless explicitly allowed).
 * - `/healthz` answers 200; `/metrics` is Prometheus text. One JSON log line per decision.
 */
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Transform, pipeline, type TransformCallback } from 'node:stream';
import { silentLogger, type Logger } from '../client/log.ts';
import { parseManifest } from '../client/registry/manifest.ts';
import { ServerError } from '../server/errors.ts';
import { GateError, configError, denied } from './errors.ts';
import { GateMetrics } from './metrics.ts';
import { PolicySet, evaluate, signedTags, type Policy, type SignedTarget } from './policy.ts';
import { TrustSource, type TrustSourceOptions, type VerifiedCollection } from './trust.ts';
import { Upstream, readCapped, type UpstreamOptions } from './upstream.ts';

/** Authenticates a gate client; throws a `ServerError` (401 with a challenge, or 403) to refuse. */
export interface GateAuthorizer {
  authorize(req: IncomingMessage, repository: string | undefined): void | Promise<void>;
}

export interface GunPrefix {
  /** Repository name prefix as clients spell it (`team/`). */
  readonly prefix: string;
  /** What replaces it in the GUN (`registry.example.com/team/`). */
  readonly gun: string;
}

export interface GateOptions {
  readonly upstream: UpstreamOptions;
  readonly trust: Omit<TrustSourceOptions, 'now' | 'log'>;
  readonly policies?: readonly Policy[];
  readonly gunPrefixes?: readonly GunPrefix[];
  readonly host: string;
  readonly port: number;
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  readonly auth?: GateAuthorizer;
  /** Listen beyond loopback without client auth or TLS: only when the operator says so. */
  readonly allowInsecureListen?: boolean;
  readonly now?: () => Date;
  /** One structured entry per decision (the CLI writes them as JSON lines). */
  readonly log?: (entry: Readonly<Record<string, unknown>>) => void;
  /** Warnings of the trust client (cached timestamp in use, …). */
  readonly logger?: Logger;
  /** Bytes of verified manifests kept in memory (default 64 MiB). */
  readonly manifestCacheBytes?: number;
  readonly processMetrics?: boolean;
}

export interface RunningGate {
  readonly url: string;
  readonly port: number;
  readonly metrics: GateMetrics;
  close(): Promise<void>;
}

const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const DOCKER_HUB_HOSTS = new Set(['registry-1.docker.io', 'index.docker.io', 'docker.io']);
/** How many signed manifests are opened to find a child of an index (a bounded search). */
const MAX_INDEX_SCAN = 64;

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

type Outcome = 'allow' | 'deny' | 'error';

class HttpFailure extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly reason: string, readonly outcome: Outcome) {
    super(message);
  }
}

function failureOf(e: unknown): HttpFailure {
  if (e instanceof HttpFailure) return e;
  if (e instanceof GateError) {
    switch (e.code) {
      case 'DENIED': return new HttpFailure(403, 'DENIED', e.message, e.reason, 'deny');
      case 'UNSUPPORTED': return new HttpFailure(405, 'UNSUPPORTED', e.message, e.reason, 'deny');
      case 'UPSTREAM_NOT_FOUND': return new HttpFailure(404, 'MANIFEST_UNKNOWN', e.message, e.reason, 'error');
      default: return new HttpFailure(502, 'UNKNOWN', e.message, e.reason, 'error');
    }
  }
  return new HttpFailure(500, 'UNKNOWN', e instanceof Error ? e.message : String(e), 'internal', 'error');
}

/** Hashes what passes and holds the last chunk back until the digest is known to match. */
class DigestGuard extends Transform {
  private readonly hash = createHash('sha256');
  private pending: Buffer | undefined;
  constructor(private readonly expected: string) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    const prev = this.pending;
    this.pending = chunk;
    cb(null, prev);
  }
  override _flush(cb: TransformCallback): void {
    const got = `sha256:${this.hash.digest('hex')}`;
    if (got !== this.expected) {
      cb(new GateError('DIGEST_MISMATCH', `the upstream sent a blob with digest ${got} for ${this.expected}`, 'blob-digest-mismatch'));
      return;
    }
    cb(null, this.pending);
  }
}

interface Manifest {
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly children: readonly string[];
}

export class Gate {
  readonly metrics: GateMetrics;
  private readonly o: GateOptions;
  private readonly trust: TrustSource;
  private readonly upstream: Upstream;
  private readonly policies: PolicySet;
  private readonly now: () => Date;
  private readonly manifests = new Map<string, Manifest>();
  private manifestBytes = 0;
  private readonly hub: boolean;

  constructor(o: GateOptions) {
    this.o = o;
    this.now = o.now ?? (() => new Date());
    this.metrics = new GateMetrics({ processMetrics: o.processMetrics !== false });
    this.upstream = new Upstream(o.upstream);
    this.hub = DOCKER_HUB_HOSTS.has(this.upstream.base.hostname);
    this.trust = new TrustSource({ ...o.trust, now: this.now, log: o.logger ?? silentLogger });
    this.policies = new PolicySet(o.policies ?? []);
  }

  /** The repository path on the upstream (`library/alpine` for Docker Hub's `alpine`). */
  upstreamPath(repo: string): string {
    return this.hub && !repo.includes('/') ? `library/${repo}` : repo;
  }

  /** The GUN of `repo`: docker's name for it on this upstream, or a configured override. */
  gunFor(repo: string): string {
    const over = [...(this.o.gunPrefixes ?? [])].sort((a, b) => b.prefix.length - a.prefix.length).find((p) => repo.startsWith(p.prefix));
    if (over !== undefined) return `${over.gun}${repo.slice(over.prefix.length)}`;
    return `${this.hub ? 'docker.io' : this.upstream.host}/${this.upstreamPath(repo)}`;
  }

  private logDecision(entry: Record<string, unknown>): void {
    this.o.log?.({ time: this.now().toISOString(), msg: 'decision', ...entry });
  }

  private accepted(v: VerifiedCollection, policy: Policy): Map<string, SignedTarget> {
    const key = JSON.stringify(policy);
    let tags = v.memo.get(key) as Map<string, SignedTarget> | undefined;
    if (tags === undefined) {
      tags = signedTags(v, policy);
      v.memo.set(key, tags);
    }
    return tags;
  }

  private remember(digest: string, m: Manifest): void {
    const cap = this.o.manifestCacheBytes ?? 64 << 20;
    if (m.bytes.length > cap) return;
    while (this.manifestBytes + m.bytes.length > cap && this.manifests.size > 0) {
      const [oldest, old] = this.manifests.entries().next().value as [string, Manifest];
      this.manifests.delete(oldest);
      this.manifestBytes -= old.bytes.length;
    }
    this.manifests.set(digest, m);
    this.manifestBytes += m.bytes.length;
  }

  /** The manifest `digest` from the upstream, checked against the digest (and `length` if signed). */
  private async fetchManifest(path: string, digest: string, length: number | undefined): Promise<Manifest> {
    const have = this.manifests.get(digest);
    if (have !== undefined) return have;
    const t0 = process.hrtime.bigint();
    const res = await this.upstream.manifest(path, digest);
    this.metrics.upstreamLatency('manifest', Number(process.hrtime.bigint() - t0) / 1e9);
    if (res.status === 404) throw new GateError('UPSTREAM_NOT_FOUND', `the upstream does not have the signed manifest ${digest}`, 'upstream-missing');
    if (res.status !== 200) throw new GateError('UPSTREAM', `the upstream answered HTTP ${res.status} for manifest ${digest}`, 'upstream-error');
    const got = `sha256:${createHash('sha256').update(res.bytes).digest('hex')}`;
    if (got !== digest) throw new GateError('DIGEST_MISMATCH', `the upstream sent a manifest with digest ${got} for the signed ${digest}`, 'manifest-digest-mismatch');
    if (length !== undefined && res.bytes.length !== length) {
      throw new GateError('DIGEST_MISMATCH', `the upstream sent ${res.bytes.length} bytes for ${digest}, signed as ${length}`, 'manifest-length-mismatch');
    }
    let info;
    try {
      info = parseManifest(res.bytes, res.mediaType, digest);
    } catch (e) {
      throw new GateError('UPSTREAM', e instanceof Error ? e.message : String(e), 'upstream-bad-manifest', { cause: e });
    }
    const m: Manifest = { bytes: res.bytes, mediaType: info.mediaType, children: (info.manifests ?? []).map((c) => c.digest) };
    this.remember(digest, m);
    return m;
  }

  /** Is `digest` signed for a tag, or a child of a signed index? Returns its signed length if known. */
  private async digestAllowed(repo: string, v: VerifiedCollection, policy: Policy, digest: string): Promise<{ length: number | undefined; via: string }> {
    const tags = this.accepted(v, policy);
    const signed = [...tags.values()];
    const direct = signed.find((t) => t.digest === digest);
    if (direct !== undefined) return { length: direct.length, via: 'signed' };
    const unique = [...new Map(signed.map((t) => [t.digest, t])).values()];
    // Indexes already fetched first, then a bounded scan of the others.
    const ordered = [...unique.filter((t) => this.manifests.has(t.digest)), ...unique.filter((t) => !this.manifests.has(t.digest))];
    for (const t of ordered.slice(0, MAX_INDEX_SCAN)) {
      const m = await this.fetchManifest(this.upstreamPath(repo), t.digest, t.length);
      if (m.children.includes(digest)) return { length: undefined, via: `child of ${t.digest}` };
    }
    throw denied(`${digest} is not signed: no signed tag or signed index in ${v.gun} names it`, 'unsigned-digest');
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://gate.invalid');
    const method = req.method ?? 'GET';
    const entry: Record<string, unknown> = { method, path: url.pathname };
    res.setHeader('docker-distribution-api-version', 'registry/2.0');
    try {
      if (url.pathname === '/healthz' || url.pathname === '/_vouch_gate/health') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}\n');
        return;
      }
      if (url.pathname === '/metrics') {
        res.writeHead(200, { 'content-type': this.metrics.contentType }).end(await this.metrics.text());
        return;
      }
      if (url.pathname === '/v2/' || url.pathname === '/v2') {
        await this.authorize(req, undefined);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      if (method !== 'GET' && method !== 'HEAD') {
        throw denied(`the gate is read-only: ${method} is refused (push to the upstream registry directly)`, 'read-only');
      }
      const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\/([^/]+)$/.exec(url.pathname);
      const repo = m?.[1];
      if (m === null || repo === undefined || !NAME.test(repo) || repo.length > 255) throw new HttpFailure(404, 'NAME_INVALID', 'invalid repository name', 'bad-request', 'deny');
      entry['repository'] = repo;
      await this.authorize(req, repo);
      const kind = m[2];
      const ref = decodeURIComponent(m[3] ?? '');
      entry['reference'] = ref;
      const policy = this.policies.for(repo);
      const gun = this.gunFor(repo);
      entry['gun'] = gun;
      if (policy.unsigned === 'allow') {
        await this.passThrough(req, res, repo, url);
        entry['outcome'] = 'allow';
        entry['reason'] = 'unsigned-allowed';
        this.metrics.decision('allow', 'unsigned-allowed');
        return;
      }
      if (kind === 'blobs') {
        if (!DIGEST.test(ref)) throw new HttpFailure(400, 'DIGEST_INVALID', 'provided digest is not a sha256 digest', 'bad-request', 'deny');
        await this.blob(req, res, repo, ref);
        entry['outcome'] = 'allow';
        return;
      }
      const v = await this.trust.verified(gun);
      if (kind === 'tags') {
        if (ref !== 'list') throw new HttpFailure(404, 'UNSUPPORTED', 'not found', 'bad-request', 'deny');
        const tags = [...this.accepted(v, policy).keys()].sort();
        const body = JSON.stringify({ name: repo, tags });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(method === 'HEAD' ? undefined : body);
        entry['outcome'] = 'allow';
        entry['reason'] = 'tags-list';
        this.metrics.decision('allow', 'tags-list');
        return;
      }
      let digest: string;
      let length: number | undefined;
      if (DIGEST.test(ref)) {
        digest = ref;
        const allowed = await this.digestAllowed(repo, v, policy, ref);
        length = allowed.length;
        entry['via'] = allowed.via;
      } else {
        if (!TAG.test(ref)) throw new HttpFailure(400, 'MANIFEST_INVALID', `invalid tag ${JSON.stringify(ref)}`, 'bad-request', 'deny');
        const signed = evaluate(v, ref, policy);
        digest = signed.digest;
        length = signed.length;
        entry['roles'] = signed.roles;
      }
      entry['digest'] = digest;
      const manifest = await this.fetchManifest(this.upstreamPath(repo), digest, length);
      res.writeHead(200, { 'content-type': manifest.mediaType, 'content-length': manifest.bytes.length, 'docker-content-digest': digest, etag: `"${digest}"` });
      res.end(method === 'HEAD' ? undefined : manifest.bytes);
      entry['outcome'] = 'allow';
      entry['reason'] = v.usedCachedTimestamp ? 'signed-cached' : 'signed';
      this.metrics.decision('allow', entry['reason'] as string);
    } catch (e) {
      if (e instanceof ServerError) {
        // Client auth refused: a challenge, not a trust decision.
        const body = JSON.stringify({ errors: [{ code: e.code, message: e.message, ...(e.detail !== undefined ? { detail: e.detail } : {}) }] });
        if (!res.headersSent) res.writeHead(e.status, { ...e.headers, 'content-type': 'application/json' }).end(body);
        entry['outcome'] = 'auth';
        entry['status'] = e.status;
        return;
      }
      const f = failureOf(e);
      entry['outcome'] = f.outcome;
      entry['reason'] = f.reason;
      entry['message'] = f.message;
      this.metrics.decision(f.outcome, f.reason);
      if (!res.headersSent) {
        const body = JSON.stringify({ errors: [{ code: f.code, message: f.message }] });
        res.writeHead(f.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(req.method === 'HEAD' ? undefined : body);
      } else {
        res.destroy();
      }
    } finally {
      if (entry['outcome'] !== undefined && entry['reason'] !== undefined) {
        entry['ms'] = Number(process.hrtime.bigint() - started) / 1e6;
        this.logDecision(entry);
      }
    }
  }

  private async authorize(req: IncomingMessage, repo: string | undefined): Promise<void> {
    if (this.o.auth !== undefined) await this.o.auth.authorize(req, repo);
  }

  private async blob(req: IncomingMessage, res: ServerResponse, repo: string, digest: string): Promise<void> {
    const method = req.method === 'HEAD' ? 'HEAD' : 'GET';
    const t0 = process.hrtime.bigint();
    const up = await this.upstream.open(this.upstreamPath(repo), `/v2/${this.upstreamPath(repo)}/blobs/${digest}`, method);
    this.metrics.upstreamLatency('blob', Number(process.hrtime.bigint() - t0) / 1e9);
    if (up.status !== 200) {
      const text = await readCapped(up.body, 64 << 10, 'an error').catch(() => Buffer.alloc(0));
      const status = up.status === 404 ? 404 : 502;
      const body = status === 404 ? text : Buffer.from(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `the upstream answered HTTP ${up.status} for blob ${digest}` }] }));
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length }).end(method === 'HEAD' ? undefined : body);
      return;
    }
    const headers: Record<string, string> = { 'docker-content-digest': digest, 'content-type': 'application/octet-stream' };
    const len = up.headers['content-length'];
    if (typeof len === 'string' && /^\d+$/.test(len)) headers['content-length'] = len;
    res.writeHead(200, headers);
    if (method === 'HEAD') {
      up.body.resume();
      res.end();
      return;
    }
    await new Promise<void>((resolve) => {
      pipeline(up.body, new DigestGuard(digest), res, (err) => {
        if (err !== undefined && err !== null) this.o.log?.({ time: this.now().toISOString(), msg: 'blob stream failed', repository: repo, digest, error: err.message });
        resolve();
      });
    });
  }

  /** `unsigned: allow`: the request as it is, to the upstream and back. */
  private async passThrough(req: IncomingMessage, res: ServerResponse, repo: string, url: URL): Promise<void> {
    const path = this.upstreamPath(repo);
    const rest = url.pathname.slice(`/v2/${repo}`.length);
    const accept = req.headers['accept'];
    const up = await this.upstream.open(path, `/v2/${path}${rest}${url.search}`, req.method === 'HEAD' ? 'HEAD' : 'GET',
      typeof accept === 'string' ? { accept } : {});
    const headers: Record<string, string> = {};
    for (const h of ['content-type', 'content-length', 'docker-content-digest', 'etag']) {
      const value = up.headers[h];
      if (typeof value === 'string') headers[h] = value;
    }
    res.writeHead(up.status, headers);
    await new Promise<void>((resolve) => pipeline(up.body, res, () => resolve()));
  }

  close(): Promise<void> {
    return this.upstream.close();
  }
}

export async function startGate(o: GateOptions): Promise<RunningGate> {
  const loopback = isLoopbackHost(o.host);
  if (!loopback && o.allowInsecureListen !== true) {
    if (o.tls === undefined) throw configError(`plain HTTP is served only on a loopback address, not ${o.host}: give --tls-cert and --tls-key`);
    if (o.auth === undefined) throw configError(`without client auth the gate listens only on a loopback address, not ${o.host}: configure auth`);
  }
  const gate = new Gate(o);
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void gate.handle(req, res);
  };
  const server: Server = o.tls !== undefined
    ? createHttpsServer({ cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2' }, handler)
    : createHttpServer(handler);
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0; // blobs may stream for long; the upstream has its own idle deadline
  server.headersTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `${o.tls !== undefined ? 'https' : 'http'}://${hostPart}:${port}`, port, metrics: gate.metrics,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await gate.close();
    },
  };
}

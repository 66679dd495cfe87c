/**
 * Test publisher: builds signed uploads with Vouch's TUF builder and drives the server over
 * fastify's `inject()` (no sockets), for the HTTP-level tests, or over HTTPS (`httpsServer`) for
 * a server in another process.
 *
 * Contract: `testApp()` wires a TrustService + TrustHttp over a memory store (or a given one) and
 * an in-memory signer; `Publisher` creates a repository (client- or server-managed snapshot),
 * signs changes against the state it last published and posts them as notary's multipart body.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { pino } from 'pino';

import { TrustHttp, type HttpOptions } from '../../src/server/http.ts';
import { HealthMonitor } from '../../src/server/health.ts';
import { ServerMetrics } from '../../src/server/metrics.ts';
import { TrustService } from '../../src/server/service.ts';
import { ServerKeys, type SigningBackend } from '../../src/server/signing.ts';
import { openMemorySigningService } from '../../src/signer/embedded.ts';
import { MemoryMetaStore, type MetaStore } from '../../src/server/store.ts';
import { newRepository, signChanges, type Change, type RepoState } from '../../src/tuf/builder.ts';
import { parsePublicKey } from '../../src/tuf/keys.ts';
import { parseMetadata, type Metadata, type TargetsSigned } from '../../src/tuf/metadata.ts';
import type { Signer } from '../../src/tuf/signer.ts';
import { fileMetaOf } from '../../src/tuf/verify.ts';
import type { RoleName } from '../../src/tuf/types.ts';
import { ecdsaSigner, rootSigner } from '../tuf/builder-keys.ts';

export interface TestApp {
  readonly http: TrustHttp;
  readonly service: TrustService;
  readonly store: MetaStore;
  readonly signer: SigningBackend;
  inject: TrustHttp['app']['inject'];
  close(): Promise<void>;
}

export interface InjectRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly payload?: Buffer;
  readonly headers?: Record<string, string>;
}

/** What `Publisher` needs of a server: fastify's `inject()` has this shape. */
export interface Injectable {
  inject(req: InjectRequest): Promise<{ statusCode: number; body: string; rawPayload: Buffer }>;
}

/** `inject()` as real HTTPS requests to `baseUrl`, trusting `caFile`; each answer is read whole. */
export function httpsServer(baseUrl: string, caFile: string, timeoutMs = 60_000): Injectable {
  const ca = readFileSync(caFile);
  return {
    inject: (req) => new Promise((resolve, reject) => {
      const r = request(new URL(req.url, baseUrl), {
        method: req.method, ca, agent: false, timeout: timeoutMs,
        headers: { ...req.headers, ...(req.payload !== undefined ? { 'content-length': String(req.payload.length) } : {}) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const rawPayload = Buffer.concat(chunks);
          resolve({ statusCode: res.statusCode ?? 0, body: rawPayload.toString('utf8'), rawPayload });
        });
        res.on('error', reject);
      });
      r.on('timeout', () => r.destroy(new Error(`${req.method} ${req.url}: no answer within ${timeoutMs} ms`)));
      r.on('error', reject);
      r.end(req.payload);
    }),
  };
}

export interface TestAppOptions extends Partial<Omit<HttpOptions, 'service' | 'metrics' | 'health' | 'logger'>> {
  readonly store?: MetaStore;
  readonly signer?: SigningBackend;
  readonly now?: () => Date;
}

export function testApp(opts: TestAppOptions = {}): TestApp {
  const store = opts.store ?? new MemoryMetaStore(opts.now !== undefined ? { now: opts.now } : {});
  const signer = opts.signer ?? openMemorySigningService();
  const service = new TrustService({ store, keys: new ServerKeys(signer, 'ecdsa'), ...(opts.now !== undefined ? { now: opts.now } : {}) });
  const logger = pino({ level: process.env['VOUCH_TEST_LOG'] ?? 'silent' });
  const health = new HealthMonitor([{ name: 'DB operational', run: () => store.checkHealth() }]);
  const http = new TrustHttp({ ...opts, service, metrics: new ServerMetrics({ processMetrics: false }), health, logger });
  return { http, service, store, signer, inject: http.app.inject.bind(http.app), close: () => http.app.close() };
}

/** notary's multipart body: one `files` part per role, named by the bare role. */
export function multipart(files: ReadonlyMap<string, Uint8Array> | readonly (readonly [string, Uint8Array])[]): { body: Buffer; contentType: string } {
  const boundary = randomBytes(30).toString('hex');
  const chunks: Buffer[] = [];
  for (const [name, data] of files) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`));
    chunks.push(Buffer.from(data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

export const tufPath = (gun: string, file: string): string => `/v2/${gun}/_trust/tuf/${file}`;

export class Publisher {
  readonly gun: string;
  readonly app: Injectable;
  readonly root: Signer;
  readonly targets: Signer;
  readonly snapshot: Signer | undefined;
  readonly delegations = new Map<string, Signer>();
  state: RepoState = {};
  private readonly now: () => Date;

  constructor(app: Injectable, gun: string, opts: { serverSnapshot?: boolean; now?: () => Date; keysFrom?: Publisher } = {}) {
    this.app = app;
    this.gun = gun;
    this.now = opts.now ?? (() => new Date());
    const from = opts.keysFrom;
    this.root = from?.root ?? rootSigner(gun, this.now());
    this.targets = from?.targets ?? ecdsaSigner();
    this.snapshot = from !== undefined ? from.snapshot : opts.serverSnapshot === true ? undefined : ecdsaSigner();
    if (from !== undefined) this.state = from.state;
  }

  /** Re-reads root, targets and snapshot from the server (after losing a race). */
  async refresh(): Promise<void> {
    const get = async (file: string) => {
      const res = await this.app.inject({ method: 'GET', url: tufPath(this.gun, file) });
      if (res.statusCode !== 200) throw new Error(`GET ${file}: ${res.statusCode} ${res.body}`);
      return res.rawPayload;
    };
    const root = parseMetadata('root', await get('root.json'));
    const targets = parseMetadata('targets', await get('targets.json')) as Metadata<TargetsSigned>;
    const snapshot = parseMetadata('snapshot', await get('snapshot.json'));
    this.state = { root, targets: new Map([['targets', targets]]), snapshot };
  }

  async serverKey(role: 'timestamp' | 'snapshot') {
    const res = await this.app.inject({ method: 'GET', url: tufPath(this.gun, `${role}.key`) });
    if (res.statusCode !== 200) throw new Error(`GET ${role}.key: ${res.statusCode} ${res.body}`);
    return parsePublicKey(JSON.parse(res.body), role);
  }

  /** The files of a new repository (root v1, targets v1, snapshot v1 when the client holds it). */
  async initFiles(): Promise<Map<string, Uint8Array>> {
    const timestampKey = await this.serverKey('timestamp');
    const snapshotKey = this.snapshot ?? (await this.serverKey('snapshot'));
    const repo = await newRepository({
      gun: this.gun, now: this.now(), rootKeys: [this.root], targetsKey: this.targets, snapshotKey, timestampKey,
      snapshot: this.snapshot === undefined ? 'server' : 'client',
    });
    this.state = { root: repo.root, targets: new Map([['targets', repo.targets]]), ...(repo.snapshot ? { snapshot: repo.snapshot } : {}) };
    const files = new Map<string, Uint8Array>([['root', repo.root.bytes], ['targets', repo.targets.bytes]]);
    if (repo.snapshot !== undefined) files.set('snapshot', repo.snapshot.bytes);
    return files;
  }

  /** Signs `changes` against the last published state; the state advances only on `commit`. */
  async changeFiles(changes: readonly Change[]): Promise<{ files: Map<string, Uint8Array>; commit: () => void }> {
    const signed = await signChanges({
      now: this.now(), current: this.state, changes,
      signers: (role: RoleName) => {
        if (role === 'root') return [this.root];
        if (role === 'targets') return [this.targets];
        if (role === 'snapshot') return this.snapshot === undefined ? [] : [this.snapshot];
        const d = this.delegations.get(role);
        return d === undefined ? [] : [d];
      },
      snapshot: this.snapshot === undefined ? 'server' : 'client',
    });
    const files = new Map<string, Uint8Array>();
    for (const [role, meta] of signed.files) files.set(role, meta.bytes);
    return { files, commit: () => { this.state = signed.state; } };
  }

  post(files: ReadonlyMap<string, Uint8Array> | readonly (readonly [string, Uint8Array])[]) {
    const { body, contentType } = multipart(files);
    return this.app.inject({ method: 'POST', url: tufPath(this.gun, ''), payload: body, headers: { 'content-type': contentType } });
  }

  async init(): Promise<void> {
    const res = await this.post(await this.initFiles());
    if (res.statusCode !== 200) throw new Error(`init: ${res.statusCode} ${res.body}`);
  }

  async addTarget(name: string, content = name): Promise<void> {
    const { files, commit } = await this.changeFiles([{ kind: 'addTarget', role: 'targets', name, meta: fileMetaOf(Buffer.from(content)) }]);
    const res = await this.post(files);
    if (res.statusCode !== 200) throw new Error(`add ${name}: ${res.statusCode} ${res.body}`);
    commit();
  }

  get targetsMeta(): Metadata<TargetsSigned> | undefined {
    return this.state.targets?.get('targets');
  }
}

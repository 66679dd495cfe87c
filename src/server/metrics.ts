/**
 * Prometheus metrics for `/metrics`, named as notary-server's (namespace `notary_server`,
 * subsystem `http`, label `operation` = UpdateTUF, GetRoleByHash, GetRoleByVersion, GetRole,
 * GetKey, RotateKey, DeleteTUF, Changefeed), plus Node's process metrics.
 *
 * Contract: one registry per server instance (two servers in one test process do not collide);
 * `observe` is cheap enough for every request: latencies and sizes are histograms (fixed buckets,
 * no allocation per observation) rather than notary's summaries, and labelled children are cached.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One expiry for `vouch_server_expires_timestamp_seconds` (key_id is set for certificates). */
export interface ExpirySample {
  readonly gun: string;
  readonly role: string;
  readonly keyId?: string;
  readonly expires: Date;
}

export type Operation = 'UpdateTUF' | 'GetRoleByHash' | 'GetRoleByVersion' | 'GetRole' | 'GetKey' | 'RotateKey' | 'DeleteTUF' | 'Changefeed';

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'operation' | 'method' | 'code'>;
  private readonly duration: Histogram<'operation'>;
  private readonly responseSize: Histogram<'operation'>;
  private readonly publishes: Counter;
  private readonly rejections: Counter<'reason'>;
  private readonly counters = new Map<string, { inc(): void }>();
  private readonly histograms = new Map<string, { duration: { observe(v: number): void }; size: { observe(v: number): void } }>();

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'notary_server_http_requests_total', help: 'Total number of HTTP requests made.',
      labelNames: ['operation', 'method', 'code'], registers,
    });
    this.duration = new Histogram({
      name: 'notary_server_http_request_duration_microseconds', help: 'The HTTP request latencies in microseconds.',
      labelNames: ['operation'], buckets: [250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000, 5_000_000], registers,
    });
    this.responseSize = new Histogram({
      name: 'notary_server_http_response_size_bytes', help: 'The HTTP response sizes in bytes.',
      labelNames: ['operation'], buckets: [128, 512, 2048, 8192, 32_768, 131_072, 524_288, 2_097_152], registers,
    });
    this.publishes = new Counter({ name: 'vouch_server_publishes_total', help: 'Accepted publishes (updates of a collection).', registers });
    this.rejections = new Counter({
      name: 'vouch_server_publish_rejections_total', help: 'Refused publishes by reason (the error code answered).', labelNames: ['reason'], registers,
    });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  observe(operation: Operation, method: string, code: number, micros: number, bytes: number): void {
    const key = `${operation} ${method} ${code}`;
    let counter = this.counters.get(key);
    if (counter === undefined) {
      counter = this.requests.labels({ operation, method: method.toLowerCase(), code: String(code) });
      this.counters.set(key, counter);
    }
    counter.inc();
    let h = this.histograms.get(operation);
    if (h === undefined) {
      h = { duration: this.duration.labels({ operation }), size: this.responseSize.labels({ operation }) };
      this.histograms.set(operation, h);
    }
    h.duration.observe(micros);
    h.size.observe(bytes);
  }

  publishAccepted(): void {
    this.publishes.inc();
  }

  publishRejected(reason: string): void {
    this.rejections.inc({ reason });
  }

  /**
   * Exports `vouch_server_expires_timestamp_seconds{gun,role,key_id}`: when each role file and
   * root certificate expires, read from `source` at every scrape (so it follows re-signing).
   */
  exportExpiries(source: () => Promise<readonly ExpirySample[]>): void {
    new Gauge({
      name: 'vouch_server_expires_timestamp_seconds',
      help: 'When a role file or a root certificate of a collection expires, as Unix time in seconds.',
      labelNames: ['gun', 'role', 'key_id'], registers: [this.registry],
      async collect() {
        const samples = await source();
        this.reset();
        for (const s of samples) this.set({ gun: s.gun, role: s.role, key_id: s.keyId ?? '' }, Math.floor(s.expires.getTime() / 1000));
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * Prometheus metrics for `/metrics`, named as notary-server's (namespace `notary_server`,
 * subsystem `http`, label `operation` = UpdateTUF, GetRoleByHash, GetRoleByVersion, GetRole,
 * GetKey, RotateKey, DeleteTUF, Changefeed), plus Node's process metrics.
 *
 * Contract: one registry per server instance (two servers in one test process do not collide);
 * `observe` is cheap enough for every request.
 */
import { Counter, Registry, Summary, collectDefaultMetrics } from 'prom-client';

export type Operation = 'UpdateTUF' | 'GetRoleByHash' | 'GetRoleByVersion' | 'GetRole' | 'GetKey' | 'RotateKey' | 'DeleteTUF' | 'Changefeed';

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'operation' | 'method' | 'code'>;
  private readonly duration: Summary<'operation'>;
  private readonly responseSize: Summary<'operation'>;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'notary_server_http_requests_total', help: 'Total number of HTTP requests made.',
      labelNames: ['operation', 'method', 'code'], registers,
    });
    this.duration = new Summary({
      name: 'notary_server_http_request_duration_microseconds', help: 'The HTTP request latencies in microseconds.',
      labelNames: ['operation'], percentiles: [0.5, 0.9, 0.99], maxAgeSeconds: 600, ageBuckets: 5, registers,
    });
    this.responseSize = new Summary({
      name: 'notary_server_http_response_size_bytes', help: 'The HTTP response sizes in bytes.',
      labelNames: ['operation'], percentiles: [0.5, 0.9, 0.99], maxAgeSeconds: 600, ageBuckets: 5, registers,
    });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  observe(operation: Operation, method: string, code: number, micros: number, bytes: number): void {
    this.requests.inc({ operation, method: method.toLowerCase(), code: String(code) });
    this.duration.observe({ operation }, micros);
    this.responseSize.observe({ operation }, bytes);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

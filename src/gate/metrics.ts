/**
 * Prometheus metrics of the gate (`/metrics`): decisions by outcome and reason, upstream request
 * latency by kind, and Node's process metrics. One registry per gate instance.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GateMetrics {
  readonly registry = new Registry();
  private readonly decisions: Counter<'outcome' | 'reason'>;
  private readonly upstream: Histogram<'kind'>;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.decisions = new Counter({
      name: 'vouch_gate_decisions_total', help: 'Trust decisions of the gate by outcome (allow, deny, error) and reason.',
      labelNames: ['outcome', 'reason'], registers,
    });
    this.upstream = new Histogram({
      name: 'vouch_gate_upstream_request_seconds', help: 'Latency of upstream registry requests until the response headers.',
      labelNames: ['kind'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers,
    });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  decision(outcome: 'allow' | 'deny' | 'error', reason: string): void {
    this.decisions.inc({ outcome, reason });
  }

  upstreamLatency(kind: 'manifest' | 'blob' | 'tags', seconds: number): void {
    this.upstream.observe({ kind }, seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

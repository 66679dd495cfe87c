/**
 * Periodic health checks for `/_notary_server/health` (notary registers "DB operational" and
 * "Trust operational", each run every 10 s).
 *
 * Contract: each check runs once at `start()` and then every `intervalMs`, with a timeout of
 * `timeoutMs`; `failures()` returns check name → error message for every check whose latest run
 * failed (empty when healthy). `current()` re-runs the checks first when the last run is older
 * than `freshMs` (default 2 s) or a check is failing, so the endpoint reflects an outage within seconds rather than
 * notary's 10 s interval; `suspect()` (called when a request meets an outage) makes the next
 * `current()` re-run them at once. Unlike notary, a broken signer link is reported (docs/compatibility.md §3).
 * A failure is logged once when it starts and once when it clears, not on every run.
 */
import type { Logger } from 'pino';

export interface HealthCheck {
  readonly name: string;
  readonly run: () => Promise<void>;
}

export interface HealthOptions {
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly logger?: Logger;
  readonly freshMs?: number;
}

function withTimeout(p: Promise<void>, ms: number, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} check timed out after ${ms} ms`)), ms);
    timer.unref();
    p.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

export class HealthMonitor {
  private readonly checks: readonly HealthCheck[];
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly logger: Logger | undefined;
  private readonly state = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastRunMs = 0;
  private readonly freshMs: number;

  constructor(checks: readonly HealthCheck[], opts: HealthOptions = {}) {
    this.checks = checks;
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.logger = opts.logger;
    this.freshMs = opts.freshMs ?? 2_000;
  }

  /** A request just met an outage: the next `current()` re-runs the checks. */
  suspect(): void {
    this.lastRunMs = 0;
  }

  /** Failures after a re-run of stale checks. */
  async current(): Promise<ReadonlyMap<string, string>> {
    // While unhealthy, look again on every request: recovery should show as quickly as the outage.
    if (this.state.size > 0 || Date.now() - this.lastRunMs > this.freshMs) await this.runAll();
    return this.state;
  }

  failures(): ReadonlyMap<string, string> {
    return this.state;
  }

  /** Runs every check now (coalesced with a run already in progress). */
  runAll(): Promise<void> {
    this.running ??= Promise.all(this.checks.map((c) => this.runOne(c))).then(() => undefined).finally(() => {
      this.lastRunMs = Date.now();
      this.running = undefined;
    });
    return this.running;
  }

  private async runOne(check: HealthCheck): Promise<void> {
    try {
      await withTimeout(check.run(), this.timeoutMs, check.name);
      if (this.state.delete(check.name)) this.logger?.warn(`${check.name}: healthy again`);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (!this.state.has(check.name)) this.logger?.error(`${check.name}: ${message}`);
      this.state.set(check.name, message);
    }
  }

  async start(): Promise<void> {
    await this.runAll();
    this.timer = setInterval(() => void this.runAll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

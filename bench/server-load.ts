/**
 * HTTP load generator for the server benchmark, run as its own process so it does not share an
 * event loop with a server under test: `node --import tsx bench/server-load.ts <url> <caFile>
 * <connections> <durationMs>` keeps `connections` keep-alive TLS connections busy with GETs of
 * `url` for `durationMs` (after a 1 s warm-up) and prints one JSON line:
 * `{requests, rps, p50Ms, p90Ms, p99Ms, maxMs, errors, statuses, bytes}`. Requests carry
 * `Accept-Encoding: gzip` as Go's HTTP client sends it; every response body is read completely
 * (not inflated); a non-200 status counts as an error.
 */
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';

const [url, caFile, connArg, durArg] = process.argv.slice(2);
if (url === undefined || caFile === undefined) {
  process.stderr.write('usage: server-load.ts <url> <caFile> [connections=32] [durationMs=10000]\n');
  process.exit(2);
}
const connections = Number(connArg ?? '32');
const durationMs = Number(durArg ?? '10000');
const target = new URL(url);
const pool = new Pool(target.origin, {
  connections, pipelining: 1, connect: { ca: readFileSync(caFile), servername: 'localhost' }, keepAliveTimeout: 60_000,
});
const path = `${target.pathname}${target.search}`;
let bytes = 0;

async function one(): Promise<{ status: number; ms: number }> {
  const t0 = process.hrtime.bigint();
  // Go's transport (notary, docker) always asks for gzip; the body is read but not inflated.
  const res = await pool.request({ method: 'GET', path, headers: { 'accept-encoding': 'gzip' } });
  const body = await res.body.arrayBuffer();
  bytes += body.byteLength;
  return { status: res.statusCode, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

async function run(untilMs: number, record: boolean, latencies: number[], statuses: Map<number, number>): Promise<void> {
  while (Date.now() < untilMs) {
    try {
      const r = await one();
      if (record) {
        latencies.push(r.ms);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }
    } catch {
      if (record) statuses.set(0, (statuses.get(0) ?? 0) + 1);
    }
  }
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

const warm = Date.now() + 1_000;
await Promise.all(Array.from({ length: connections }, () => run(warm, false, [], new Map())));
const latencies: number[] = [];
const statuses = new Map<number, number>();
const start = Date.now();
await Promise.all(Array.from({ length: connections }, () => run(start + durationMs, true, latencies, statuses)));
const elapsed = (Date.now() - start) / 1000;
await pool.close();
latencies.sort((a, b) => a - b);
const round = (n: number) => Math.round(n * 100) / 100;
process.stdout.write(`${JSON.stringify({
  requests: latencies.length, rps: round(latencies.length / elapsed), p50Ms: round(pct(latencies, 0.5)), p90Ms: round(pct(latencies, 0.9)),
  p99Ms: round(pct(latencies, 0.99)), maxMs: round(latencies.at(-1) ?? 0),
  errors: latencies.length - (statuses.get(200) ?? 0) + (statuses.get(0) ?? 0), statuses: Object.fromEntries(statuses), bytes,
})}\n`);

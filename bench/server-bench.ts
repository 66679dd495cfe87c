/**
 * notary-server versus `vouch server`, side by side on the same PostgreSQL and the same
 * notary-signer (issue #5's benchmark).
 *
 *   node --import tsx bench/server-bench.ts [--duration MS] [--connections N] [--rounds N] [--pin]
 *
 * VOUCH_BENCH_NODE_FLAGS adds node flags to the vouch servers (e.g. `--cpu-prof --cpu-prof-dir=D`
 * to see where a server spends its time under this load).
 *
 * Each server gets a fresh database on the local PostgreSQL. notary-server signs through a Debian
 * notary-signer (its own PostgreSQL database); `vouch server` runs in its default shape, its signer
 * in-process with the keys in its PostgreSQL database, and — for the publish comparison only — a
 * second `vouch server` signs through the same notary-signer. `vouch server` runs as esbuild
 * bundles it (plain node, no TypeScript loader) with the V8 flags of package.json's start script
 * (`npm start`). Each server is seeded with the same two repositories (1 and 1,000
 * targets), then:
 * - GET throughput/latency of timestamp.json and targets.json (both repositories) at N
 *   connections for MS each, measured by a separate load process, alternating servers;
 * - 20 concurrent first publishes (GET timestamp.key, then POST root+targets+snapshot; client
 *   signing happens between the two timed phases and is not counted), one untimed warm-up round,
 *   then `--rounds` timed rounds (median reported);
 * - the vouch process's peak RSS while under load (VmHWM of /proc/<pid>/status).
 * It prints a table with vouch/notary ratios and one JSON line with every number.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { notaryPeersUnavailableReason, startNotaryHarness } from '../test/helpers/notary-harness.ts';
import { freePort } from '../test/helpers/ports.ts';
import { pgTarget, postgresUnavailableReason, psql } from '../test/helpers/postgres.ts';
import { BenchPublisher, httpsCall } from './server-publish.ts';

interface LoadResult { requests: number; rps: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number; errors: number }

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const DURATION = arg('duration', 10_000);
const CONNECTIONS = arg('connections', 32);
const ROUNDS = arg('rounds', 3);
/**
 * `--pin`: the load generator runs on CPU 1 and every server process (all threads) on CPU 0, so
 * the 2-vCPU machine's client does not steal the server's CPU mid-request; PostgreSQL and
 * notary-signer are left to the scheduler. Off by default.
 */
const PIN = process.argv.includes('--pin');
const TASKSET = '/usr/bin/taskset';

/** `pid` and its descendants (notary-server runs under /usr/bin/timeout). */
function processTree(pid: number): number[] {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((x) => x !== '').map(Number);
  return [pid, ...children.flatMap(processTree)];
}

function pinToCpu0(pid: number): void {
  if (!PIN) return;
  for (const p of processTree(pid)) {
    const r = spawnSync(TASKSET, ['-a', '-p', '-c', '0', String(p)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`taskset for ${p} failed: ${r.stderr}`);
  }
}
const ROOT = join(import.meta.dirname, '..');
/** The node flags `npm start` runs the server with, so the benchmark measures that process shape. */
const V8_FLAGS = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } })
  .scripts.start.split(/\s+/).filter((w) => w.startsWith('--'));

function load(url: string, caFile: string): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const argv = [process.execPath, '--import', 'tsx', join(ROOT, 'bench', 'server-load.ts'), url, caFile, String(CONNECTIONS), String(DURATION)];
    const [bin, ...rest] = PIN ? [TASKSET, '-c', '1', ...argv] : argv;
    const child = spawn(bin as string, rest, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.once('close', (code) => (code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`load generator exited ${String(code)}: ${out}`))));
  });
}

function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Math.round(Number(m[1]) / 1024);
}

function createDatabase(name: string): string {
  const t = pgTarget();
  const r = psql('postgres', ['-c', `CREATE DATABASE "${name}"`]);
  if (!r.ok) throw new Error(r.output);
  process.on('exit', () => psql('postgres', ['-c', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`]));
  return `postgres://${t.user}@${t.host}:${t.port}/${name}?sslmode=disable`;
}

type Pki = { caFile: string; server: { certFile: string; keyFile: string }; client: { certFile: string; keyFile: string } };

/** Starts the bundled server; `signerPort` undefined: the in-process signer, keys in `dbUrl`. */
async function startVouch(workDir: string, pki: Pki, signerPort: number | undefined, dbUrl: string, bundle: string) {
  const port = await freePort();
  const config = join(workDir, `vouch-server-${port}.json`);
  const trust = signerPort === undefined
    ? { type: 'local', key_algorithm: 'ecdsa', storage: { backend: 'postgres', db_url: dbUrl } }
    : {
      type: 'remote', hostname: '127.0.0.1', port: String(signerPort), key_algorithm: 'ecdsa',
      tls_ca_file: pki.caFile, tls_client_cert: pki.client.certFile, tls_client_key: pki.client.keyFile,
    };
  writeFileSync(config, JSON.stringify({
    server: { http_addr: `127.0.0.1:${port}`, tls_cert_file: pki.server.certFile, tls_key_file: pki.server.keyFile },
    trust_service: trust, storage: { backend: 'postgres', db_url: dbUrl }, logging: { level: 'error' },
  }));
  const child = spawn(process.execPath, [...V8_FLAGS, ...(process.env['VOUCH_BENCH_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== ''), bundle, 'server', '--config', config], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NOTARY_SIGNER_VOUCH: 'vouch-bench-passphrase' },
  });
  process.on('exit', () => child.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`vouch server exited ${String(code)}: ${out}`)));
  });
  return { url: `https://127.0.0.1:${port}`, pid: child.pid!, stop: () => child.kill('SIGTERM') };
}

async function seed(url: string, caFile: string): Promise<void> {
  for (const [gun, count] of [['bench.example.com/small', 1], ['bench.example.com/large', 1000]] as const) {
    const p = new BenchPublisher(url, caFile, gun);
    await p.post(await p.initFiles(await p.timestampKey()));
    await p.addTargets(count);
  }
}

const phases: Record<string, string[]> = {};

/** 20 concurrent first publishes; returns the server-side wall time (key fetch + POST) in ms. */
async function firstPublishes(name: string, url: string, caFile: string, round: number): Promise<number> {
  const pubs = Array.from({ length: 20 }, (_, i) => new BenchPublisher(url, caFile, `bench.example.com/first-${round}-${i}`));
  let t0 = performance.now();
  const keys = await Promise.all(pubs.map((p) => p.timestampKey()));
  const keyMs = performance.now() - t0;
  const files = await Promise.all(pubs.map((p, i) => p.initFiles(keys[i]!)));
  t0 = performance.now();
  await Promise.all(pubs.map((p, i) => p.post(files[i]!)));
  const postMs = performance.now() - t0;
  (phases[name] ??= []).push(`${keyMs.toFixed(0)}+${postMs.toFixed(0)}`);
  return keyMs + postMs;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main(): Promise<void> {
  const missing = notaryPeersUnavailableReason() ?? postgresUnavailableReason();
  if (missing !== undefined) throw new Error(`cannot run: ${missing}`);
  const build = spawnSync(process.execPath, [join(ROOT, 'bench', 'server-build.mjs')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`bundling failed: ${build.stderr}`);
  const bundle = build.stdout.trim();
  const notary = await startNotaryHarness({ storage: 'postgres' });
  const caFile = notary.caFile;
  const vouch = await startVouch(notary.workDir, notary.pki, undefined, createDatabase(`vouch_bench_${Date.now()}`), bundle);
  const vouchRemote = await startVouch(notary.workDir, notary.pki, notary.signer!.port, createDatabase(`vouch_bench_remote_${Date.now()}`), bundle);
  const servers = { notary: { url: notary.url, pid: notary.server.process.pid }, vouch, vouchRemote };
  for (const s of Object.values(servers)) pinToCpu0(s.pid);
  try {
    for (const s of [servers.notary, servers.vouch]) await seed(s.url, caFile);
    const paths = ['small/_trust/tuf/timestamp.json', 'small/_trust/tuf/targets.json', 'large/_trust/tuf/targets.json'];
    const reads: Record<string, Record<string, LoadResult>> = {};
    let vouchPeak = 0;
    for (const path of paths) {
      reads[path] = {};
      for (const name of ['notary', 'vouch'] as const) {
        const url = `${servers[name].url}/v2/bench.example.com/${path}`;
        const check = await httpsCall(url, readFileSync(caFile), 'GET');
        if (check.status !== 200) throw new Error(`${name} ${path}: ${check.status}`);
        const sampler = setInterval(() => { if (name === 'vouch') vouchPeak = Math.max(vouchPeak, rssMiB(vouch.pid, 'VmRSS')); }, 100);
        reads[path][name] = await load(url, caFile);
        clearInterval(sampler);
      }
    }
    const publishes: Record<string, number[]> = { notary: [], vouch: [], vouchRemote: [] };
    // One untimed round each: a long-running server is warm (JIT, pools, key caches).
    for (const name of ['notary', 'vouch', 'vouchRemote'] as const) await firstPublishes('warm-up', servers[name].url, caFile, -1 - ['notary', 'vouch', 'vouchRemote'].indexOf(name));
    delete phases['warm-up'];
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of ['notary', 'vouch', 'vouchRemote'] as const) publishes[name]!.push(await firstPublishes(name, servers[name].url, caFile, r));
    }
    const peakHwm = rssMiB(vouch.pid, 'VmHWM');
    report(reads, publishes, Math.max(vouchPeak, peakHwm));
  } finally {
    vouch.stop();
    vouchRemote.stop();
    await notary.stop();
  }
}

function report(reads: Record<string, Record<string, LoadResult>>, publishes: Record<string, number[]>, vouchRss: number): void {
  const rows = [['request', 'notary rps', 'vouch rps', 'ratio', 'notary p99 ms', 'vouch p99 ms', 'vouch p50 ms', 'errors n/v']];
  for (const [path, r] of Object.entries(reads)) {
    const n = r['notary']!;
    const v = r['vouch']!;
    rows.push([`GET ${path.replace('/_trust/tuf/', ' ')}`, String(n.rps), String(v.rps), `${(v.rps / n.rps).toFixed(2)}x`, String(n.p99Ms), String(v.p99Ms), String(v.p50Ms), `${n.errors}/${v.errors}`]);
  }
  const np = median(publishes['notary']!);
  const vp = median(publishes['vouch']!);
  const vr = median(publishes['vouchRemote']!);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}\n`);
  process.stdout.write(`\n20 concurrent first publishes (median of ${publishes['notary']!.length}): notary ${np.toFixed(0)} ms, vouch ${vp.toFixed(0)} ms (ratio ${(vp / np).toFixed(2)}x), vouch through notary-signer ${vr.toFixed(0)} ms (ratio ${(vr / np).toFixed(2)}x)\n`);
  process.stdout.write(`  phases (keys+posts ms): ${Object.entries(phases).map(([n, p]) => `${n} ${p.join(' ')}`).join('; ')}\n`);
  process.stdout.write(`vouch server peak RSS under load: ${vouchRss} MiB\n`);
  process.stdout.write(`${JSON.stringify({ connections: CONNECTIONS, durationMs: DURATION, reads, publishes, vouchPeakRssMiB: vouchRss })}\n`);
}

await main();

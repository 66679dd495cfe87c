/**
 * Signer benchmark: `vouch signer` next to the Debian notary-signer 0.7.0, same PostgreSQL
 * database, same mutual-TLS gRPC client (Vouch's RemoteSigningService), same load, in one run.
 *
 * Run: node --import tsx bench/signer.ts [--duration 5] [--rounds 3] [--concurrency 1,8,32]
 *        [--keys 10] [--creates 100] [--algorithm ecdsa|ed25519] [--json FILE]
 *
 * Signers (child processes on 127.0.0.1, logging at `error`, notary's default): notary-signer,
 * `vouch signer` as shipped, and `vouch signer` with `vouch.last_used_refresh_ms: 0`, which
 * writes `last_used` on every signature as notary-signer does. What it measures, per signer:
 * - CreateKey: `--creates` sequential calls for distinct GUNs (key generation, JWE encryption,
 *   one INSERT each);
 * - Sign: closed-loop load for `--duration` seconds at each concurrency level, spread over
 *   `--keys` keys, with a 420-byte timestamp-sized message; throughput and latency percentiles.
 * The order of the signers rotates per level so drift on the shared 2-core machine hits all.
 * Every 500th signature is verified, so neither side can win by returning garbage.
 */
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

import { RemoteSigningService } from '../src/signer/grpc-client.ts';
import { importEd25519Raw } from '../src/crypto/signatures.ts';
import { startNotarySigner } from '../test/helpers/notary-peers.ts';
import type { NotaryPeer } from '../test/helpers/notary-peers.ts';
import { generateTestPki } from '../test/helpers/tls.ts';
import { createThrowawayDatabase } from '../test/signer/helpers/databases.ts';
import { startVouchSigner } from '../test/signer/helpers/vouch-signer.ts';
import { migrateToLatest } from '../src/storage/migrations.ts';
import { openDatabase } from '../src/storage/database.ts';
import { SIGNER_COMPONENT, SIGNER_MIGRATIONS } from '../src/signer/schema.ts';

interface Args {
  duration: number;
  concurrency: number[];
  keys: number;
  creates: number;
  algorithm: 'ecdsa' | 'ed25519';
  rounds: number;
  json?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { duration: 5, concurrency: [1, 8, 32], keys: 10, creates: 100, algorithm: 'ecdsa', rounds: 3 };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1] ?? ''];
    if (k === '--duration') a.duration = Number(v);
    else if (k === '--concurrency') a.concurrency = v.split(',').map(Number);
    else if (k === '--keys') a.keys = Number(v);
    else if (k === '--creates') a.creates = Number(v);
    else if (k === '--algorithm' && (v === 'ecdsa' || v === 'ed25519')) a.algorithm = v;
    else if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--json') a.json = v;
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

interface Stats {
  readonly ops: number;
  readonly seconds: number;
  readonly opsPerSec: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly errors: number;
}

function stats(latencies: number[], seconds: number, errors: number): Stats {
  const sorted = [...latencies].sort((x, y) => x - y);
  const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  return { ops: sorted.length, seconds, opsPerSec: sorted.length / seconds, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: sorted.at(-1) ?? NaN, errors };
}

const MESSAGE = Buffer.from(`{"_type":"Timestamp","expires":"2031-01-01T00:00:00Z","meta":{"snapshot":{"hashes":{"sha256":"${'A'.repeat(44)}","sha512":"${'B'.repeat(88)}"},"length":1234}},"version":12345}`.padEnd(420, ' '));

interface Key { readonly keyId: string; readonly publicKey: Uint8Array }

function checkSignature(alg: string, key: Key, sig: Uint8Array): void {
  const ok = alg === 'ed25519'
    ? verify(null, MESSAGE, importEd25519Raw(key.publicKey), sig)
    : verify('sha256', MESSAGE, { key: createPublicKey({ key: Buffer.from(key.publicKey), format: 'der', type: 'spki' }), dsaEncoding: 'ieee-p1363' }, sig);
  if (!ok) throw new Error(`signature by ${key.keyId} does not verify`);
}

async function createKeys(s: RemoteSigningService, args: Args, tag: string, n: number): Promise<{ keys: Key[]; stats: Stats }> {
  const lat: number[] = [];
  const keys: Key[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    keys.push(await s.createKey({ algorithm: args.algorithm, gun: `bench.example/${tag}/${i}`, role: 'timestamp' }));
    lat.push(performance.now() - t);
  }
  return { keys, stats: stats(lat, (performance.now() - t0) / 1000, 0) };
}

async function signLoad(s: RemoteSigningService, keys: Key[], args: Args, concurrency: number, seconds: number): Promise<Stats> {
  const lat: number[] = [];
  let errors = 0;
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const key = keys[n++ % keys.length]!;
      const t = performance.now();
      try {
        const sig = await s.sign(key.keyId, MESSAGE);
        lat.push(performance.now() - t);
        if (n % 500 === 0) checkSignature(args.algorithm, key, sig.signature);
      } catch (e) {
        errors++;
        if (errors === 1) process.stderr.write(`sign error: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  }));
  return stats(lat, (performance.now() - t0) / 1000, errors);
}

/** The round with the median throughput (its latencies are reported with it). */
function median(rounds: Stats[]): Stats {
  return [...rounds].sort((x, y) => x.opsPerSec - y.opsPerSec)[Math.floor(rounds.length / 2)]!;
}

const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

interface Contender {
  readonly name: string;
  readonly client: RemoteSigningService;
  keys: Key[];
}

function rows(op: string, results: readonly (readonly [string, Stats])[]): string[] {
  const base = results[0]![1];
  return results.map(([name, st]) => `| ${op} | ${name} | ${fmt(st.opsPerSec, 0)} | ${name === results[0]![0] ? '1.00×' : `**${fmt(st.opsPerSec / base.opsPerSec)}×**`} | ` +
    `${fmt(st.p50)} | ${fmt(st.p90)} | ${fmt(st.p99)} | ${fmt(st.max)} | ${st.errors} |`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const loadAtStart = loadavg().map((x) => x.toFixed(1)).join(' ');
  const dir = mkdtempSync(join(tmpdir(), 'vouch-bench-signer-'));
  const peers: NotaryPeer[] = [];
  const tdb = createThrowawayDatabase('postgres', dir);
  try {
    const pki = generateTestPki(join(dir, 'pki'));
    const db = openDatabase(tdb.config);
    await migrateToLatest(db, SIGNER_COMPONENT, SIGNER_MIGRATIONS);
    await db.close();
    const storage = { backend: 'postgres', db_url: tdb.config.dbUrl };
    peers.push(await startNotarySigner({ pki, workDir: dir, storage: { backend: 'postgres', dbUrl: tdb.config.dbUrl }, logLevel: 'error' }));
    peers.push(await startVouchSigner({ pki, workDir: dir, storage, logLevel: 'error' }));
    // The same signer writing last_used on every signature, as notary-signer does.
    peers.push(await startVouchSigner({ pki, workDir: dir, storage, logLevel: 'error', extraConfig: { vouch: { last_used_refresh_ms: 0 } } }));
    const tls = { ca: readFileSync(pki.caFile), cert: readFileSync(pki.client.certFile), key: readFileSync(pki.client.keyFile) };
    const names = ['notary-signer 0.7.0', 'vouch signer', 'vouch signer, last_used on every Sign'];
    const contenders: Contender[] = peers.map((p, i) => ({ name: names[i]!, keys: [],
      client: new RemoteSigningService({ address: `127.0.0.1:${p.port}`, tls, deadlineMs: 30_000 }) }));

    const creates: [string, Stats][] = [];
    for (const [i, c] of contenders.entries()) {
      const r = await createKeys(c.client, args, `s${i}`, args.creates);
      c.keys = r.keys.slice(0, args.keys);
      creates.push([c.name, r.stats]);
    }
    for (const c of contenders) await signLoad(c.client, c.keys, args, 4, 1);
    const signs: { concurrency: number; results: [string, Stats][] }[] = [];
    for (const concurrency of args.concurrency) {
      const measured = new Map<string, Stats[]>(contenders.map((c) => [c.name, []]));
      for (let round = 0; round < args.rounds; round++) {
        // Rotate who goes first each round so machine drift does not always favour one signer.
        for (let i = 0; i < contenders.length; i++) {
          const c = contenders[(i + round) % contenders.length]!;
          measured.get(c.name)!.push(await signLoad(c.client, c.keys, args, concurrency, args.duration));
        }
      }
      signs.push({ concurrency, results: contenders.map((c) => [c.name, median(measured.get(c.name)!)]) });
    }
    const lines = [
      `Signer benchmark: ${args.algorithm} keys, one PostgreSQL database, ${args.keys} keys per signer, Sign levels ${args.duration} s × ` +
        `${args.rounds} rounds (median round shown), Node ${process.version}, load average at start ${loadAtStart}, at end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`,
      '',
      '| operation | signer | ops/s | vs notary | p50 ms | p90 ms | p99 ms | max ms | errors |',
      '|---|---|---|---|---|---|---|---|---|',
      ...rows(`CreateKey ×${args.creates}, sequential`, creates),
      ...signs.flatMap((s) => rows(`Sign, ${s.concurrency} in flight`, s.results)),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (args.json !== undefined) writeFileSync(args.json, `${JSON.stringify({ args, creates, signs }, null, 2)}\n`);
    for (const c of contenders) await c.client.close();
  } finally {
    for (const p of peers) await p.stop();
    tdb.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

/**
 * The Vouch client next to the notary 0.7 client on the same real notary-server + notary-signer
 * (test/helpers harness), as subprocesses, wall-clock time per command:
 *
 * 1. stage + publish 10,000 targets: `vouch add GUN --from-file FILE -p` (one command) against
 *    10,000 `notary addhash` calls plus `notary publish` (or a sample of N calls, extrapolated);
 * 2. list 10,000 targets cold (an empty trust dir each run), both clients on one collection;
 * 3. a single `add -p` on a small collection.
 *
 * Vouch is also measured through `vouch agent` (docs/agent.md): the native front end
 * (dist/vouch-client) hands each command to a Node process the agent has ready, once with unlocked
 * keys kept (the default) and once with `--cache-ttl 0`. Every run of every client starts after a
 * pause (--pause, default 400 ms), so the agent's replacement process is never still starting
 * when anything is timed, and all clients are measured on an equally idle machine, as when a
 * person types commands.
 *
 * Vouch runs as `npm ci` leaves it: `node bin/vouch.cjs`, which runs the built CLI (bin/build.mjs,
 * rebuilt here first) with V8's code cache; for reference also from source through tsx. Floors:
 * Node's own start-up (`node -e 0`), `vouch version`, and one PBKDF2 key derivation at Vouch's
 * 204,800 iterations (every signing key a publish unlocks costs one). Usage:
 *   node --import tsx bench/client.ts [--targets 10000] [--notary-adds 10000] [--runs 5]
 */
import { spawnSync } from 'node:child_process';
import { createHash, pbkdf2Sync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCli, buildFrontEnd } from '../bin/build.mjs';
import { VOUCH_PBKDF2_ITERATIONS } from '../src/crypto/pkcs8.ts';
import { startNotaryHarness } from '../test/helpers/notary-harness.ts';
import { DEFAULT_PASSPHRASES, NOTARY_CLI_BIN } from '../test/helpers/notary-cli.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const TARGETS = opt('targets', 10_000);
const NOTARY_ADDS = opt('notary-adds', TARGETS);
const RUNS = opt('runs', 5);
const PAUSE_MS = opt('pause', 400);
const pause = (): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, PAUSE_MS);
};

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'vouch-bench-'));
const env = {
  PATH: '/usr/bin:/bin', HOME: work, TZ: 'UTC',
  NOTARY_ROOT_PASSPHRASE: DEFAULT_PASSPHRASES.root, NOTARY_TARGETS_PASSPHRASE: DEFAULT_PASSPHRASES.targets,
  NOTARY_SNAPSHOT_PASSPHRASE: DEFAULT_PASSPHRASES.snapshot, NOTARY_DELEGATION_PASSPHRASE: DEFAULT_PASSPHRASES.delegation,
};

interface Client { name: string; argv: (a: string[]) => [string, string[]]; env?: Record<string, string> }

function run(c: Client, a: string[], input?: string, paused = false): number {
  const [bin, argv] = c.argv(a);
  if (paused) pause();
  const t = performance.now();
  const r = spawnSync(bin, argv, { env: { ...env, ...c.env }, input: input ?? '', encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${c.name} ${a.join(' ')} failed (${r.status}): ${r.stdout}\n${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const fmt = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

const dir = (name: string): string => {
  const d = join(work, name);
  mkdirSync(d, { recursive: true });
  return d;
};

async function main(): Promise<void> {
  const lines: string[] = [];
  for (let i = 0; i < TARGETS; i++) {
    const data = `bench target ${i}\n`;
    lines.push(`t-${String(i).padStart(5, '0')} ${Buffer.byteLength(data)} ${createHash('sha256').update(data).digest('hex')}`);
  }
  const listFile = join(work, 'targets.txt');
  writeFileSync(listFile, lines.join('\n') + '\n');
  // notary stages offline; doing it before the server starts keeps the run inside the harness's
  // lifetime cap. `notary init` later leaves these changes staged, and the publish applies them.
  const offline: Client = { name: 'notary', argv: (a) => [NOTARY_CLI_BIN, a] };
  const nd = dir('notary-bulk');
  let notaryAdds = 0;
  for (let i = 0; i < NOTARY_ADDS; i++) {
    const [name, size, sha] = (lines[i] as string).split(' ') as [string, string, string];
    notaryAdds += run(offline, ['-d', nd, 'addhash', 'bench/notary-bulk', name, size, '--sha256', sha]);
  }
  await buildCli();
  const bin = join(root, 'bin/vouch.cjs');
  const times = (c: Client, a: string[]) => median(Array.from({ length: RUNS * 2 }, () => run(c, a)));
  const floors = {
    node: times({ name: 'node', argv: (a) => [process.execPath, a] }, ['-e', '0']),
    vouchVersion: times({ name: 'vouch', argv: (a) => [process.execPath, [bin, ...a]] }, ['version']),
    notaryVersion: times(offline, ['version']),
    pbkdf2: median(Array.from({ length: RUNS }, () => {
      const t = performance.now();
      pbkdf2Sync('passphrase', 'salt0123', VOUCH_PBKDF2_ITERATIONS, 32, 'sha1');
      return performance.now() - t;
    })),
  };
  const harness = await startNotaryHarness();
  const agents: string[] = [];
  try {
    const server = ['-s', harness.url, '--tlscacert', harness.caFile];
    const notary: Client = { name: 'notary', argv: (a) => [NOTARY_CLI_BIN, [...server, ...a]] };
    const vouch: Client = { name: 'vouch', argv: (a) => [process.execPath, [bin, ...server, ...a]] };
    const vouchTsx: Client = { name: 'vouch (tsx)', argv: (a) => [process.execPath, [bin, ...server, ...a]], env: { VOUCH_FROM_SOURCE: '1' } };
    const frontEnd = buildFrontEnd();
    if (frontEnd === undefined) throw new Error('the agent front end did not build (a C compiler is needed)');
    const agentClient = (name: string, ttl: string): Client => {
      const socket = join(work, `agent-${ttl}`, 'a.sock');
      run({ name, argv: (a) => [process.execPath, [bin, ...a]] }, ['agent', 'start', '--socket', socket, '--cache-ttl', ttl]);
      agents.push(socket);
      return { name, argv: (a) => [frontEnd, [...server, ...a]], env: { VOUCH_AGENT_SOCK: socket } };
    };
    const vouchAgent = agentClient('vouch-agent', '600');
    const vouchAgentNoCache = agentClient('vouch-agent-nocache', '0');

    // 1. stage + publish
    const vd = dir('vouch-bulk');
    run(vouch, ['-d', vd, 'init', 'bench/vouch-bulk', '-p']);
    const vouchBulk = run(vouch, ['-d', vd, 'add', 'bench/vouch-bulk', '--from-file', listFile, '-p']);
    run(notary, ['-d', nd, 'init', 'bench/notary-bulk']);
    const notaryPublish = run(notary, ['-d', nd, 'publish', 'bench/notary-bulk']);
    const notaryAddsFull = (notaryAdds / NOTARY_ADDS) * TARGETS;

    // Runs alternate between the clients, so the shared machine's load changes hit all of them.
    const interleaved = (cases: readonly { c: Client; args: (i: number) => string[] }[]): number[] => {
      const xs = cases.map(() => [] as number[]);
      for (let i = 0; i < RUNS; i++) cases.forEach((k, j) => xs[j]?.push(run(k.c, k.args(i), undefined, true)));
      return xs.map(median);
    };

    // 2. list cold, all clients on the 10,000-target collection Vouch published.
    const list = (c: Client) => ({ c, args: (i: number) => ['-d', dir(`list-${c.name}-${i}`), 'list', 'bench/vouch-bulk'] });
    const [nList, vList, tList, aList] = interleaved([list(notary), list(vouch), list(vouchTsx), list(vouchAgent)]) as [number, number, number, number];

    // 3. a single add -p on small collections, each client on its own (keys made by that client),
    // and Vouch on the collection notary made, with notary's key files (PBKDF2 2,048 iterations
    // instead of Vouch's 204,800): separates Vouch's own cost from its stronger key encryption.
    const f = join(work, 'payload');
    writeFileSync(f, 'payload\n');
    const small = (c: Client, gun: string, tag: string, d = dir(`small-${c.name}`)) => ({ c, args: (i: number) => ['-d', d, 'add', gun, `${tag}${i}`, f, '-p'] });
    run(notary, ['-d', dir('small-notary'), 'init', 'bench/notary-small', '-p']);
    run(vouch, ['-d', dir('small-vouch'), 'init', 'bench/vouch-small', '-p']);
    // The agent keeping keys has them from an earlier command, as after the first of a session.
    run(vouchAgent, ['-d', dir('small-vouch'), 'add', 'bench/vouch-small', 'warm', f, '-p'], undefined, true);
    const [nAdd, vAdd, vOnNotaryKeys, aAdd, aNoCacheAdd] = interleaved([
      small(notary, 'bench/notary-small', 'p'), small(vouch, 'bench/vouch-small', 'p'), small(vouch, 'bench/notary-small', 'q', join(work, 'small-notary')),
      small(vouchAgent, 'bench/vouch-small', 'a', join(work, 'small-vouch')), small(vouchAgentNoCache, 'bench/vouch-small', 'n', join(work, 'small-vouch')),
    ]) as [number, number, number, number, number];

    const out = [
      `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}, Node ${process.version}`,
      `floors (median): node -e 0 ${fmt(floors.node)}; vouch version ${fmt(floors.vouchVersion)} (notary version ${fmt(floors.notaryVersion)}); one PBKDF2-HMAC-SHA1 at ${VOUCH_PBKDF2_ITERATIONS} iterations ${fmt(floors.pbkdf2)}`,
      `| measurement | notary 0.7 | Vouch (built) | ratio | Vouch from source (tsx) |`,
      `|---|---|---|---|---|`,
      `| stage + publish ${TARGETS} targets | ${fmt(notaryAddsFull + notaryPublish)} (${NOTARY_ADDS} addhash: ${fmt(notaryAdds)}${NOTARY_ADDS < TARGETS ? `, ×${TARGETS / NOTARY_ADDS} extrapolated` : ''}; publish ${fmt(notaryPublish)}) | ${fmt(vouchBulk)} (one command) | ${(vouchBulk / (notaryAddsFull + notaryPublish)).toFixed(3)}× | — |`,
      `| list ${TARGETS} targets, cold (median of ${RUNS}) | ${fmt(nList)} | ${fmt(vList)} | ${(vList / nList).toFixed(2)}× | ${fmt(tList)} |`,
      `| single \`add -p\` (median of ${RUNS}) | ${fmt(nAdd)} | ${fmt(vAdd)} | ${(vAdd / nAdd).toFixed(2)}× | — |`,
      `| single \`add -p\`, Vouch on notary's key files (median of ${RUNS}) | ${fmt(nAdd)} | ${fmt(vOnNotaryKeys)} | ${(vOnNotaryKeys / nAdd).toFixed(2)}× | — |`,
      `| list ${TARGETS} targets, cold, through \`vouch agent\` | ${fmt(nList)} | ${fmt(aList)} | ${(aList / nList).toFixed(2)}× | — |`,
      `| single \`add -p\` through \`vouch agent\`, keys kept | ${fmt(nAdd)} | ${fmt(aAdd)} | ${(aAdd / nAdd).toFixed(2)}× | — |`,
      `| single \`add -p\` through \`vouch agent --cache-ttl 0\` | ${fmt(nAdd)} | ${fmt(aNoCacheAdd)} | ${(aNoCacheAdd / nAdd).toFixed(2)}× | — |`,
    ];
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    for (const socket of agents) spawnSync(process.execPath, [bin, 'agent', 'stop', '--socket', socket], { env, stdio: 'ignore' });
    await harness.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();

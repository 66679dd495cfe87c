// `npm start` (README command (1)) with its own node flags: the embedded default server, started
// exactly as package.json's start script starts it (on a free port and a temporary data
// directory), accepts the largest uploads the server accepts at all — a body at the 10 MiB cap
// made of two targets files at the 5 MiB part cap, first with tens of thousands of targets each,
// then with targets carrying custom data of nested empty arrays (the most heap per byte of JSON:
// ≈ 28 bytes per byte, where targets lists cost ≈ 9) — and then still answers. The bounded V8 heap of the start script must hold those
// requests; the process's peak RSS (VmHWM) idle and after each upload is printed for
// bench/RESULTS.md, not asserted.
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DEFAULT_UPLOAD_LIMITS } from '../../src/server/upload.ts';
import type { Change } from '../../src/tuf/builder.ts';
import type { JsonValue } from '../../src/tuf/canonical.ts';
import { ecdsaSigner } from '../tuf/builder-keys.ts';
import { startServerProcess, stopServerProcess, type ServerProcess } from './cli-process.ts';
import { Publisher, httpsServer, multipart, tufPath } from './publisher.ts';

const ROOT = join(import.meta.dirname, '..', '..');
/** TrustHttp's default request body cap. */
const BODY_LIMIT = 10 << 20;
const RELEASES = 'targets/releases';

/** The start script's node flags and entry, e.g. `node --max-old-space-size=96 bin/vouch.cjs server`. */
function startCommand(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const start = pkg.scripts['start'] ?? '';
  const words = start.trim().split(/\s+/);
  assert.equal(words[0], 'node', `the start script runs node: ${start}`);
  assert.equal(words.at(-1), 'server', `the start script runs \`vouch server\`: ${start}`);
  return words.slice(1, -1);
}

/** bin/vouch.cjs's own test: the bundle runs only while every source it was built from is unchanged. */
function bundleCurrent(): boolean {
  try {
    const stamp = JSON.parse(readFileSync(join(ROOT, 'dist', 'vouch.inputs.json'), 'utf8')) as { inputs: [string, number, number][] };
    return stamp.inputs.length > 0 && stamp.inputs.every(([path, size, mtimeMs]) => {
      const s = statSync(join(ROOT, path), { throwIfNoEntry: false });
      return s !== undefined && s.size === size && s.mtimeMs === mtimeMs;
    });
  } catch {
    return false;
  }
}

function memory(pid: number): { hwm: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN);
  return { hwm: kib('VmHWM') / 1024, rss: kib('VmRSS') / 1024 };
}

const mib = (n: number): string => `${n.toFixed(1)} MiB`;

type Shape = 'targets' | 'nested arrays';

/** `[[[…]]]`, 90 deep: the document stays under parseJson's nesting limit of 100. */
const NESTED = Array.from({ length: 89 }).reduce<JsonValue>((inner) => [inner], []);

/** A target of fixed width, so every file grows by the same number of bytes per target. */
function target(shape: Shape, role: string, i: number): Change {
  const name = `${role === 'targets' ? 't' : 'r'}${String(i).padStart(7, '0')}`;
  const meta = { length: 1 + (i % 9), hashes: new Map([['sha256', randomBytes(32)]]), unrecognized: {} };
  // Each `[` of JSON text is a whole array on the heap.
  return { kind: 'addTarget', role, name, meta: shape === 'targets' ? meta : { ...meta, custom: Array.from({ length: 32 }, () => NESTED) } };
}

/**
 * The files of one publish that adds the delegation and fills targets and targets/releases as far
 * as the caps allow: sizes grow linearly with the number of targets, so two small probes give the
 * counts that fit.
 */
async function maximalUpload(pub: Publisher, shape: Shape): Promise<Map<string, Uint8Array>> {
  const delegate = ecdsaSigner();
  pub.delegations.set(RELEASES, delegate);
  const delegation: Change = { kind: 'updateDelegation', name: RELEASES, addKeys: [delegate.publicKey], addPaths: [''] };
  const build = async (nTargets: number, nReleases: number) => (await pub.changeFiles([
    delegation,
    ...Array.from({ length: nTargets }, (_, i) => target(shape, 'targets', i)),
    ...Array.from({ length: nReleases }, (_, i) => target(shape, RELEASES, i)),
  ])).files;
  const sizes = (files: Map<string, Uint8Array>) => ({ targets: files.get('targets')!.length, releases: files.get(RELEASES)!.length });
  const one = sizes(await build(1, 1));
  const two = sizes(await build(2, 2));
  const perTarget = two.targets - one.targets;
  assert.equal(two.releases - one.releases, perTarget);
  // Everything but the two large parts: the snapshot and the multipart framing.
  const rest = multipart(await build(1, 1)).body.length - one.targets - one.releases;
  const each = Math.min(DEFAULT_UPLOAD_LIMITS.maxPartBytes, Math.floor((BODY_LIMIT - rest) / 2));
  const n = (base: number): number => 1 + Math.floor((each - base) / perTarget);
  return build(n(one.targets), n(one.releases));
}

void describe('npm start: the embedded server under the start script\'s node flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-npm-start-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  void test('accepts publishes at the body and part caps, then still answers', { timeout: 300_000 }, async (t: TestContext) => {
    const node = startCommand();
    const bundled = node.includes('bin/vouch.cjs') && bundleCurrent();
    const dataDir = join(dir, 'data');
    const server: ServerProcess = await startServerProcess(['--data-dir', dataDir, '--listen', '127.0.0.1:0'], { HOME: dir }, { node, cwd: ROOT });
    const pid = server.child.pid!;
    const api = httpsServer(server.url, join(dataDir, 'tls', 'ca.crt'));
    const report = [`start script: node ${node.join(' ')} server (${bundled ? 'the built bundle' : 'TypeScript through tsx: dist/vouch.cjs is missing or stale'})`];
    let exitCode: number | null;
    try {
      report.push(`VmHWM idle after start: ${mib(memory(pid).hwm)}`);
      const first = new Publisher(api, 'example.com/npm-start/first');
      await first.init();
      report.push(`VmHWM idle after a first publish: ${mib(memory(pid).hwm)}`);
      for (const shape of ['targets', 'nested arrays'] as const) {
        // One clock reading for every build: expiry strings drop trailing zeros of the fraction, so
        // two readings can differ in length and break the probes' arithmetic.
        const now = new Date();
        const pub = new Publisher(api, `example.com/npm-start/${shape.replace(' ', '-')}`, { now: () => now });
        await pub.init();
        const files = await maximalUpload(pub, shape);
        const { body, contentType } = multipart(files);
        const parts = [...files.values()].map((f) => f.length);
        assert.ok(body.length <= BODY_LIMIT && body.length > BODY_LIMIT - (64 << 10), `body ${body.length} bytes fills the ${BODY_LIMIT}-byte cap`);
        assert.ok(parts.every((p) => p <= DEFAULT_UPLOAD_LIMITS.maxPartBytes));
        const res = await api.inject({ method: 'POST', url: tufPath(pub.gun, ''), payload: body, headers: { 'content-type': contentType } });
        assert.equal(res.statusCode, 200, res.body);
        const served = await api.inject({ method: 'GET', url: tufPath(pub.gun, `${RELEASES}.json`), headers: { 'accept-encoding': 'gzip' } });
        assert.equal(served.statusCode, 200);
        const health = await api.inject({ method: 'GET', url: '/_notary_server/health' });
        assert.equal(health.statusCode, 200, health.body);
        assert.equal(server.child.exitCode, null, 'the server is still running');
        const m = memory(pid);
        report.push(`${shape}: ${body.length} bytes (parts ${parts.join(' + ')}) → 200; VmHWM ${mib(m.hwm)}, VmRSS now ${mib(m.rss)}`);
      }
    } finally {
      exitCode = await stopServerProcess(server);
    }
    assert.equal(exitCode, 0, server.output());
    for (const line of report) t.diagnostic(line);
  });
});

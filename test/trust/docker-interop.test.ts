/**
 * `vouch trust` against the real docker CLI 28 (no engine), the Debian notary-server +
 * notary-signer and the Debian docker-registry: an image pushed over the Registry API is signed by
 * Vouch, docker sees it signed by the right signer, docker adds a signer and re-signs, Vouch and
 * docker print the same `inspect` output byte for byte, Vouch revokes and docker sees the tag
 * unsigned, and consumers get docker's messages (insufficient signatures, rollback).
 *
 * The tests in this file run in order and build on each other's repository state.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { pushImage, pushIndex, type PushedManifest } from '../registry/registry.ts';
import { hexOf, keyIdsWithRole, parseInspect, startTrustWorld, trustPeersUnavailableReason, type TrustWorld } from './helpers.ts';
import { runDocker, runVouch, trustCa } from './run.ts';

const skip = trustPeersUnavailableReason();
let world: TrustWorld;
let admin: string; // vouch's docker config: root, repository (targets) and alice keys
let bobCfg: string; // docker's config: bob's key only
let image: string;
let pushed: PushedManifest;

before(async () => {
  if (skip !== undefined) return;
  world = await startTrustWorld();
  admin = world.configDir('admin');
  bobCfg = world.configDir('bob');
  image = `${world.registry.host}/team/app:v1`;
  pushed = await pushImage(world.registry, 'team/app', 'v1');
});
after(async () => {
  await world?.stop();
});

const name = (): string => `${world.registry.host}/team/app`;

/** docker and vouch inspect (plain and --pretty), each from a fresh config dir; asserts they agree. */
async function inspectBoth(target: string, opts: { pretty?: boolean } = {}): Promise<ReturnType<typeof parseInspect>[number] | undefined> {
  const fresh = (who: string) => world.env(world.configDir(`reader-${who}`));
  const pretty = opts.pretty !== false;
  const [d, v, dp, vp] = await Promise.all([
    runDocker(['inspect', target], { env: fresh('docker') }),
    runVouch(['inspect', target], { env: fresh('vouch') }),
    pretty ? runDocker(['inspect', '--pretty', target], { env: fresh('docker') }) : undefined,
    pretty ? runVouch(['inspect', '--pretty', target], { env: fresh('vouch') }) : undefined,
  ]);
  assert.equal(v.stdout, d.stdout, `inspect output differs\n--- docker stderr ---\n${d.stderr}\n--- vouch stderr ---\n${v.stderr}`);
  assert.equal(v.code, d.code);
  assert.equal(vp?.stdout, dp?.stdout, 'inspect --pretty output differs');
  return parseInspect(d.stdout)[0];
}

test('vouch trust sign of a pushed tag: docker trust inspect shows it signed by alice', { skip }, async () => {
  const s = await runVouch(['sign', '--signer', 'alice', image], { env: world.env(admin), expectCode: 0 });
  assert.equal(s.stdout, `Created signer: alice\nFinished initializing signed repository for ${image}\nSigning and pushing trust metadata\nSuccessfully signed ${image}\n`);
  const [alice] = keyIdsWithRole(admin, 'alice');
  const [root] = keyIdsWithRole(admin, 'root');
  assert.ok(alice !== undefined && root !== undefined);

  const repo = await inspectBoth(image);
  assert.ok(repo !== undefined);
  assert.equal(repo.Name, image);
  assert.deepEqual(repo.SignedTags, [{ SignedTag: 'v1', Digest: hexOf(pushed.digest), Signers: ['alice'] }]);
  assert.deepEqual(repo.Signers, [{ Name: 'alice', Keys: [{ ID: alice }] }]);
  assert.deepEqual(repo.AdministrativeKeys.map((k) => k.Name), ['Root', 'Repository']);

  const r = await runVouch(['resolve', image], { env: world.env(world.configDir('puller')), expectCode: 0 });
  assert.equal(r.stdout, `${name()}@${pushed.digest}\n`);
  const j = await runVouch(['resolve', '--json', image], { env: world.env(world.configDir('puller')), expectCode: 0 });
  assert.deepEqual(JSON.parse(j.stdout), {
    name: name(), tag: 'v1', digest: pushed.digest, size: pushed.size, role: 'targets/releases',
    reference: `${name()}@${pushed.digest}`, canonicalReference: `${name()}@${pushed.digest}`,
  });
});

test('docker trust signer add, then docker re-signs the Vouch-signed tag; vouch inspect agrees', { skip }, async () => {
  const keyDir = join(bobCfg, 'keys');
  mkdirSync(keyDir);
  await runDocker(['key', 'generate', 'bob', '--dir', keyDir], { env: world.env(bobCfg), expectCode: 0 });
  const add = await runDocker(['signer', 'add', '--key', join(keyDir, 'bob.pub'), 'bob', name()], { env: world.env(admin), expectCode: 0 });
  assert.equal(add.stdout, `Adding signer "bob" to ${name()}...\nSuccessfully added signer: bob to ${name()}\n\n`);
  const [bob] = keyIdsWithRole(bobCfg, 'bob');
  const added = await inspectBoth(name(), { pretty: false });
  assert.deepEqual(added?.Signers.map((s) => s.Name), ['bob', 'alice']);
  assert.deepEqual(added?.Signers[0]?.Keys, [{ ID: bob }]);

  const sign = await runDocker(['sign', image], { env: world.env(bobCfg), expectCode: 0 });
  assert.match(sign.stdout, new RegExp(`Existing signatures for tag v1 digest ${hexOf(pushed.digest)} from:\\nalice\\n`));
  assert.match(sign.stdout, /Successfully signed /);
  const resigned = await inspectBoth(image);
  assert.deepEqual(resigned?.SignedTags.map((t) => [t.SignedTag, t.Digest, [...t.Signers].sort()]), [['v1', hexOf(pushed.digest), ['alice', 'bob']]]);
});

test('a multi-arch index: vouch signs the index digest and docker shows it', { skip }, async () => {
  const { index } = await pushIndex(world.registry, 'team/app', 'multi', ['amd64', 'arm64']);
  const s = await runVouch(['sign', '--json', `${name()}:multi`], { env: world.env(admin), expectCode: 0 });
  const result = JSON.parse(s.stdout) as { digest: string; size: number; roles: string[]; source: string };
  assert.deepEqual([result.digest, result.size, result.source], [index.digest, index.size, 'registry']);
  assert.deepEqual([...result.roles].sort(), ['targets/alice', 'targets/releases']);
  const repo = await inspectBoth(`${name()}:multi`, { pretty: false });
  assert.deepEqual(repo?.SignedTags, [{ SignedTag: 'multi', Digest: hexOf(index.digest), Signers: ['alice'] }]);
});

test('vouch trust revoke: docker sees the tag unsigned and resolve refuses it', { skip }, async () => {
  const rv = await runVouch(['revoke', image], { env: world.env(admin), expectCode: 0 });
  assert.equal(rv.stdout, `Successfully deleted signature for ${image}\n`);
  const repo = await inspectBoth(image, { pretty: false });
  assert.deepEqual(repo?.SignedTags, []);
  const r = await runVouch(['resolve', image], { env: world.env(world.configDir('puller')) });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'No valid trust data for v1\n');
  assert.equal(r.stdout, '');
});

test('resolve after the only signer key of a release is removed: insufficient signatures', { skip }, async () => {
  const repoName = `${world.registry.host}/team/keys`;
  const tagged = `${repoName}:v1`;
  await pushImage(world.registry, 'team/keys', 'v1');
  await runVouch(['sign', '--signer', 'alice', tagged], { env: world.env(admin), expectCode: 0 });
  await runDocker(['signer', 'add', '--key', join(bobCfg, 'keys', 'bob.pub'), 'bob', repoName], { env: world.env(admin), expectCode: 0 });
  // docker's re-sign of an unchanged target leaves targets/releases alone; a new tag signed with
  // bob's key alone (Vouch in bob's config) makes bob the only signer of targets/releases.
  await pushImage(world.registry, 'team/keys', 'v2');
  const v2 = await runVouch(['sign', `${repoName}:v2`], { env: world.env(bobCfg), expectCode: 0 });
  assert.equal(v2.stdout, `Signing and pushing trust metadata\nSuccessfully signed ${repoName}:v2\n`);

  const rm = await runVouch(['signer', 'remove', 'bob', repoName], { env: world.env(admin), input: 'y\n', expectCode: 0 });
  assert.equal(rm.stdout, `Removing signer "bob" from ${repoName}...\n` +
    `The signer "bob" signed the last released version of ${repoName}. Removing this signer will make ${repoName} unpullable. Are you sure you want to continue? [y/N] ` +
    `Successfully removed bob from ${repoName}\n\n`);
  const signers = await runDocker(['inspect', repoName], { env: world.env(world.configDir('reader')), expectCode: 0 });
  assert.deepEqual(parseInspect(signers.stdout)[0]?.Signers.map((s) => s.Name), ['alice']);

  const r = await runVouch(['resolve', tagged], { env: world.env(world.configDir('puller')) });
  assert.equal(r.code, 1);
  assert.equal(r.stderr.split('\n').filter((l) => !l.startsWith('time=')).join('\n'),
    `Warning: potential malicious behavior - trust data has insufficient signatures for remote repository ${repoName}: valid signatures did not meet threshold for targets/releases\n`);
});

function serveFrozen(dir: string, gun: string, pki: TrustWorld['harness']['pki']): Promise<{ server: Server; host: string }> {
  const files = new Map<string, Buffer>();
  for (const role of ['root', 'timestamp', 'snapshot', 'targets', 'targets/releases', 'targets/alice']) {
    try {
      files.set(role, readFileSync(join(dir, `${role}.json`)));
    } catch {
      // a role this repository does not have
    }
  }
  const prefix = `/v2/${gun}/_trust/tuf/`;
  const server = createServer({ cert: readFileSync(pki.server.certFile), key: readFileSync(pki.server.keyFile) }, (req, res) => {
    const path = req.url ?? '';
    const role = path.startsWith(prefix) ? path.slice(prefix.length).replace(/\.json$/, '').replace(/\.[0-9a-f]{64}$/, '') : '';
    const body = files.get(role);
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(body ?? '{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist."}]}');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    resolve({ server, host: `127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}` });
  }));
}

test('resolve against a server replaying older trust data: rollback warning', { skip }, async () => {
  const repoName = `${world.registry.host}/team/rollback`;
  await pushImage(world.registry, 'team/rollback', 'v1');
  await runVouch(['sign', '--signer', 'alice', `${repoName}:v1`], { env: world.env(admin), expectCode: 0 });
  const puller = world.configDir('puller');
  await runVouch(['resolve', `${repoName}:v1`], { env: world.env(puller), expectCode: 0 });
  const frozen = join(world.harness.newDir('frozen'), 'metadata');
  cpSync(join(puller, 'trust', 'tuf', ...repoName.split('/'), 'metadata'), frozen, { recursive: true });

  await pushImage(world.registry, 'team/rollback', 'v2');
  await runVouch(['sign', `${repoName}:v2`], { env: world.env(admin), expectCode: 0 });
  await runVouch(['resolve', `${repoName}:v2`], { env: world.env(puller), expectCode: 0 });

  const { server, host } = await serveFrozen(frozen, repoName, world.harness.pki);
  try {
    trustCa(puller, host, world.harness.caFile);
    const r = await runVouch(['resolve', `${repoName}:v1`], { env: world.env(puller, { DOCKER_CONTENT_TRUST_SERVER: `https://${host}` }) });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^Warning: potential malicious behavior - trust data version is lower than expected for remote repository ${repoName.replace(/\./g, '\\.')}: version \\d+ is lower than current version \\d+\\n$`, 'm'));
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('refusals and prompts: vouch and docker print the same, exit the same', { skip }, async () => {
  const repo = `${world.registry.host}/team/none`;
  const digest = `sha256:${'c'.repeat(64)}`;
  const cases: { args: string[]; input?: string; env?: Record<string, string> }[] = [
    { args: ['inspect', 'Bad', repo] },
    { args: ['inspect', '--pretty', `${repo}:v1`] },
    { args: ['revoke', repo], input: 'n\n' },
    { args: ['revoke', `${repo}@${digest}`] },
    { args: ['sign', `${repo}@${digest}`] },
    { args: ['sign', repo] },
    { args: ['signer', 'add', 'Bad', repo] },
    { args: ['signer', 'add', 'releases', repo] },
    { args: ['signer', 'add', 'ok', repo] },
    { args: ['signer', 'remove', 'releases', repo] },
    { args: ['inspect', repo], env: { DOCKER_CONTENT_TRUST_SERVER: 'http://notary.example.com' } },
  ];
  // Independent cases (each has its own config dir): run them side by side.
  await Promise.all(cases.map(async (c) => {
    const env = world.env(world.configDir('refusals'), c.env);
    const d = await runDocker(c.args, { env, ...(c.input !== undefined ? { input: c.input } : {}) });
    const v = await runVouch(c.args, { env, ...(c.input !== undefined ? { input: c.input } : {}) });
    assert.deepEqual([v.code, v.stdout, v.stderr], [d.code, d.stdout, d.stderr], c.args.join(' '));
  }));
});

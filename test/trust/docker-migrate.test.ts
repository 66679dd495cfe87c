/**
 * The Docker Content Trust user leaving a notary-server (as everyone on notary.docker.io must): a
 * tag signed on the Debian notary-server + notary-signer, with the snapshot key held by the server
 * as docker sets it up, moves to `vouch server` with `vouch trust migrate`. The real docker CLI then
 * inspects it there — from a fresh config and from one that had trusted the old server — and keeps
 * working on it: it adds a signer and re-signs the tag.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pushImage, type PushedManifest } from '../registry/registry.ts';
import { startVouchHarness, type VouchHarness } from '../server/harness.ts';
import { hexOf, parseInspect, startTrustWorld, trustPeersUnavailableReason, type TrustWorld } from './helpers.ts';
import { dockerEnv, runDocker, runVouch, trustCa } from './run.ts';

const skip = trustPeersUnavailableReason();
let world: TrustWorld;
let destination: VouchHarness;
let admin: string;
let image: string;
let pushed: PushedManifest;

before(async () => {
  if (skip !== undefined) return;
  world = await startTrustWorld();
  destination = await startVouchHarness();
  admin = world.configDir('admin');
  image = `${world.registry.host}/team/moving:v1`;
  pushed = await pushImage(world.registry, 'team/moving', 'v1');
});
after(async () => {
  await destination?.stop();
  await world?.stop();
});

const repo = (): string => `${world.registry.host}/team/moving`;

/** docker's environment with the destination as trust server (its CA trusted in `configDir`). */
function onDestination(configDir: string): Record<string, string> {
  trustCa(configDir, new URL(destination.url).host, destination.caFile);
  return dockerEnv({ configDir, trustServer: destination.url });
}

test('a docker-signed repository moves to vouch server; docker inspects, adds a signer and re-signs there', { skip }, async () => {
  await runVouch(['sign', '--signer', 'alice', image], { env: world.env(admin), expectCode: 0 });
  const reader = world.configDir('reader');
  const before = await runDocker(['inspect', repo()], { env: world.env(reader), expectCode: 0 });
  const signed = parseInspect(before.stdout)[0];
  assert.deepEqual(signed?.SignedTags, [{ SignedTag: 'v1', Digest: hexOf(pushed.digest), Signers: ['alice'] }]);

  // The new server's CA where docker keeps it; DOCKER_CONTENT_TRUST_SERVER still names the old one.
  trustCa(admin, new URL(destination.url).host, destination.caFile);
  const m = await runVouch(['migrate', repo(), '--to', destination.url], { env: world.env(admin), expectCode: 0 });
  assert.equal(m.stdout, `Successfully migrated trust data for ${repo()} from ${world.harness.url} to ${destination.url}\nPoint docker at it: export DOCKER_CONTENT_TRUST_SERVER=${destination.url}\n`);
  const again = await runVouch(['migrate', repo(), '--to', destination.url], { env: world.env(admin) });
  assert.equal(again.code, 1);
  assert.equal(again.stderr, `${new URL(destination.url).host} already has trust data for ${repo()}; nothing was migrated\n`);

  // The same inspect output from the new server: for a fresh docker and for the one that cached the old root.
  const fresh = await runDocker(['inspect', repo()], { env: onDestination(world.configDir('fresh')), expectCode: 0 });
  assert.equal(fresh.stdout, before.stdout);
  const cached = await runDocker(['inspect', repo()], { env: onDestination(reader), expectCode: 0 });
  assert.equal(cached.stdout, before.stdout);

  // docker keeps managing the repository on the new server.
  const bobCfg = world.configDir('bob');
  const keyDir = join(bobCfg, 'keys');
  mkdirSync(keyDir);
  await runDocker(['key', 'generate', 'bob', '--dir', keyDir], { env: dockerEnv({ configDir: bobCfg }), expectCode: 0 });
  await runDocker(['signer', 'add', '--key', join(keyDir, 'bob.pub'), 'bob', repo()], { env: onDestination(admin), expectCode: 0 });
  const sign = await runDocker(['sign', image], { env: onDestination(bobCfg), expectCode: 0 });
  assert.match(sign.stdout, /Successfully signed /);
  const after = parseInspect((await runDocker(['inspect', repo()], { env: onDestination(world.configDir('fresh-2')), expectCode: 0 })).stdout)[0];
  assert.deepEqual(after?.Signers.map((s) => s.Name).sort(), ['alice', 'bob']);
  assert.deepEqual(after?.SignedTags.map((t) => [t.SignedTag, t.Digest, [...t.Signers].sort()]), [['v1', hexOf(pushed.digest), ['alice', 'bob']]]);
});

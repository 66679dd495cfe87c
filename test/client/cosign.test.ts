/**
 * m-of-n across publishers against the real notary-server: a 2-of-2 delegation whose keys live
 * in two trust dirs. The first signer gets a bundle (the server would refuse one signature), the
 * second adds theirs and publishes; the real notary client then trusts the target. Stale and
 * foreign bundles are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { notaryHarnessForFile } from '../helpers/notary-harness.ts';
import { parseNotaryList, runNotary } from '../helpers/notary-cli.ts';
import { decodeBundle, encodeBundle, summarize } from '../../src/client/cosign.ts';
import { stateOf } from '../../src/client/context.ts';
import { fileMetaOf } from '../../src/tuf/verify.ts';
import { vouchClient, type VouchClient } from './helpers.ts';

const clients: VouchClient[] = [];
const peers = notaryHarnessForFile(async () => {
  for (const c of clients) await c.close();
});
const { skip } = peers;

function client(gun: string, name: string): VouchClient {
  const trustDir = join(peers.harness.newDir(name), 'trust');
  mkdirSync(trustDir, { recursive: true });
  const c = vouchClient({ url: peers.harness.url, caFile: peers.harness.caFile, gun, trustDir });
  clients.push(c);
  return c;
}

test('two publishers sign one version of a 2-of-2 delegation', { skip }, async () => {
  const gun = 'example.com/cosign/two-of-two';
  const alice = client(gun, 'alice');
  const bob = client(gun, 'bob');
  await alice.repo.initialize({ serverManagedSnapshot: true });
  const ka = await alice.repo.ctx.keys.createKey('targets/release', undefined);
  const kb = await bob.repo.ctx.keys.createKey('targets/release', undefined);
  await alice.repo.addDelegation('targets/release', [ka.publicKey, kb.publicKey], [''], 2);
  await alice.repo.publish();

  await alice.repo.addTarget('v1.0', fileMetaOf(Buffer.from('release 1.0')), ['targets/release']);
  const first = await alice.repo.publishOrBundle();
  assert.ok('bundle' in first);
  assert.deepEqual(first.pending, [{ role: 'targets/release', have: 1, need: 2 }]);
  assert.equal((await alice.repo.status()).length, 1); // kept until the publish lands
  const wire = encodeBundle(first.bundle);

  const received = decodeBundle(Buffer.from(wire));
  const current = stateOf((await bob.repo.update()).collection);
  assert.deepEqual(summarize(received, current), [
    'targets/release: version 0 -> 1',
    `  + v1.0 sha256:${Buffer.from(fileMetaOf(Buffer.from('release 1.0')).hashes.get('sha256')!).toString('hex')} 11`,
  ]);
  const second = await bob.repo.cosign(received);
  assert.ok('published' in second);
  assert.deepEqual(second.published.uploaded, ['targets/release']);

  const reader = join(peers.harness.newDir('reader'), 'trust');
  const list = await runNotary(['list', gun], { trustDir: reader, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0 });
  assert.deepEqual(parseNotaryList(list.stdout).map((r) => [r.name, r.role]), [['v1.0', 'targets/release']]);
  const file = (await bob.repo.update()).collection.targets.get('targets/release' as never)!;
  assert.equal(file.signatures.length, 2);

  // The bundle is now stale: signing it again is refused with the reason.
  await assert.rejects(bob.repo.cosign(received), { message: 'cosign bundle file targets/release is version 1, but the server already has version 1; the bundle is out of date' });
  await assert.rejects(client('example.com/cosign/other', 'eve').repo.cosign(received), { message: `the cosign bundle is for ${gun}, not example.com/cosign/other` });
  // Alice's next publish rebases her (already published) change: nothing breaks.
  await alice.repo.changelist.clear();
});

test('one publisher holding enough keys publishes directly', { skip }, async () => {
  const gun = 'example.com/cosign/direct';
  const c = client(gun, 'direct');
  await c.repo.initialize();
  const k1 = await c.repo.ctx.keys.createKey('targets/a', undefined);
  const k2 = await c.repo.ctx.keys.createKey('targets/a', undefined);
  await c.repo.addDelegation('targets/a', [k1.publicKey, k2.publicKey], [''], 2);
  await c.repo.addTarget('x', fileMetaOf(Buffer.from('x')), ['targets/a']);
  const out = await c.repo.publishOrBundle();
  assert.ok('published' in out);
  assert.equal((await c.repo.status()).length, 0);
});

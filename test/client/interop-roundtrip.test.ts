/**
 * The Vouch client library against the real notary-server + notary-signer: Vouch publishes and
 * the real notary client reads it; notary publishes and Vouch reads it, on the same collection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { notaryHarnessForFile } from '../helpers/notary-harness.ts';
import { parseNotaryList, runNotary } from '../helpers/notary-cli.ts';
import { fileMetaOf } from '../../src/tuf/verify.ts';
import { vouchClient } from './helpers.ts';

const peers = notaryHarnessForFile();
const { skip } = peers;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('vouch init + add + publish; the real notary client lists and looks it up', { skip }, async () => {
  const gun = 'example.com/vouch/client-roundtrip';
  const dir = peers.harness.newDir('vouch');
  const trustDir = join(dir, 'trust');
  mkdirSync(trustDir, { recursive: true });
  const c = vouchClient({ url: peers.harness.url, caFile: peers.harness.caFile, gun, trustDir });
  try {
    await c.repo.initialize();
    const payload = Buffer.from('hello from vouch\n');
    await c.repo.addTarget('hello', fileMetaOf(payload));
    const res = await c.repo.publish();
    assert.equal(res.initial, true);
    assert.deepEqual([...res.uploaded].sort(), ['root', 'snapshot', 'targets']);
    assert.deepEqual((await c.repo.status()).length, 0);

    const readerDir = join(peers.harness.newDir('reader'), 'trust');
    const list = await runNotary(['list', gun], { trustDir: readerDir, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0 });
    assert.deepEqual(parseNotaryList(list.stdout).map((r) => [r.name, r.sha256, r.size, r.role]), [['hello', sha(payload), payload.length, 'targets']]);

    // Second publish on top of the server's state.
    const two = Buffer.from('second\n');
    await c.repo.addTarget('two', fileMetaOf(two));
    const res2 = await c.repo.publish();
    assert.equal(res2.initial, false);
    const lookup = await runNotary(['lookup', gun, 'two'], { trustDir: readerDir, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0 });
    assert.equal(lookup.stdout, `two sha256:${sha(two)} ${two.length}\n`);

    const listed = await c.repo.listTargets();
    assert.deepEqual(listed.map((t) => t.name).sort(), ['hello', 'two']);
  } finally {
    await c.close();
  }
});

test('the real notary client publishes; vouch reads, adds and notary sees the result', { skip }, async () => {
  const gun = 'example.com/vouch/notary-first';
  const work = peers.harness.newDir('work');
  const trustDir = join(peers.harness.newDir('shared'), 'trust');
  mkdirSync(trustDir, { recursive: true });
  const file = join(work, 'v1');
  writeFileSync(file, 'notary payload\n');
  const notary = (args: string[]) => runNotary(args, { trustDir, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0 });
  await notary(['init', gun, '-p']);
  await notary(['add', gun, 'v1', file, '-p']);

  // Vouch on the same trust dir: same keys (same passphrases), same cache, same changelist.
  const c = vouchClient({ url: peers.harness.url, caFile: peers.harness.caFile, gun, trustDir });
  try {
    const t = await c.repo.getTargetByName('v1');
    assert.equal(Buffer.from(t.meta.hashes.get('sha256')!).toString('hex'), sha(Buffer.from('notary payload\n')));
    await c.repo.addTarget('v2', fileMetaOf(Buffer.from('vouch payload\n')));
    await c.repo.publish();
  } finally {
    await c.close();
  }
  const list = await notary(['list', gun]);
  assert.deepEqual(parseNotaryList(list.stdout).map((r) => r.name), ['v1', 'v2']);
});

/**
 * Bulk staging (`vouch add GUN --from-file FILE|-`): one command stages and publishes many
 * targets; a failed publish leaves every one of them staged; staged bulk changes are plain notary
 * change files that the real notary client publishes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { notaryHarnessForFile } from '../helpers/notary-harness.ts';
import { parseNotaryList, runNotary, type NotaryCliOptions } from '../helpers/notary-cli.ts';
import { runVouch } from './cli-run.ts';

const peers = notaryHarnessForFile();
const { skip } = peers;

function lines(n: number, prefix: string): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const data = `${prefix} ${i}\n`;
    out.push(`${prefix}-${i} ${data.length} ${createHash('sha256').update(data).digest('hex')}`);
  }
  return out.join('\n') + '\n';
}

test('bulk add -p from stdin publishes in one command; a failed publish keeps all of it staged', { skip }, async () => {
  const gun = 'example.com/bulk/cli';
  const trustDir = join(peers.harness.newDir('bulk'), 'trust');
  mkdirSync(trustDir, { recursive: true });
  const opts: NotaryCliOptions = { trustDir, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0 };
  await runVouch(['init', gun, '-p'], opts);
  const res = await runVouch(['add', gun, '--from-file', '-', '-p'], { ...opts, input: lines(1000, 'a') });
  assert.equal(res.stdout, `Addition of 1000 targets to repository "${gun}" staged for next publish.\nAuto-publishing changes to ${gun}\nSuccessfully published changes for repository ${gun}\n`);
  assert.equal((await runVouch(['status', gun], opts)).stdout, `No unpublished changes for ${gun}\n`);
  const reader = join(peers.harness.newDir('reader'), 'trust');
  const list = await runNotary(['list', gun], { ...opts, trustDir: reader });
  assert.equal(parseNotaryList(list.stdout).length, 1000);

  // A delegation that does not exist: the publish fails, and the 50 changes stay staged.
  const file = join(peers.harness.newDir('list'), 'targets.txt');
  writeFileSync(file, lines(50, 'b'));
  const failed = await runVouch(['add', gun, '--from-file', file, '-r', 'targets/nope', '-p'], { ...opts, expectCode: 1 });
  assert.match(failed.stderr, /\* fatal: tuf: invalid role targets\/nope\. delegation does not exist/);
  assert.equal(readdirSync(join(trustDir, 'tuf', gun, 'changelist')).filter((f) => f.endsWith('.change')).length, 50);
  await runVouch(['reset', gun, '--all'], opts);

  // Staged without -p: plain notary change files, published by the real notary client.
  await runVouch(['add', gun, '--from-file', file], opts);
  await runNotary(['publish', gun], opts);
  const after = await runNotary(['list', gun], { ...opts, trustDir: reader });
  assert.equal(parseNotaryList(after.stdout).length, 1050);
});

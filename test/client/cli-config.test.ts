/**
 * The notary-style commands read notary's config.json (`-c`): trust_dir and remote_server paths
 * relative to the file, trust_pinning applied on first contact; flags override the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { notaryHarnessForFile } from '../helpers/notary-harness.ts';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const peers = notaryHarnessForFile();
const { skip } = peers;

test('config.json: trust_dir, remote_server.url and root_ca relative to the file; trust_pinning', { skip }, () => {
  const gun = 'example.com/config/client';
  const dir = peers.harness.newDir('cfg');
  copyFileSync(peers.harness.caFile, join(dir, 'root-ca.crt'));
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ trust_dir: 'trust', remote_server: { url: peers.harness.url, root_ca: 'root-ca.crt' } }));
  const home = peers.harness.newDir('home');
  const vouch = (args: string[], code = 0): { stdout: string; stderr: string } => runVouchRaw(['-c', config, ...args], home, code);
  vouch(['init', gun, '-p']);
  vouch(['add', gun, 'x', config, '-p']);
  assert.match(vouch(['list', gun]).stdout, /^x +[0-9a-f]{64} +\d+ +targets$/m);
  // trust_pinning.disable_tofu on a fresh trust dir: the first root is refused.
  const pinned = join(dir, 'pinned.json');
  mkdirSync(join(dir, 'fresh'));
  writeFileSync(pinned, JSON.stringify({ trust_dir: 'fresh', remote_server: { url: peers.harness.url, root_ca: 'root-ca.crt' }, trust_pinning: { disable_tofu: true } }));
  const refused = runVouchRaw(['-c', pinned, 'list', gun], home, 1);
  assert.equal(refused.stderr.trim(), '* fatal: could not validate the path to a trusted root: invalid trust pinning specified');
  // A missing explicit config file is notary's error.
  const missing = runVouchRaw(['-c', join(dir, 'nope.json'), 'list', gun], home, 1);
  assert.equal(missing.stderr.trim(), `* fatal: error opening config file: open ${join(dir, 'nope.json')}: no such file or directory`);
});

/** The CLI without the helper's -d/-s/--tlscacert (everything comes from the config file). */
function runVouchRaw(args: string[], home: string, code: number): { stdout: string; stderr: string } {
  const entry = fileURLToPath(new URL('./cli-bin.mjs', import.meta.url));
  const r = spawnSync(process.execPath, [entry, ...args], {
    encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: home, NOTARY_ROOT_PASSPHRASE: 'root-passphrase', NOTARY_TARGETS_PASSPHRASE: 'targets-passphrase', NOTARY_SNAPSHOT_PASSPHRASE: 'snapshot-passphrase' },
  });
  assert.equal(r.status, code, `vouch ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/**
 * The Vouch CLI next to the real notary 0.7 client, against the real notary-server/signer:
 * - the same commands on twin collections print the same text (GUN and key IDs aside);
 * - read commands on one collection print byte-identical output;
 * - changes staged by one client are published by the other, both ways, in one trust dir.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { notaryPeersUnavailableReason, startNotaryHarness, type NotaryHarness } from '../helpers/notary-harness.ts';
import { runNotary, type NotaryCliOptions, type NotaryCliResult } from '../helpers/notary-cli.ts';
import { OPENSSL } from '../helpers/tls.ts';
import { runVouch } from './cli-run.ts';

const skip = notaryPeersUnavailableReason();
let harness: NotaryHarness;
let work: string;
before(async () => {
  if (skip !== undefined) return;
  harness = await startNotaryHarness();
  work = harness.newDir('files');
  writeFileSync(join(work, 'v1'), 'payload one\n');
  writeFileSync(join(work, 'v2'), 'payload two\n');
  for (const name of ['alice', 'bob']) {
    for (const args of [['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', join(work, `${name}.key`)], ['pkey', '-in', join(work, `${name}.key`), '-pubout', '-out', join(work, `${name}.pub`)]]) {
      const r = spawnSync(OPENSSL, args, { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
  }
});
after(async () => {
  await harness?.stop();
});

type Runner = (args: readonly string[], extra?: Partial<NotaryCliOptions>) => Promise<NotaryCliResult>;

function runners(trustDir: string): { notary: Runner; vouch: Runner } {
  const base = (): NotaryCliOptions => ({ trustDir, serverUrl: harness.url, caFile: harness.caFile, expectCode: 0 });
  return {
    notary: (args, extra = {}) => runNotary(args, { ...base(), ...extra }),
    vouch: (args, extra = {}) => runVouch(args, { ...base(), ...extra }),
  };
}

function newTrustDir(name: string): string {
  const dir = join(harness.newDir(name), 'trust');
  mkdirSync(dir, { recursive: true });
  return dir;
}

const normalize = (s: string, gun: string) => s.replaceAll(gun, '<GUN>').replace(/[0-9a-f]{64}/g, '<ID>');

test('the same commands on twin collections print what notary prints', { skip }, async () => {
  const n = runners(newTrustDir('n'));
  const v = runners(newTrustDir('v'));
  const gunN = 'example.com/twin/notary';
  const gunV = 'example.com/twin/vouch';
  const steps: ((gun: string) => string[])[] = [
    (g) => ['init', g, '-p'],
    (g) => ['add', g, 'v1', join(work, 'v1')],
    (g) => ['addhash', g, 'v2', '12', '--sha256', 'f'.repeat(64)],
    (g) => ['status', g],
    (g) => ['publish', g],
    (g) => ['remove', g, 'v2', '-p'],
    (g) => ['delegation', 'add', g, 'targets/releases', join(work, 'alice.pub'), '--all-paths'],
    (g) => ['delegation', 'add', g, 'targets/qa', join(work, 'bob.pub'), '--paths', 'qa/,test/', '-p'],
    (g) => ['delegation', 'list', g],
    (g) => ['delegation', 'remove', g, 'targets/qa', '--paths', 'test/'],
    (g) => ['witness', g, 'targets', 'targets/releases'],
    (g) => ['status', g],
    (g) => ['reset', g, '-n', '1'],
    (g) => ['reset', g, '--all'],
    (g) => ['status', g],
    (g) => ['list', g],
    (g) => ['lookup', g, 'v1'],
    (g) => ['key', 'rotate', g, 'snapshot', '-r'],
    (g) => ['key', 'rotate', g, 'targets'],
    (g) => ['list', g, '-r', 'targets/releases'],
    (g) => ['delegation', 'remove', g, 'targets/releases', '-y', '-p'],
    (g) => ['delegation', 'list', g],
  ];
  for (const step of steps) {
    const [rn, rv] = [await n.notary(step(gunN)), await v.vouch(step(gunV))];
    assert.equal(normalize(rv.stdout, gunV), normalize(rn.stdout, gunN), `vouch ${step(gunV).join(' ')}`);
  }
});

test('read commands on one collection print byte-identical output', { skip }, async () => {
  const gun = 'example.com/same/collection';
  const { notary } = runners(newTrustDir('pub'));
  await notary(['init', gun, '-p']);
  await notary(['add', gun, 'v1', join(work, 'v1'), '-p']);
  await notary(['key', 'import', join(work, 'alice.key'), '--role', 'targets/releases']);
  await notary(['delegation', 'add', gun, 'targets/releases', join(work, 'alice.pub'), join(work, 'bob.pub'), '--all-paths', '-p']);
  await notary(['add', gun, 'v2', join(work, 'v2'), '-r', 'targets/releases', '-p']);
  const readers = runners(newTrustDir('readers'));
  for (const args of [['list', gun], ['list', gun, '-r', 'targets/releases'], ['lookup', gun, 'v2'], ['delegation', 'list', gun]]) {
    const [a, b] = [await readers.notary(args), await readers.vouch(args)];
    assert.equal(b.stdout, a.stdout, args.join(' '));
  }
  const verify = await readers.vouch(['verify', gun, 'v1'], { input: 'payload one\n' });
  assert.equal(verify.stdout, 'payload one\n');
  const bad = await readers.vouch(['verify', gun, 'v1'], { input: 'tampered\n', expectCode: 1 });
  assert.match(bad.stderr, /^\* fatal: data not present in the trusted collection, sha256 checksum for v1 did not match: expected [0-9a-f]{64}\n$/);
});

test('changes staged by one client are published by the other, both ways', { skip }, async () => {
  const gun = 'example.com/shared/changelist';
  const trustDir = newTrustDir('shared');
  const { notary, vouch } = runners(trustDir);
  await vouch(['init', gun, '-p']);
  // notary stages, Vouch publishes.
  await notary(['add', gun, 'v1', join(work, 'v1')]);
  await notary(['delegation', 'add', gun, 'targets/releases', join(work, 'alice.pub'), '--all-paths']);
  const staged = readdirSync(join(trustDir, 'tuf', gun, 'changelist')).sort();
  assert.equal(staged.length, 3);
  await vouch(['publish', gun]);
  assert.equal((await vouch(['status', gun])).stdout, `No unpublished changes for ${gun}\n`);
  // Vouch stages (same delegation data as notary writes), notary publishes.
  await vouch(['key', 'import', join(work, 'alice.key'), '--role', 'targets/releases']);
  await vouch(['add', gun, 'v2', join(work, 'v2'), '-r', 'targets/releases']);
  await vouch(['delegation', 'add', gun, 'targets/qa', join(work, 'bob.pub'), '--paths', 'qa/']);
  await notary(['publish', gun]);
  const list = await notary(['list', gun]);
  assert.match(list.stdout, /^v1 +[0-9a-f]{64} +12 +targets$/m);
  assert.match(list.stdout, /^v2 +[0-9a-f]{64} +12 +targets\/releases$/m);
  assert.match((await notary(['delegation', 'list', gun])).stdout, /^targets\/qa +qa\/ +[0-9a-f]{64} +1 *$/m);
});

test('a delegation staged by notary and by Vouch is the same change file content', { skip }, async () => {
  const gun = 'example.com/same/bytes';
  const dirN = newTrustDir('bn');
  const dirV = newTrustDir('bv');
  await runners(dirN).notary(['delegation', 'add', gun, 'targets/releases', join(work, 'alice.pub'), '--all-paths']);
  await runners(dirV).vouch(['delegation', 'add', gun, 'targets/releases', join(work, 'alice.pub'), '--all-paths']);
  const files = (dir: string) => readdirSync(join(dir, 'tuf', gun, 'changelist')).sort().map((f) => readFileSync(join(dir, 'tuf', gun, 'changelist', f), 'utf8'));
  assert.deepEqual(files(dirV), files(dirN));
});

/**
 * `vouch migrate`: a collection the real notary 0.7 client made on the Debian notary-server, the
 * way docker makes them (snapshot key held by the server, a `targets/releases` delegation, a
 * rotated root), moves to `vouch server`; the real notary client then reads it there — a fresh one
 * and one that trusted the old server's root — and publishes to it. Refusals, and the copy in the
 * local cache once the old server is gone.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { notaryHarnessForFile, startNotaryHarness } from '../helpers/notary-harness.ts';
import { parseNotaryList, runNotary, type NotaryCliOptions } from '../helpers/notary-cli.ts';
import { buildNotaryCollection, type NotaryCollection } from '../helpers/scenarios.ts';
import { startVouchHarness, type VouchHarness } from '../server/harness.ts';
import { hasCode } from '../../src/errors.ts';
import { RemoteStore } from '../../src/client/remote.ts';
import { HttpTransport } from '../../src/client/transport.ts';
import { runVouch } from './cli-run.ts';
import { vouchClient } from './helpers.ts';

let destination: VouchHarness | undefined;
const peers = notaryHarnessForFile(async () => {
  await destination?.stop();
});
const { skip } = peers;

before(async () => {
  if (skip === undefined) destination = await startVouchHarness();
});

function dest(): VouchHarness {
  assert.ok(destination, 'the destination server is not running');
  return destination;
}

/** The notary client against the destination, with `trustDir` (a fresh one unless given). */
async function notaryOnDestination(args: readonly string[], trustDir?: string, extra: Partial<NotaryCliOptions> = {}) {
  const d = dest();
  return runNotary(args, { trustDir: trustDir ?? join(d.newDir('reader'), 'trust'), serverUrl: d.url, caFile: d.caFile, expectCode: 0, ...extra });
}

const rowsOf = (stdout: string) => parseNotaryList(stdout).map((r) => [r.name, r.sha256, r.size, r.role]);

test('a docker-style collection moves from notary-server to vouch server; notary reads and publishes there', { skip }, async () => {
  const gun = 'docker.io/vouch/migrate';
  const c: NotaryCollection = await buildNotaryCollection(peers.harness, { gun });
  // A consumer that has trusted the collection on the old server.
  const consumer = join(peers.harness.newDir('consumer'), 'trust');
  await runNotary(['list', gun], { trustDir: consumer, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0 });

  const m = await runVouch(['migrate', gun, '--to', dest().url, '--to-tlscacert', dest().caFile, '-D'], {
    trustDir: c.trustDir, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0,
  });
  assert.equal(m.stdout, [
    `Migrating ${gun} from ${peers.harness.url} to ${dest().url}`,
    `Successfully migrated ${gun}: targets, targets/releases, root now on ${dest().url}`,
    `Point clients at the new server: vouch -s ${dest().url} …, notary -s ${dest().url} …, DOCKER_CONTENT_TRUST_SERVER=${dest().url}`,
    '',
  ].join('\n'));
  assert.match(m.stderr, /level=info msg="the local root of docker\.io\/vouch\/migrate names a timestamp key the server does not hold; rotating it/);
  assert.match(m.stderr, /level=info msg="the snapshot key of docker\.io\/vouch\/migrate is held by another server, not by this one or locally; rotating it/);

  const listed = rowsOf(c.listing);
  assert.deepEqual(listed.map((r) => r[0]), ['v1', 'v2']);
  assert.deepEqual(rowsOf((await notaryOnDestination(['list', gun])).stdout), listed);
  // The consumer's cached root is the old server's; the new root is signed by the same root key.
  assert.deepEqual(rowsOf((await notaryOnDestination(['list', gun], consumer)).stdout), listed);

  // The owner keeps publishing with the real notary client, now to the destination.
  const work = peers.harness.newDir('after-migration');
  writeFileSync(join(work, 'v3'), 'published after the move\n');
  await notaryOnDestination(['add', gun, 'v3', join(work, 'v3'), '-p'], c.trustDir);
  assert.deepEqual(rowsOf((await notaryOnDestination(['list', gun])).stdout).map((r) => r[0]), ['v1', 'v2', 'v3']);

  // Migrating again never overwrites what the destination has.
  const again = await runVouch(['migrate', gun, '--to', dest().url, '--to-tlscacert', dest().caFile], {
    trustDir: c.trustDir, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 1,
  });
  assert.equal(again.stderr, `* fatal: ${new URL(dest().url).host} already has trust data for ${gun}; nothing was migrated\n`);
  assert.deepEqual(rowsOf((await notaryOnDestination(['list', gun])).stdout).map((r) => r[0]), ['v1', 'v2', 'v3']);
});

test('consumers whose cached root predates a root-key rotation walk the moved chain of roots', { skip }, async () => {
  const gun = 'docker.io/vouch/migrate-rotated';
  const owner = join(peers.harness.newDir('rot-owner'), 'trust');
  const work = peers.harness.newDir('rot-work');
  writeFileSync(join(work, 'v1'), 'one\n');
  const onSource = (args: readonly string[], trustDir: string, extra: Partial<NotaryCliOptions> = {}) =>
    runNotary(args, { trustDir, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0, ...extra });
  await onSource(['init', gun, '-p'], owner);
  await onSource(['add', gun, 'v1', join(work, 'v1'), '-p'], owner);
  const notaryConsumer = join(peers.harness.newDir('rot-notary-consumer'), 'trust');
  await onSource(['list', gun], notaryConsumer);
  const vouchConsumer = join(peers.harness.newDir('rot-vouch-consumer'), 'trust');
  await runVouch(['list', gun], { trustDir: vouchConsumer, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0 });
  const rotated = await onSource(['key', 'rotate', gun, 'root'], owner, { input: 'yes\n' });
  assert.match(rotated.stdout, /Successfully rotated root key/);

  const m = await runVouch(['migrate', gun, '--to', dest().url, '--to-tlscacert', dest().caFile], {
    trustDir: owner, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0,
  });
  assert.doesNotMatch(m.stderr, /are not moved/);
  // Both consumers trust root v1, whose key signs neither the rotated root nor the moved one:
  // they walk 2.root.json and on from the new server.
  assert.deepEqual(rowsOf((await notaryOnDestination(['list', gun], notaryConsumer)).stdout).map((r) => r[0]), ['v1']);
  const v = await runVouch(['list', gun], { trustDir: vouchConsumer, serverUrl: dest().url, caFile: dest().caFile, expectCode: 0 });
  assert.deepEqual(rowsOf(v.stdout).map((r) => r[0]), ['v1']);
});

test('once the old server is gone, the copy in the local cache is migrated', { skip }, async () => {
  const gun = 'docker.io/vouch/migrate-offline';
  const c = await buildNotaryCollection(peers.harness, { gun });
  const copy = join(peers.harness.newDir('offline-owner'), 'trust');
  cpSync(c.trustDir, copy, { recursive: true });
  // Nothing listens on port 1: the old server "is gone".
  const m = await runVouch(['migrate', gun, '--to', dest().url, '--to-tlscacert', dest().caFile], {
    trustDir: copy, serverUrl: 'https://127.0.0.1:1', caFile: peers.harness.caFile, expectCode: 0,
  });
  // The cached timestamp has not expired yet, so the update itself falls back to the cache.
  assert.match(m.stderr, /level=warning msg="could not reach 127\.0\.0\.1:1: migrating the copy of docker\.io\/vouch\/migrate-offline in the local cache"/);
  assert.deepEqual(rowsOf((await notaryOnDestination(['list', gun])).stdout), rowsOf(c.listing));
});

test('weeks after the old server is gone (cached timestamp expired), the cache is still migrated', { skip }, async () => {
  const gun = 'docker.io/vouch/migrate-expired';
  const c = await buildNotaryCollection(peers.harness, { gun });
  const copy = join(peers.harness.newDir('expired-owner'), 'trust');
  cpSync(c.trustDir, copy, { recursive: true });
  // notary's timestamps last 14 days; 30 days on, the cached one has expired.
  const later = () => new Date(Date.now() + 30 * 24 * 3600 * 1000);
  const owner = vouchClient({ url: 'https://127.0.0.1:1', caFile: peers.harness.caFile, gun, trustDir: copy, now: later });
  const target = new HttpTransport({ baseUrl: dest().url, tls: { ca: readFileSync(dest().caFile, 'utf8') } });
  try {
    // A read fails: the server is gone and the cached timestamp cannot stand in for it.
    await assert.rejects(owner.repo.listTargets(), (e) => hasCode(e, 'NETWORK'));
    const r = await owner.repo.migrateTo(new RemoteStore(target, gun));
    assert.deepEqual([...r.uploaded].sort(), ['root', 'targets', 'targets/releases']);
    const warned = owner.log.lines.filter((l) => l.level === 'warn').map((l) => l.message);
    assert.ok(warned.some((m) => /^could not reach 127\.0\.0\.1:1 \(could not reach https:\/\/127\.0\.0\.1:1: connection refused \(ECONNREFUSED\)\): migrating the copy of docker\.io\/vouch\/migrate-expired in the local cache; its signatures are checked, its expiry is not$/.test(m)), warned.join('\n'));
  } finally {
    await owner.close();
    await target.close();
  }
  assert.deepEqual(rowsOf((await notaryOnDestination(['list', gun])).stdout), rowsOf(c.listing));
});

test('notary-server as the destination refuses the moved root; the error says why', { skip }, async () => {
  const gun = 'docker.io/vouch/migrate-to-notary';
  const c = await buildNotaryCollection(peers.harness, { gun });
  const other = await startNotaryHarness();
  try {
    const m = await runVouch(['migrate', gun, '--to', other.url, '--to-tlscacert', other.caFile], {
      trustDir: c.trustDir, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 1,
    });
    // The collection's root key was rotated, so earlier root versions go along and notary-server refuses their parts by name.
    assert.match(m.stderr, /^\* fatal: trust server rejected operation: The role you are attempting to operate on is invalid\. \(INVALID_ROLE\) \(127\.0\.0\.1:\d+ refuses what a moved collection needs, as notary-server does: a first root above version 2, earlier root versions; move it to a Vouch server\)\n$/);
  } finally {
    await other.stop();
  }
});

test('without the old server and without a local copy, nothing is migrated', { skip }, async () => {
  const gun = 'docker.io/vouch/migrate-nothing';
  const empty = join(peers.harness.newDir('nothing'), 'trust');
  const m = await runVouch(['migrate', gun, '--to', dest().url, '--to-tlscacert', dest().caFile], {
    trustDir: empty, serverUrl: 'https://127.0.0.1:1', caFile: peers.harness.caFile, expectCode: 1,
  });
  assert.equal(m.stderr, '* fatal: could not reach https://127.0.0.1:1: connection refused (ECONNREFUSED)\n');
  const probe = await notaryOnDestination(['list', gun], undefined, { expectCode: 1 });
  assert.match(probe.stdout + probe.stderr, /does not have trust data for docker\.io\/vouch\/migrate-nothing/);
});


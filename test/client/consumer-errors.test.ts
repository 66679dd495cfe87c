/**
 * What a consumer is told when the trust data must not be used (docs/compatibility.md §2.1), against a
 * scripted server that serves what an attacker or a broken publisher would: signatures by a
 * removed key, expired metadata, rolled-back versions; plus the stale-cache fallback, near-expiry
 * warnings and docker's wording of each error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerTrustError } from '../../src/client/docker/errors.ts';
import type { Metadata, TimestampSigned } from '../../src/tuf/metadata.ts';
import { formatUnixDate } from '../../src/tuf/time.ts';
import { signTimestamp } from '../../src/tuf/builder.ts';
import { ClientError } from '../../src/client/errors.ts';
import { VerificationError } from '../../src/tuf/errors.ts';
import type { VouchError } from '../../src/errors.ts';
import { fileMetaOf } from '../../src/tuf/verify.ts';
import { generateTestPki, type TestPki } from '../helpers/tls.ts';
import { runVouch } from './cli-run.ts';
import { ecSigner, makeRepo, publishTo, resnapshot, serve, type FakeRepo } from './fake-repo.ts';
import { startFakeServer, type FakeServer } from './fake-server.ts';
import { vouchClient } from './helpers.ts';

const DAY = 86_400_000;
let scratch: string;
let pki: TestPki;
let fake: FakeServer;
before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'vouch-consumer-'));
  pki = generateTestPki(join(scratch, 'pki'));
  fake = await startFakeServer(pki);
});
after(async () => {
  await fake.close();
  rmSync(scratch, { recursive: true, force: true });
});

let n = 0;
function consumer(gun: string, now?: () => Date) {
  return vouchClient({ url: fake.url, caFile: pki.caFile, gun, trustDir: mkdtempSync(join(scratch, `c${n++}-`)), ...(now ? { now } : {}) });
}

async function published(gun: string): Promise<FakeRepo> {
  const r = await makeRepo(gun, new Date());
  await publishTo(r, [{ kind: 'addTarget', role: 'targets', name: 'v1', meta: fileMetaOf(Buffer.from('one')) }], new Date());
  serve(fake, r);
  return r;
}

test('targets signed by a key the root no longer lists: valid signatures did not meet threshold', async () => {
  const gun = 'example.com/attack/removed-key';
  const r = await published(gun);
  const c = consumer(gun);
  assert.deepEqual((await c.repo.listTargets()).map((t) => t.name), ['v1']);
  // The root moves targets to a new key, but the served targets file is still the old one.
  const oldTargets = r.state.targets!.get('targets')!;
  const newKey = ecSigner();
  r.keys.extra.set('new', newKey);
  await publishTo(r, [{ kind: 'rotateBaseRole', role: 'targets', keys: [newKey.publicKey] }], new Date());
  r.state = { ...r.state, targets: new Map([['targets', oldTargets]]) };
  await resnapshot(r, new Map([['root', r.state.root!.bytes], ['targets', oldTargets.bytes]]), new Date());
  serve(fake, r);
  const err = await c.repo.listTargets().then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof Error);
  assert.equal((err as { code?: string }).code, 'THRESHOLD_NOT_MET');
  assert.equal(err.message, 'valid signatures did not meet threshold for targets');
  assert.equal(dockerTrustError('example.com/attack/removed-key', err).message,
    'Warning: potential malicious behavior - trust data has insufficient signatures for remote repository example.com/attack/removed-key: valid signatures did not meet threshold for targets');
  // The CLI says the same, in notary's fatal style.
  const cli = await runVouch(['list', gun], { trustDir: c.trustDir, serverUrl: fake.url, caFile: pki.caFile, expectCode: 1 });
  assert.equal(cli.stderr.split('\n').filter((l) => l.startsWith('* fatal')).join('\n'), '* fatal: valid signatures did not meet threshold for targets');
  await c.close();
});

test('a delegation signed by a removed key is set aside with a warning; its targets are not trusted', async () => {
  const gun = 'example.com/attack/delegation-key';
  const r = await published(gun);
  const d1 = ecSigner();
  r.keys.extra.set('d1', d1);
  await publishTo(r, [
    { kind: 'updateDelegation', name: 'targets/releases', addKeys: [d1.publicKey], threshold: 1, addPaths: [''] },
    { kind: 'addTarget', role: 'targets/releases', name: 'rel', meta: fileMetaOf(Buffer.from('rel')) },
  ], new Date());
  // The delegation's key is replaced; the releases file is left as d1 signed it.
  const d2 = ecSigner();
  r.keys.extra.delete('d1');
  r.keys.extra.set('d2', d2);
  const releases = r.state.targets!.get('targets/releases')!;
  await publishTo(r, [{ kind: 'updateDelegation', name: 'targets/releases', removeKeys: [d1.publicKey.id], addKeys: [d2.publicKey] }], new Date());
  const targets = new Map(r.state.targets);
  targets.set('targets/releases', releases);
  r.state = { ...r.state, targets };
  await resnapshot(r, new Map([['targets/releases', releases.bytes]]), new Date());
  serve(fake, r);
  const c = consumer(gun);
  assert.deepEqual((await c.repo.listTargets()).map((t) => t.name), ['v1']);
  assert.ok(c.log.lines.some((l) => l.level === 'warn' && l.message === 'Error getting targets/releases: valid signatures did not meet threshold for targets/releases'));
  await assert.rejects(c.repo.resolveTag('rel'), { code: 'NO_SUCH_TARGET', message: 'No valid trust data for rel' });
  await c.close();
});

test('expired metadata: <role> expired at <time>, in notary\'s date format', async () => {
  const gun = 'example.com/attack/expired';
  const r = await published(gun);
  // A timestamp the server signed three weeks ago (14-day lifetime) and never renewed.
  await publishTo(r, [], new Date(), new Date(Date.now() - 21 * DAY));
  serve(fake, r);
  const c = consumer(gun);
  const expected = `timestamp expired at ${formatUnixDate(r.timestamp.signed.expires)}`;
  assert.match(expected, /^timestamp expired at [A-Z][a-z]{2} [A-Z][a-z]{2} \d{1,2} \d{2}:\d{2}:\d{2} UTC \d{4}$/);
  const err = await c.repo.listTargets().then(() => undefined, (e: unknown) => e);
  assert.equal((err as Error).message, expected);
  assert.equal((err as { code?: string }).code, 'EXPIRED');
  assert.equal(dockerTrustError(gun, err).message, `Error: remote repository ${gun} out-of-date: ${expected}`);

  // Expired targets under a fresh snapshot and timestamp.
  const gun2 = 'example.com/attack/expired-targets';
  const r2 = await makeRepo(gun2, new Date(Date.now() - 4 * 365 * DAY));
  await publishTo(r2, [{ kind: 'addTarget', role: 'targets', name: 'old', meta: fileMetaOf(Buffer.from('old')) }], new Date(Date.now() - 4 * 365 * DAY));
  await resnapshot(r2, new Map([['root', r2.state.root!.bytes], ['targets', r2.state.targets!.get('targets')!.bytes]]), new Date());
  serve(fake, r2);
  const c2 = consumer(gun2);
  await assert.rejects(c2.repo.listTargets(), { code: 'EXPIRED', message: `targets expired at ${formatUnixDate(r2.state.targets!.get('targets')!.signed.expires)}` });
  await c.close();
  await c2.close();
});

test('rollback: an older timestamp or snapshot than the cached one is refused', async () => {
  const gun = 'example.com/attack/rollback';
  const r = await published(gun);
  const oldTimestamp: Metadata<TimestampSigned> = r.timestamp;
  const oldSnapshot = r.state.snapshot!;
  // The newer snapshot also lists a delegation, so it is longer than the old one: the cached copy
  // must still set the version floor although it cannot be the file the timestamp now names.
  const qa = ecSigner();
  r.keys.extra.set('qa', qa);
  await publishTo(r, [
    { kind: 'addTarget', role: 'targets', name: 'v2', meta: fileMetaOf(Buffer.from('two')) },
    { kind: 'updateDelegation', name: 'targets/qa', addKeys: [qa.publicKey], threshold: 1, addPaths: ['qa/'] },
    { kind: 'addTarget', role: 'targets/qa', name: 'qa/x', meta: fileMetaOf(Buffer.from('x')) },
  ], new Date());
  serve(fake, r);
  const c = consumer(gun);
  assert.deepEqual((await c.repo.listTargets()).map((t) => t.name).sort(), ['qa/x', 'v1', 'v2']);
  assert.ok(r.state.snapshot!.bytes.length > oldSnapshot.bytes.length);
  const cachedVersion = r.timestamp.signed.version;

  fake.put(gun, 'timestamp.json', oldTimestamp.bytes);
  const err = await c.repo.listTargets().then(() => undefined, (e: unknown) => e);
  assert.equal((err as Error).message, `version ${oldTimestamp.signed.version} is lower than current version ${cachedVersion}`);
  assert.equal(dockerTrustError(gun, err).message, `Warning: potential malicious behavior - trust data version is lower than expected for remote repository ${gun}: ${(err as Error).message}`);

  // A newer timestamp (the timestamp key is the server's) that points at the old snapshot.
  const ts = await signTimestamp({ now: new Date(), previous: r.timestamp, snapshotBytes: oldSnapshot.bytes, signer: r.keys.timestamp });
  fake.put(gun, 'timestamp.json', ts.bytes);
  await assert.rejects(c.repo.listTargets(), { code: 'ROLLBACK', message: `version ${oldSnapshot.signed.version} is lower than current version ${r.state.snapshot!.signed.version}` });
  await c.close();
});

test('a root not signed by the cached root\'s keys: could not rotate trust (root mismatch)', async () => {
  const gun = 'example.com/attack/root-swap';
  await published(gun);
  const c = consumer(gun);
  await c.repo.listTargets();
  // The server now serves a whole new collection for the GUN, made with other keys.
  const impostor = await makeRepo(gun, new Date());
  await publishTo(impostor, [{ kind: 'addTarget', role: 'targets', name: 'evil', meta: fileMetaOf(Buffer.from('evil')) }], new Date());
  serve(fake, impostor);
  const err = await c.repo.listTargets().then(() => undefined, (e: unknown) => e);
  assert.equal((err as { code?: string }).code, 'ROOT_ROTATION_FAILED');
  assert.equal((err as Error).message, 'could not rotate trust to a new trusted root: failed to validate data with current trusted certificates');
  assert.equal(dockerTrustError(gun, err).message, `could not rotate trust to a new trusted root: failed to validate data with current trusted certificates`);
  // A consumer without a cached root trusts the new one on first use (TOFU).
  const fresh = consumer(gun);
  assert.deepEqual((await fresh.repo.listTargets()).map((t) => t.name), ['evil']);
  await c.close();
  await fresh.close();
});

test('server unreachable: the cached timestamp is used, with notary\'s warning and the real cause', async () => {
  const gun = 'example.com/offline/cache';
  await published(gun);
  const c = consumer(gun);
  await c.repo.listTargets();
  const pkiDown = await startFakeServer(pki);
  const downUrl = pkiDown.url;
  await pkiDown.close();
  const offline = vouchClient({ url: downUrl, caFile: pki.caFile, gun, trustDir: c.trustDir });
  assert.deepEqual((await offline.repo.listTargets()).map((t) => t.name), ['v1']);
  const warnings = offline.log.lines.filter((l) => l.level === 'warn').map((l) => l.message);
  assert.deepEqual(warnings, [
    'Error while downloading remote metadata, using cached timestamp - this might not be the latest version available remotely',
    `could not reach ${downUrl}: connection refused (ECONNREFUSED)`,
  ]);
  await c.close();
  await offline.close();
});

test('near-expiry warnings for roles inside six months of expiry', async () => {
  const gun = 'example.com/warn/near-expiry';
  const old = new Date(Date.now() - (3 * 365 - 30) * DAY); // targets and snapshot expire in ~30 days
  const r = await makeRepo(gun, old);
  await publishTo(r, [{ kind: 'addTarget', role: 'targets', name: 'v1', meta: fileMetaOf(Buffer.from('one')) }], old, new Date());
  serve(fake, r);
  const c = consumer(gun);
  await c.repo.listTargets();
  const warnings = c.log.lines.filter((l) => l.level === 'warn').map((l) => l.message);
  assert.deepEqual(warnings, [
    'targets metadata is nearing expiry, you should re-sign the role metadata',
    'snapshot is nearing expiry, you should re-sign the role metadata',
  ]);
  await c.close();
});

test('docker wording for the other consumer errors', () => {
  const repo = 'registry.example.com/team/app';
  const cases: [VouchError, string][] = [
    [new VerificationError('ROOT_ROTATION_FAILED', 'could not rotate trust to a new trusted root: failed to validate data with current trusted certificates'),
      `could not rotate trust to a new trusted root: failed to validate data with current trusted certificates`],
    [new ClientError('REPOSITORY_NOT_EXIST', 'notary.example.com does not have trust data for registry.example.com/team/app'),
      `Error: remote trust data does not exist for ${repo}: notary.example.com does not have trust data for registry.example.com/team/app`],
    [new ClientError('TLS', 'could not reach https://n:4443: TLS: …'), 'Error: error contacting notary server: could not reach https://n:4443: TLS: …'],
    [new ClientError('NO_SUCH_TARGET', 'No valid trust data for latest'), 'No valid trust data for latest'],
    [new ClientError('UNAUTHORIZED', 'you are not authorized to perform this operation: server returned 401.'), 'you are not authorized to perform this operation: server returned 401.'],
  ];
  for (const [e, text] of cases) assert.equal(dockerTrustError(repo, e).message, text);
});

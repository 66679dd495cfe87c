/**
 * The trusted-metadata state machine, test by threat: rollback, freeze (expiry), mix-and-match
 * (checksums), delegation abuse (paths, invalid roles), key-ID games, misuse, trust pinning.
 * Repositories are produced by the builder with an injected clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newRepository, signChanges, signedJsonOf, signRole, signSnapshot, signTimestamp } from '../../src/tuf/builder.ts';
import { TrustedCollection } from '../../src/tuf/trusted.ts';
import { parseGun, type RoleName } from '../../src/tuf/types.ts';
import { fileMetaOf } from '../../src/tuf/verify.ts';
import type { Metadata, TargetsSigned, TimestampSigned } from '../../src/tuf/metadata.ts';
import type { RepoState } from '../../src/tuf/edit.ts';
import type { Signer } from '../../src/tuf/signer.ts';
import { MisuseError } from '../../src/tuf/errors.ts';
import { hasCode } from '../../src/errors.ts';
import { ecdsaSigner, rootSigner } from './builder-keys.ts';

const GUN = 'example.com/trusted/test';
const NOW = new Date('2026-11-25T12:00:00Z');
const DAY = 86_400_000;
const R = (s: string) => s as RoleName;

interface Repo {
  root: Signer;
  targets: Signer;
  snapshot: Signer;
  timestamp: Signer;
  releases: Signer;
  libs: Signer;
  state: RepoState;
  ts: Metadata<TimestampSigned>;
}

function payload(s: string) {
  return fileMetaOf(new TextEncoder().encode(s));
}

/** root, targets (v1 target), targets/releases ("" paths), targets/libs (paths lib/), snapshot, timestamp. */
async function makeRepo(now = NOW): Promise<Repo> {
  const keys = { root: rootSigner(GUN, now), targets: ecdsaSigner(), snapshot: ecdsaSigner(), timestamp: ecdsaSigner(), releases: ecdsaSigner(), libs: ecdsaSigner() };
  const repo = await newRepository({ gun: GUN, now, rootKeys: [keys.root], targetsKey: keys.targets, snapshotKey: keys.snapshot, timestampKey: keys.timestamp.publicKey, snapshot: 'client' });
  const signers = (role: RoleName): Signer[] =>
    role === 'targets/releases' ? [keys.releases] : role === 'targets/libs' ? [keys.libs] : [keys[role as 'root' | 'targets' | 'snapshot']];
  const changed = await signChanges({
    now, snapshot: 'client', signers,
    current: { root: repo.root, targets: new Map([[R('targets'), repo.targets]]), snapshot: repo.snapshot! },
    changes: [
      { kind: 'addTarget', role: 'targets', name: 'v1', meta: payload('one') },
      { kind: 'updateDelegation', name: 'targets/releases', threshold: 1, addKeys: [keys.releases.publicKey], addPaths: [''] },
      { kind: 'updateDelegation', name: 'targets/libs', threshold: 1, addKeys: [keys.libs.publicKey], addPaths: ['lib/'] },
      { kind: 'addTarget', role: 'targets/releases', name: 'v2', meta: payload('two') },
      { kind: 'addTarget', role: 'targets/libs', name: 'lib/a', meta: payload('a') },
    ],
  });
  const ts = await signTimestamp({ now, snapshotBytes: changed.state.snapshot!.bytes, signer: keys.timestamp });
  return { ...keys, state: changed.state, ts };
}

function targetsFile(repo: Repo, role: string): Metadata<TargetsSigned> {
  const m = repo.state.targets?.get(role);
  assert.ok(m, role);
  return m;
}

function loadAll(repo: Repo, now = NOW): TrustedCollection {
  const tc = new TrustedCollection({ gun: parseGun(GUN), now });
  tc.updateRoot(repo.state.root!.bytes);
  tc.updateTimestamp(repo.ts.bytes);
  tc.updateSnapshot(repo.state.snapshot!.bytes);
  tc.updateTargets(targetsFile(repo, 'targets').bytes);
  for (const d of tc.childrenOf(R('targets'))) tc.updateDelegation(d.name, targetsFile(repo, d.name).bytes);
  return tc;
}

const repoPromise = makeRepo();

test('a well-formed repository loads; lookups walk breadth-first with path restrictions', async () => {
  const repo = await repoPromise;
  const tc = loadAll(repo);
  assert.deepEqual(tc.walkOrder(), ['targets', 'targets/releases', 'targets/libs']);
  assert.equal(tc.lookup('v2')?.role, 'targets/releases');
  assert.equal(tc.lookup('lib/a')?.role, 'targets/libs');
  assert.deepEqual(tc.pathsOf(R('targets/libs')), ['lib/']);
  assert.deepEqual(tc.pendingChecksums, new Set());
});

test('rollback: each role refuses a version below the trusted floor, with notary\'s text', async () => {
  const repo = await repoPromise;
  const tc = new TrustedCollection({ gun: parseGun(GUN), now: NOW });
  tc.updateRoot(repo.state.root!.bytes);
  assert.throws(() => tc.updateTimestamp(repo.ts.bytes, { minVersion: 2 }), (e) => hasCode(e, 'ROLLBACK') && (e as Error).message === 'version 1 is lower than current version 2');
  tc.updateTimestamp(repo.ts.bytes, { minVersion: 1 });
  const snapVersion = repo.state.snapshot!.signed.version;
  assert.throws(() => tc.updateSnapshot(repo.state.snapshot!.bytes, { minVersion: snapVersion + 5 }), (e) => hasCode(e, 'ROLLBACK') && (e as Error).message === `version ${snapVersion} is lower than current version ${snapVersion + 5}`);
  assert.equal(tc.snapshot, undefined, 'a refused snapshot changes nothing');
  tc.updateSnapshot(repo.state.snapshot!.bytes);
  assert.throws(() => tc.updateTargets(targetsFile(repo, 'targets').bytes, { minVersion: 99 }), (e) => hasCode(e, 'ROLLBACK'));
  // A root older than the trusted one is refused even without an explicit floor.
  const older = new TrustedCollection({ gun: parseGun(GUN), now: NOW });
  const v1 = repo.state.root!;
  const rotated = await signChanges({ now: NOW, snapshot: 'client', signers: () => [repo.root, repo.targets, repo.snapshot], current: repo.state, changes: [{ kind: 'witness', role: 'root' }] });
  const v2 = rotated.files.get(R('root'))!;
  assert.equal(v2.signed.version, v1.signed.version + 1);
  older.updateRoot(v2.bytes);
  assert.throws(() => older.updateRoot(v1.bytes), (e) => hasCode(e, 'ROLLBACK') && (e as Error).message === `version ${v1.signed.version} is lower than current version ${v2.signed.version}`);
});

test('freeze: expired timestamp, snapshot, targets and root are refused unless explicitly allowed', async () => {
  const repo = await repoPromise;
  const late = new Date(NOW.getTime() + 15 * DAY);
  const tc = new TrustedCollection({ gun: parseGun(GUN), now: late });
  tc.updateRoot(repo.state.root!.bytes);
  assert.throws(() => tc.updateTimestamp(repo.ts.bytes), (e) => hasCode(e, 'EXPIRED') && (e as Error).message === `timestamp expired at ${'Wed Dec 9 12:00:00 UTC 2026'}`);
  tc.updateTimestamp(repo.ts.bytes, { allowExpired: true });
  const veryLate = new Date(NOW.getTime() + 3 * 365 * DAY + DAY);
  const tc2 = new TrustedCollection({ gun: parseGun(GUN), now: veryLate });
  tc2.updateRoot(repo.state.root!.bytes);
  assert.throws(() => tc2.updateSnapshot(repo.state.snapshot!.bytes), (e) => hasCode(e, 'EXPIRED') && /^snapshot expired at /.test((e as Error).message));
  assert.throws(() => tc2.updateTargets(targetsFile(repo, 'targets').bytes), (e) => hasCode(e, 'EXPIRED') && /^targets expired at /.test((e as Error).message));
  const tc3 = new TrustedCollection({ gun: parseGun(GUN), now: new Date(NOW.getTime() + 3651 * DAY) });
  // Ten years on, the root certificate has expired too: that is reported first, as notary does.
  assert.throws(() => tc3.updateRoot(repo.state.root!.bytes), (e) => hasCode(e, 'ROOT_UNTRUSTED') && /certificate with CN example.com\/trusted\/test is expired/.test((e as Error).message));
});

test('mix-and-match: a snapshot or targets file other than the one its parent recorded is refused', async () => {
  const repo = await repoPromise;
  const other = await makeRepo();
  const tc = new TrustedCollection({ gun: parseGun(GUN), now: NOW });
  tc.updateRoot(repo.state.root!.bytes);
  tc.updateTimestamp(repo.ts.bytes);
  const expected = Buffer.from(repo.ts.signed.meta.get('snapshot')!.hashes.get('sha256')!).toString('hex');
  assert.throws(() => tc.updateSnapshot(other.state.snapshot!.bytes), (e) => hasCode(e, 'CHECKSUM_MISMATCH') && (e as Error).message === `sha256 checksum for snapshot did not match: expected ${expected}`);
  tc.updateSnapshot(repo.state.snapshot!.bytes);
  assert.throws(() => tc.updateTargets(targetsFile(other, 'targets').bytes), (e) => hasCode(e, 'CHECKSUM_MISMATCH') && /^sha256 checksum for targets did not match/.test((e as Error).message));
});

test('server order: roles loaded before the snapshot are checked when it arrives', async () => {
  const repo = await repoPromise;
  const other = await makeRepo();
  const tc = new TrustedCollection({ gun: parseGun(GUN), now: NOW });
  tc.updateRoot(repo.state.root!.bytes);
  tc.deferRootChecksum();
  tc.updateTargets(targetsFile(repo, 'targets').bytes);
  assert.deepEqual(tc.pendingChecksums, new Set(['root', 'targets']));
  const wrong = await signSnapshot({ now: NOW, previous: repo.state.snapshot, files: new Map([['targets', targetsFile(other, 'targets').bytes]]), signers: [repo.snapshot] });
  assert.throws(() => tc.updateSnapshot(wrong.bytes), (e) => hasCode(e, 'CHECKSUM_MISMATCH'));
  assert.equal(tc.snapshot, undefined);
  tc.updateSnapshot(repo.state.snapshot!.bytes);
  assert.deepEqual(tc.pendingChecksums, new Set(['snapshot']));
  tc.updateTimestamp(repo.ts.bytes);
  assert.deepEqual(tc.pendingChecksums, new Set());
});

test('a delegation the snapshot does not record is refused for lack of a checksum', async () => {
  const repo = await repoPromise;
  const snap = await signSnapshot({ now: NOW, previous: repo.state.snapshot, files: new Map(), removed: ['targets/libs'], signers: [repo.snapshot] });
  const ts = await signTimestamp({ now: NOW, previous: repo.ts, snapshotBytes: snap.bytes, signer: repo.timestamp });
  const tc = new TrustedCollection({ gun: parseGun(GUN), now: NOW });
  tc.updateRoot(repo.state.root!.bytes);
  tc.updateTimestamp(ts.bytes);
  tc.updateSnapshot(snap.bytes);
  tc.updateTargets(targetsFile(repo, 'targets').bytes);
  assert.throws(() => tc.updateDelegation(R('targets/libs'), targetsFile(repo, 'targets/libs').bytes), (e) => hasCode(e, 'NO_CHECKSUM') && (e as Error).message === 'no checksums for supported algorithms were provided for targets/libs');
});

test('delegation abuse: a role signed by a key it was not delegated is set aside, the rest still serve', async () => {
  const repo = await repoPromise;
  const libs = targetsFile(repo, 'targets/libs');
  // The builder refuses to sign targets/libs with a key the role does not list…
  const refused = await signChanges({
    now: NOW, snapshot: 'client', signers: (r) => (r === 'targets/libs' ? [repo.releases] : [repo.snapshot]),
    current: repo.state, changes: [{ kind: 'addTarget', role: 'targets/libs', name: 'lib/evil', meta: payload('evil') }],
  }).catch((e: unknown) => e);
  assert.ok(hasCode(refused, 'NO_SIGNING_KEYS'), String(refused));
  // …so forge one by hand: same content plus lib/evil, signed by the releases key, recorded in a
  // fresh snapshot and timestamp (a compromised snapshot/timestamp, an honest targets key).
  const releasesKey = repo.releases.publicKey;
  const forged = await signRole('targets/libs', { ...signedJsonOf(libs), version: libs.signed.version + 1 }, [repo.releases], {
    verifier: { name: 'targets/libs', keys: new Map([[releasesKey.id, releasesKey]]), threshold: 1 },
  });
  const snap = await signSnapshot({ now: NOW, previous: repo.state.snapshot, files: new Map([['targets/libs', forged.bytes]]), signers: [repo.snapshot] });
  const ts = await signTimestamp({ now: NOW, previous: repo.ts, snapshotBytes: snap.bytes, signer: repo.timestamp });
  const tc = new TrustedCollection({ gun: parseGun(GUN), now: NOW });
  tc.updateRoot(repo.state.root!.bytes);
  tc.updateTimestamp(ts.bytes);
  tc.updateSnapshot(snap.bytes);
  tc.updateTargets(targetsFile(repo, 'targets').bytes);
  tc.updateDelegation(R('targets/releases'), targetsFile(repo, 'targets/releases').bytes);
  assert.throws(
    () => tc.updateDelegation(R('targets/libs'), forged.bytes),
    (e) => hasCode(e, 'THRESHOLD_NOT_MET') && (e as Error).message === 'valid signatures did not meet threshold for targets/libs',
  );
  assert.equal(tc.invalidRoles.get(R('targets/libs'))?.error.code, 'THRESHOLD_NOT_MET');
  assert.equal(tc.lookup('lib/evil'), undefined);
  assert.equal(tc.lookup('v2')?.role, 'targets/releases');
});

test('an expired delegation is skipped with its error recorded, and lookups fall through', async () => {
  // Build where the delegation expires long before the others: sign it far in the past.
  const past = new Date(NOW.getTime() - 3 * 365 * DAY - 10 * DAY);
  const repo = await makeRepo(past);
  const refreshed = await signChanges({
    now: NOW, snapshot: 'client', signers: (r) => (r === 'targets' ? [repo.targets] : r === 'snapshot' ? [repo.snapshot] : r === 'root' ? [repo.root] : []),
    current: repo.state, changes: [{ kind: 'addTarget', role: 'targets', name: 'fresh', meta: payload('fresh') }],
  });
  const ts = await signTimestamp({ now: NOW, snapshotBytes: refreshed.state.snapshot!.bytes, signer: repo.timestamp });
  const tc = new TrustedCollection({ gun: parseGun(GUN), now: NOW });
  tc.updateRoot(refreshed.state.root!.bytes);
  tc.updateTimestamp(ts.bytes);
  tc.updateSnapshot(refreshed.state.snapshot!.bytes);
  tc.updateTargets(refreshed.state.targets!.get('targets')!.bytes);
  assert.throws(() => tc.updateDelegation(R('targets/releases'), refreshed.state.targets!.get('targets/releases')!.bytes), (e) => hasCode(e, 'EXPIRED') && /^targets\/releases expired at /.test((e as Error).message));
  assert.equal(tc.invalidRoles.get(R('targets/releases'))?.error.code, 'EXPIRED');
  assert.equal(tc.lookup('v2'), undefined);
  assert.equal(tc.lookup('fresh')?.role, 'targets');
});

test('delegated paths: entries outside a role\'s effective paths are ignored', async () => {
  const repo = await repoPromise;
  const changed = await signChanges({
    now: NOW, snapshot: 'client', signers: (r) => (r === 'targets/libs' ? [repo.libs] : [repo.snapshot]),
    current: repo.state, changes: [{ kind: 'addTarget', role: 'targets/libs', name: 'bin/sneaky', meta: payload('x') }],
  }).catch((e: unknown) => e);
  // The builder refuses it outright; a hand-made file with such an entry is ignored by lookups.
  assert.ok(hasCode(changed, 'INVALID_METADATA') || hasCode(changed, 'INVALID_ROLE'), String(changed));
  const tc = loadAll(repo);
  assert.equal(tc.targetsOf(R('targets/libs')).has('bin/sneaky'), false);
});

test('misuse: roles out of order are programming errors, not verification failures', async () => {
  const repo = await repoPromise;
  const tc = new TrustedCollection({ gun: parseGun(GUN), now: NOW });
  assert.throws(() => tc.updateTimestamp(repo.ts.bytes), MisuseError);
  tc.updateRoot(repo.state.root!.bytes);
  assert.throws(() => tc.updateDelegation(R('targets/releases'), targetsFile(repo, 'targets/releases').bytes), MisuseError);
  tc.updateTimestamp(repo.ts.bytes);
  assert.throws(() => tc.updateRoot(repo.state.root!.bytes), MisuseError);
});

test('vector 19: thresholds count distinct valid keys; a key listed under a wrong ID fails hard', async () => {
  const repo = await repoPromise;
  const tc = loadAll(repo);
  const ts = repo.ts;
  // Two copies of one signature cannot meet a threshold of 2 (re-signed root with threshold 2).
  const twice = JSON.parse(Buffer.from(ts.bytes).toString('utf8'));
  twice.signatures.push(twice.signatures[0]);
  twice.signatures.push({ keyid: 'f'.repeat(64), method: 'ecdsa', sig: twice.signatures[0].sig });
  const tc2 = new TrustedCollection({ gun: parseGun(GUN), now: NOW });
  tc2.updateRoot(repo.state.root!.bytes);
  // Threshold 1 with an unknown key next to a valid one: fine.
  tc2.updateTimestamp(new TextEncoder().encode(JSON.stringify(twice)));
  assert.ok(tc.timestamp);
  // A root whose keys map lists the timestamp key under another key's ID.
  const root = JSON.parse(Buffer.from(repo.state.root!.bytes).toString('utf8'));
  const tsId = root.signed.roles.timestamp.keyids[0];
  const snapId = root.signed.roles.snapshot.keyids[0];
  root.signed.keys[tsId] = root.signed.keys[snapId];
  const { verifySignatures } = await import('../../src/tuf/verify.ts');
  const { parseMetadata } = await import('../../src/tuf/metadata.ts');
  const badRoot = parseMetadata('root', new TextEncoder().encode(JSON.stringify(root)));
  const listed = new Map([[tsId, badRoot.signed.keys.get(tsId)!]]);
  assert.throws(() => verifySignatures(ts, { name: 'timestamp', keys: listed, threshold: 1 }), (e) => hasCode(e, 'KEY_ID_MISMATCH') && (e as Error).message === 'key ID is not valid for key content');
  const sig = ts.signatures[0]!;
  const key = repo.timestamp.publicKey;
  const dup = { signatures: [sig, sig], signedBytes: ts.signedBytes };
  assert.throws(() => verifySignatures(dup, { name: 'timestamp', keys: new Map([[key.id, key]]), threshold: 2 }), (e) => hasCode(e, 'THRESHOLD_NOT_MET') && (e as Error).message === 'valid signatures did not meet threshold for timestamp');
  assert.throws(() => verifySignatures({ signatures: [], signedBytes: ts.signedBytes }, { name: 'timestamp', keys: new Map(), threshold: 1 }), (e) => hasCode(e, 'NO_SIGNATURES') && (e as Error).message === 'tuf: data has no signatures');
});

test('trust pinning: certs by ID (exact and wildcard), CA that did not issue the root, TOFU off', async () => {
  const repo = await repoPromise;
  const rootId = repo.state.root!.signed.roles.get('root')!.keyIds[0]!;
  const load = (pinning: ConstructorParameters<typeof TrustedCollection>[0]['pinning']) =>
    new TrustedCollection({ gun: parseGun(GUN), now: NOW, ...(pinning ? { pinning } : {}) }).updateRoot(repo.state.root!.bytes);
  assert.equal(load({ certs: { [GUN]: [rootId] } }).signed.version, repo.state.root!.signed.version);
  assert.equal(load({ certs: { 'example.com/*': [rootId] } }).signed.version, repo.state.root!.signed.version);
  assert.throws(() => load({ certs: { [GUN]: ['0'.repeat(64)] } }), (e) => hasCode(e, 'ROOT_UNTRUSTED') && (e as Error).message === 'could not validate the path to a trusted root: unable to match any certificates to trust_pinning config');
  // The longest wildcard wins: the more specific prefix pins a different ID.
  assert.throws(() => load({ certs: { 'example.com/*': [rootId], 'example.com/trusted/*': ['1'.repeat(64)] } }), (e) => hasCode(e, 'ROOT_UNTRUSTED'));
  assert.throws(() => load({ disableTofu: true }), (e) => hasCode(e, 'ROOT_UNTRUSTED') && (e as Error).message === 'could not validate the path to a trusted root: invalid trust pinning specified');
  const otherCa = Buffer.from((await makeRepo()).state.root!.signed.keys.get((await makeRepo()).state.root!.signed.roles.get('root')!.keyIds[0]!)?.publicBytes ?? new Uint8Array()).toString('utf8');
  assert.throws(() => load({ ca: { 'example.com/': otherCa } }), (e) => hasCode(e, 'ROOT_UNTRUSTED'));
});

test('vector 7: a targets file signed over non-canonical custom data (as notary 0.7 writes it) fails the threshold', async () => {
  const repo = await repoPromise;
  const { canonicalString } = await import('../../src/tuf/canonical.ts');
  const { parseMetadata } = await import('../../src/tuf/metadata.ts');
  const { verifySignatures } = await import('../../src/tuf/verify.ts');
  const signed = signedJsonOf(targetsFile(repo, 'targets')) as { targets: Record<string, unknown> };
  signed.targets['v1'] = { hashes: {}, length: 0, custom: '__CUSTOM__' };
  // Go embeds the raw custom bytes, compacted and HTML-escaped but not re-sorted.
  const text = canonicalString(signed).replace('"__CUSTOM__"', '{"b":1,"a":"x\\u003cy"}');
  const sig = await repo.targets.sign(new TextEncoder().encode(text));
  const file = `{"signed":${text},"signatures":[{"keyid":"${repo.targets.keyId}","method":"${sig.method}","sig":"${Buffer.from(sig.sig).toString('base64')}"}]}`;
  const meta = parseMetadata('targets', new TextEncoder().encode(file)) as Metadata<TargetsSigned>;
  assert.deepEqual(meta.signed.targets.get('v1')?.custom, { b: 1, a: 'x<y' });
  const root = repo.state.root!.signed;
  const role = root.roles.get('targets')!;
  assert.throws(
    () => verifySignatures(meta, { name: 'targets', threshold: role.threshold, keys: new Map(role.keyIds.map((id) => [id, root.keys.get(id)!])) }),
    (e) => hasCode(e, 'THRESHOLD_NOT_MET') && (e as Error).message === 'valid signatures did not meet threshold for targets',
  );
});

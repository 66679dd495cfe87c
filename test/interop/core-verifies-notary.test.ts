/**
 * The real notary 0.7 stack (Debian notary-server + notary-signer, driven by the notary client)
 * publishes a collection with every role kind, a delegation, a server-managed snapshot, a targets
 * key rotation and a root rotation; the Vouch core verifies every file it serves.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { notaryPeersUnavailableReason, startNotaryHarness, type NotaryHarness } from '../helpers/notary-harness.ts';
import { buildNotaryCollection, type NotaryCollection } from '../helpers/scenarios.ts';
import { fetchRole } from '../helpers/fetch-collection.ts';
import { TrustedCollection } from '../../src/tuf/trusted.ts';
import { parseGun, type RoleName } from '../../src/tuf/types.ts';
import { hasCode } from '../../src/errors.ts';
import { parseMetadata } from '../../src/tuf/metadata.ts';

const skip = notaryPeersUnavailableReason();
let harness: NotaryHarness;
let collection: NotaryCollection;

before(async () => {
  if (skip !== undefined) return;
  harness = await startNotaryHarness();
  collection = await buildNotaryCollection(harness);
});
after(async () => {
  await harness?.stop();
});

function file(name: string): Uint8Array {
  const b = collection.files.get(name);
  assert.ok(b, `${name} was served`);
  return new Uint8Array(b);
}

function loadAll(now = new Date()): TrustedCollection {
  const tc = new TrustedCollection({ gun: parseGun(collection.gun), now });
  tc.updateRoot(file('root.json'));
  const ts = tc.updateTimestamp(file('timestamp.json'));
  assert.ok(ts.signed.meta.get('snapshot'));
  tc.updateSnapshot(file('snapshot.json'));
  tc.updateTargets(file('targets.json'));
  for (const d of tc.childrenOf('targets' as RoleName)) tc.updateDelegation(d.name, file(`${d.name}.json`));
  tc.deferRootChecksum();
  return tc;
}

test('the Vouch core verifies every file the notary stack serves', { skip }, () => {
  const tc = loadAll();
  assert.deepEqual(tc.walkOrder(), ['targets', 'targets/releases']);
  assert.equal(tc.pendingChecksums.size, 0);
  for (const t of collection.targets) {
    const hit = tc.lookup(t.name);
    assert.ok(hit, `${t.name} found`);
    assert.equal(hit.role, t.role);
    assert.equal(hit.meta.length, t.size);
    assert.equal(Buffer.from(hit.meta.hashes.get('sha256')!).toString('hex'), t.sha256);
    assert.equal(
      Buffer.from(hit.meta.hashes.get('sha512')!).toString('hex'),
      createHash('sha512').update(t.content).digest('hex'),
    );
  }
  // Root v4 after one root rotation: listed key is the new certificate, signed by old and new.
  const root = tc.root!.signed;
  assert.equal(root.version, 4);
  assert.equal(root.roles.get('root')!.keyIds.length, 1);
  assert.equal(tc.root!.signatures.length, 2);
  assert.equal(root.keys.get(root.roles.get('root')!.keyIds[0]!)!.keyType, 'ecdsa-x509');
});

test('the root rotation chain 1 → 4 verifies step by step, each root against its predecessor', { skip }, async () => {
  const tc = new TrustedCollection({ gun: parseGun(collection.gun), now: new Date() });
  for (let v = 1; v <= 4; v++) {
    const bytes = await fetchRole(harness.url, collection.gun, `${v}.root.json`, harness.caFile);
    assert.equal(tc.updateRoot(new Uint8Array(bytes), { minVersion: v - 1 }).signed.version, v);
  }
  assert.deepEqual(Buffer.from(tc.root!.bytes), Buffer.from(file('root.json')));
});

test('a client that trusted root v1 refuses root v4 with the old signature stripped', { skip }, async () => {
  const v1 = new Uint8Array(await fetchRole(harness.url, collection.gun, '1.root.json', harness.caFile));
  const v3 = new Uint8Array(await fetchRole(harness.url, collection.gun, '3.root.json', harness.caFile));
  const v4 = parseMetadata('root', file('root.json'));
  const newKeyId = v4.signed.roles.get('root')!.keyIds[0]!;
  const doc = JSON.parse(Buffer.from(file('root.json')).toString('utf8'));
  doc.signatures = doc.signatures.filter((s: { keyid: string }) => s.keyid === newKeyId);
  const stripped = new TextEncoder().encode(JSON.stringify(doc));
  const tc = new TrustedCollection({ gun: parseGun(collection.gun), now: new Date() });
  tc.updateRoot(v1);
  tc.updateRoot(v3);
  assert.throws(
    () => tc.updateRoot(stripped),
    (e) => hasCode(e, 'ROOT_ROTATION_FAILED') && (e as Error).message === 'could not rotate trust to a new trusted root: failed to validate data with current trusted certificates',
  );
  // A fresh client (TOFU) accepts the stripped root: it is validly self-signed by its own key.
  const fresh = new TrustedCollection({ gun: parseGun(collection.gun), now: new Date() });
  assert.equal(fresh.updateRoot(stripped).signed.version, 4);
});

test('consumers see notary\'s rollback, expiry and threshold texts on this collection', { skip }, () => {
  // Rollback: a cached timestamp version above the served one.
  const tc = new TrustedCollection({ gun: parseGun(collection.gun), now: new Date() });
  tc.updateRoot(file('root.json'));
  const tsVersion = parseMetadata('timestamp', file('timestamp.json')).signed.version;
  assert.throws(
    () => tc.updateTimestamp(file('timestamp.json'), { minVersion: tsVersion + 1 }),
    (e) => hasCode(e, 'ROLLBACK') && (e as Error).message === `version ${tsVersion} is lower than current version ${tsVersion + 1}`,
  );
  // Expiry: fourteen days and a minute later the timestamp has expired.
  const late = new TrustedCollection({ gun: parseGun(collection.gun), now: new Date(Date.now() + 14 * 86_400_000 + 60_000) });
  late.updateRoot(file('root.json'));
  assert.throws(() => late.updateTimestamp(file('timestamp.json')), (e) => hasCode(e, 'EXPIRED') && /^timestamp expired at \w{3} \w{3} \d{1,2} \d\d:\d\d:\d\d UTC \d{4}$/.test((e as Error).message));
  // Threshold: targets re-signed by nobody (signature replaced by the snapshot's).
  const targets = JSON.parse(Buffer.from(file('targets.json')).toString('utf8'));
  const snapshot = JSON.parse(Buffer.from(file('snapshot.json')).toString('utf8'));
  targets.signatures = snapshot.signatures;
  const t2 = new TrustedCollection({ gun: parseGun(collection.gun), now: new Date() });
  t2.updateRoot(file('root.json'));
  assert.throws(
    () => t2.updateTargets(new TextEncoder().encode(JSON.stringify(targets))),
    (e) => hasCode(e, 'THRESHOLD_NOT_MET') && (e as Error).message === 'valid signatures did not meet threshold for targets',
  );
});

/**
 * Repository workflows against the real notary-server + notary-signer, each checked with the real
 * notary client where it matters: witness recovers a delegation whose key was replaced (E5),
 * m-of-n delegations (Vouch's --threshold) publish and verify, delete --remote, init with a
 * supplied root key and certificate, trust pinning (certs, CA, disable_tofu), key rotations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from '../helpers/keys.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { notaryHarnessForFile } from '../helpers/notary-harness.ts';
import { parseNotaryList, runNotary } from '../helpers/notary-cli.ts';
import { createRootCertificate } from '../../src/crypto/x509.ts';
import { encodePem } from '../../src/crypto/pem.ts';
import { rootCertificateKey } from '../../src/tuf/certs.ts';
import { fileMetaOf } from '../../src/tuf/verify.ts';
import { parseMetadata } from '../../src/tuf/metadata.ts';
import { vouchClient, type VouchClient } from './helpers.ts';

const clients: VouchClient[] = [];
const peers = notaryHarnessForFile(async () => {
  for (const c of clients) await c.close();
});
const { skip } = peers;

function client(gun: string, name: string, extra: Partial<Parameters<typeof vouchClient>[0]> = {}): VouchClient {
  const trustDir = join(peers.harness.newDir(name), 'trust');
  mkdirSync(trustDir, { recursive: true });
  const c = vouchClient({ url: peers.harness.url, caFile: peers.harness.caFile, gun, trustDir, ...extra });
  clients.push(c);
  return c;
}

async function notaryList(gun: string): Promise<string[][]> {
  const trustDir = join(peers.harness.newDir('notary-reader'), 'trust');
  const r = await runNotary(['list', gun], { trustDir, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0 });
  return parseNotaryList(r.stdout).map((row) => [row.name, row.role]);
}

const meta = (s: string) => fileMetaOf(Buffer.from(s));

async function cachedVersion(c: VouchClient, role: string): Promise<number> {
  const bytes = await c.repo.ctx.cache.read(role);
  assert.ok(bytes, `${role} is not cached`);
  return parseMetadata(role, bytes).signed.version;
}

test('witness brings back a delegation whose signing key was replaced (E5)', { skip }, async () => {
  const gun = 'example.com/workflow/witness';
  const owner = client(gun, 'owner');
  await owner.repo.initialize({ serverManagedSnapshot: true });
  const d1 = await owner.repo.ctx.keys.createKey('targets/releases', undefined);
  await owner.repo.addDelegation('targets/releases', [d1.publicKey], ['']);
  await owner.repo.publish();
  await owner.repo.addTarget('rel', meta('release'), ['targets/releases']);
  await owner.repo.publish();
  assert.deepEqual(await notaryList(gun), [['rel', 'targets/releases']]);
  // d1 is lost: the owner replaces it with d2; the releases file is still signed by d1 only.
  // (New key first: removing a role's last key deletes the role, as in notary.)
  const d2 = await owner.repo.ctx.keys.createKey('targets/releases', undefined);
  await owner.repo.addDelegation('targets/releases', [d2.publicKey], []);
  await owner.repo.removeDelegationKeysAndPaths('targets/releases', [d1.publicKey.id], []);
  await owner.repo.publish();
  const reader = client(gun, 'reader');
  assert.deepEqual((await reader.repo.listTargets()).map((t) => t.name), []);
  assert.deepEqual(reader.log.lines.filter((l) => l.level === 'warn').map((l) => l.message), ['Error getting targets/releases: valid signatures did not meet threshold for targets/releases']);
  // The holder of d2 witnesses the role: same content, now signed by d2.
  assert.deepEqual(await owner.repo.witness(['targets/releases']), ['targets/releases']);
  const res = await owner.repo.publish();
  assert.ok(res.uploaded.includes('targets/releases'));
  assert.deepEqual((await reader.repo.listTargets()).map((t) => t.name), ['rel']);
  assert.deepEqual(await notaryList(gun), [['rel', 'targets/releases']]);
});

test('a delegation removed by one publish and recreated by a later one continues above the versions the server holds', { skip }, async () => {
  const gun = 'example.com/workflow/recreate';
  const owner = client(gun, 'owner');
  await owner.repo.initialize({ serverManagedSnapshot: true });
  const d1 = await owner.repo.ctx.keys.createKey('targets/releases', undefined);
  await owner.repo.addDelegation('targets/releases', [d1.publicKey], ['']);
  await owner.repo.addTarget('rel1', meta('1'), ['targets/releases']);
  await owner.repo.publish();
  await owner.repo.addTarget('rel2', meta('2'), ['targets/releases']);
  await owner.repo.publish();
  await owner.repo.removeDelegationRole('targets/releases');
  await owner.repo.publish();
  const reader = client(gun, 'reader');
  assert.deepEqual(await reader.repo.listTargets(), []);
  // notary-server still holds targets/releases versions 1 and 2 and refuses to store either again.
  await owner.repo.addDelegation('targets/releases', [d1.publicKey], ['']);
  await owner.repo.addTarget('rel3', meta('3'), ['targets/releases']);
  const res = await owner.repo.publish();
  assert.ok(res.uploaded.includes('targets/releases'));
  assert.ok(owner.log.lines.some((l) => l.message === 'targets/releases was removed earlier; the server holds it up to version 2, so it continues from there'));
  assert.deepEqual((await reader.repo.listTargets()).map((t) => [t.name, t.role]), [['rel3', 'targets/releases']]);
  assert.equal(await cachedVersion(reader, 'targets/releases'), 3);
  assert.deepEqual(await notaryList(gun), [['rel3', 'targets/releases']]);
  // A role created for the first time costs one by-version probe and keeps version 1.
  await owner.repo.addDelegation('targets/qa', [d1.publicKey], ['']);
  await owner.repo.addTarget('qa1', meta('q'), ['targets/qa']);
  await owner.repo.publish();
  assert.deepEqual((await reader.repo.listTargets(['targets/qa'])).map((t) => t.name), ['qa1']);
  assert.equal(await cachedVersion(reader, 'targets/qa'), 1);
});

test('an m-of-n delegation (--threshold 2) publishes when both keys sign; notary honours it', { skip }, async () => {
  const gun = 'example.com/workflow/threshold';
  const owner = client(gun, 'owner2');
  await owner.repo.initialize({ serverManagedSnapshot: true });
  const k1 = await owner.repo.ctx.keys.createKey('targets/qa', undefined);
  const k2 = await owner.repo.ctx.keys.createKey('targets/qa', undefined);
  await owner.repo.addDelegation('targets/qa', [k1.publicKey, k2.publicKey], [''], 2);
  await owner.repo.addTarget('qa-build', meta('qa'), ['targets/qa']);
  await owner.repo.publish();
  const qa = (await owner.repo.update()).collection.targets.get('targets/qa' as never);
  assert.equal(qa?.signatures.length, 2);
  assert.deepEqual((await owner.repo.getDelegationRoles()).map((d) => [d.name, d.threshold, d.keyIds.length]), [['targets/qa', 2, 2]]);
  assert.deepEqual(await notaryList(gun), [['qa-build', 'targets/qa']]);
  // A base-role threshold above the number of keys is refused before anything is sent.
  await owner.repo.setThreshold('targets', 2);
  await assert.rejects(owner.repo.publish(), { message: 'role targets has fewer keys than its threshold of 2; it would not be usable until keys are added to it' });
  assert.equal((await owner.repo.status()).length, 1);
  await owner.repo.changelist.clear();
});

test('delete --remote removes the server\'s data and the local cache, keeping the keys', { skip }, async () => {
  const gun = 'example.com/workflow/delete';
  const c = client(gun, 'del');
  await c.repo.initialize();
  await c.repo.addTarget('x', meta('x'));
  await c.repo.publish();
  const keysBefore = c.store.list().keys.length;
  await c.repo.deleteTrustData({ remote: true });
  assert.equal(c.store.list().keys.length, keysBefore);
  const reader = client(gun, 'del-reader');
  await assert.rejects(reader.repo.listTargets(), { code: 'REPOSITORY_NOT_EXIST', message: `${new URL(peers.harness.url).host} does not have trust data for ${gun}` });
});

test('init with a supplied root key and certificate (--rootkey/--rootcert workflow)', { skip }, async () => {
  const gun = 'example.com/workflow/rootcert';
  const c = client(gun, 'rootcert');
  const priv = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const info = await c.store.add(priv, { role: 'root' });
  const cert = rootCertificateKey(createRootCertificate({ gun, privateKey: priv, now: new Date() }));
  const res = await c.repo.initialize({ rootCertificates: [cert] });
  assert.deepEqual(res.rootKeyIds, [info.keyId]);
  await c.repo.publish();
  const root = (await c.repo.update()).collection.root!;
  assert.deepEqual(root.signed.roles.get('root')?.keyIds, [cert.id]);
  // A certificate whose key is not held is refused with notary's reason.
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const foreign = rootCertificateKey(createRootCertificate({ gun, privateKey: other, now: new Date() }));
  await assert.rejects(c.repo.initialize({ rootCertificates: [foreign] }), { message: 'error initializing repository with certificate: cannot find matching private key id' });
});

test('trust pinning: pinned certificate IDs, a pinned CA, and disable_tofu', { skip }, async () => {
  const gun = 'example.com/workflow/pinning';
  const owner = client(gun, 'pin-owner');
  await owner.repo.initialize();
  await owner.repo.addTarget('x', meta('x'));
  await owner.repo.publish();
  const rootCertId = (await owner.repo.update()).collection.root!.signed.roles.get('root')!.keyIds[0]!;
  const ok = client(gun, 'pin-ok', { pinning: { certs: { [gun]: [rootCertId] } } });
  assert.deepEqual((await ok.repo.listTargets()).map((t) => t.name), ['x']);
  const wrong = client(gun, 'pin-wrong', { pinning: { certs: { 'example.com/workflow/*': ['0'.repeat(64)] } } });
  await assert.rejects(wrong.repo.listTargets(), { code: 'ROOT_UNTRUSTED', message: 'could not validate the path to a trusted root: unable to match any certificates to trust_pinning config' });
  const caKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const caPem = encodePem({ type: 'CERTIFICATE', bytes: createRootCertificate({ gun: 'Unrelated CA', privateKey: caKey, now: new Date() }) });
  const ca = client(gun, 'pin-ca', { pinning: { ca: { 'example.com/': caPem } } });
  await assert.rejects(ca.repo.listTargets(), { code: 'ROOT_UNTRUSTED' });
  const noTofu = client(gun, 'pin-notofu', { pinning: { disableTofu: true } });
  await assert.rejects(noTofu.repo.listTargets(), { code: 'ROOT_UNTRUSTED', message: 'could not validate the path to a trusted root: invalid trust pinning specified' });
  // Once a root is cached, it is the pin: disable_tofu no longer matters.
  const cached = client(gun, 'pin-cached');
  await cached.repo.listTargets();
  const later = vouchClient({ url: peers.harness.url, caFile: peers.harness.caFile, gun, trustDir: cached.trustDir, pinning: { disableTofu: true } });
  clients.push(later);
  assert.deepEqual((await later.repo.listTargets()).map((t) => t.name), ['x']);
});

test('key rotations: snapshot to the server and back, targets, root with --legacy, timestamp', { skip }, async () => {
  const gun = 'example.com/workflow/rotate';
  const c = client(gun, 'rotate');
  await c.repo.initialize();
  await c.repo.addTarget('a', meta('a'));
  await c.repo.publish();
  const rolesOf = async () => (await c.repo.update()).collection.root!.signed;
  const before = await rolesOf();
  await c.repo.rotateKey('snapshot', { serverManaged: true });
  await c.repo.addTarget('b', meta('b'));
  const res = await c.repo.publish();
  assert.ok(!res.uploaded.includes('snapshot')); // the server signs it now
  await c.repo.rotateKey('snapshot');
  await c.repo.rotateKey('targets');
  // Root K1 → K2: signed by K2 and K1. Then K2 → K3 with --legacy: K3, K2, and K1 from the older
  // root versions, so clients that still trust K1 only can follow.
  await c.repo.rotateKey('root');
  assert.equal((await c.repo.update()).collection.root!.signatures.length, 2);
  const versionBefore = (await c.repo.update()).collection.root!.signed.version;
  await c.repo.rotateKey('root', { legacyVersions: versionBefore });
  const rotated = (await c.repo.update()).collection.root!;
  assert.equal(rotated.signed.version, versionBefore + 1);
  assert.equal(rotated.signatures.length, 3);
  await c.repo.rotateKey('root');
  assert.equal((await c.repo.update()).collection.root!.signatures.length, 2);
  await c.repo.rotateKey('timestamp', { serverManaged: true });
  const after = await rolesOf();
  for (const role of ['root', 'targets', 'snapshot', 'timestamp']) assert.notDeepEqual(after.roles.get(role)?.keyIds, before.roles.get(role)?.keyIds, role);
  assert.ok(after.keys.has(before.roles.get('root')!.keyIds[0]!));
  await assert.rejects(c.repo.rotateKey('timestamp'), { message: 'notary does not permit the client managing the timestamp key' });
  await assert.rejects(c.repo.rotateKey('targets', { serverManaged: true }), { message: 'notary does not permit the server managing the targets key' });
  await assert.rejects(c.repo.rotateKey('targets/releases'), { message: 'notary does not currently permit rotating the targets/releases key' });
  assert.deepEqual(await notaryList(gun), [['a', 'targets'], ['b', 'targets']]);
});

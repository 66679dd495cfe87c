// Migration of the notary 0.1 and 0.3 fixture key layouts to private/<id>.key (vector 11), and
// its safety rules: idempotent, never over a different file, unmigratable files left in place.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePemBlocks } from '../../src/crypto/pem.ts';
import { KeyFileStore } from '../../src/keystore/file-store.ts';
import { constantRetriever } from '../../src/keystore/passphrase.ts';
import { FIXTURES, copyFixture, snapshotDir } from './helpers.ts';

const ID01 = {
  root: 'd0c623c8e70c70d42a8a8125c44a8598588b3f6e31d5c21a83cbc338dfde8a68',
  targets: '7fc757801b9bab4ec9e35bfe7a6b61668ff6f4c81b5632af19e6c728ab799599',
  snapshot: 'a55ccf652b0be4b6c4d356cbb02d9ea432bb84a2571665be3df7c7396af8e8b8',
};
const ID03 = {
  root: 'f4eaf871a74aa3b3a0ff95cef2455a1e4d461639f5625418e76756fc5c948690',
  targets: '041b64dab281324ef2b62fd2d04f4758269e120ff063b7bc78709272821a0a02',
  snapshot: '85559599cf3cf681ff193f432a7ca6d128182bd1cfa8ede2c70761deac8bc2dc',
  releases: 'fa842f66cac2dc898677a8660789dcff0e3b0b93b73f8952491f6493199936d3',
};

void describe('legacy layout migration', () => {
  void test('notary 0.1: role from the file name, GUN from the directory; keys unlock with randompass (vector 11)', async () => {
    const trust = copyFixture('notary0.1');
    const store = KeyFileStore.open(trust, { retriever: constantRetriever('randompass') });
    assert.deepEqual(store.migration.problems, []);
    assert.equal(store.migration.migrated.length, 3);
    const listing = store.list();
    assert.deepEqual(listing.problems, []);
    assert.deepEqual(listing.keys.map((k) => [k.role, k.gun, k.keyId]).sort(), [
      ['root', '', ID01.root],
      ['snapshot', 'docker.com/notary0.1/samplerepo', ID01.snapshot],
      ['targets', 'docker.com/notary0.1/samplerepo', ID01.targets],
    ]);
    assert.equal(existsSync(join(trust, 'private', 'root_keys')), false);
    assert.equal(existsSync(join(trust, 'private', 'tuf_keys')), false);
    assert.equal(existsSync(join(trust, 'trusted_certificates')), true, '0.7 neither reads nor deletes the top-level directory');
    const rootFile = readFileSync(join(trust, 'private', `${ID01.root}.key`), 'utf8');
    const original = decodePemBlocks(readFileSync(join(FIXTURES, 'notary0.1/private/root_keys', `${ID01.root}_root.key`), 'utf8'))[0]!;
    const migrated = decodePemBlocks(rootFile)[0]!;
    assert.deepEqual(migrated.bytes, original.bytes, 'the key bytes are moved, not re-encrypted');
    assert.ok(rootFile.startsWith('-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,dac5836ee6baf54197daba876c3d84cb\nrole: root\n\n'));
    assert.equal(statSync(join(trust, 'private', `${ID01.root}.key`)).mode & 0o777, 0o600);
    for (const id of Object.values(ID01)) assert.equal((await store.signer(id)).keyId, id);
  });

  void test('notary 0.3: headers kept, GUN from tuf_keys/<gun>/, none for tuf_keys/<id>; keys unlock with "password"', async () => {
    const trust = copyFixture('notary0.3');
    const store = KeyFileStore.open(trust, { retriever: constantRetriever('password') });
    const { keys, problems } = store.list();
    assert.deepEqual(problems, []);
    assert.deepEqual(keys.map((k) => [k.role, k.gun, k.keyId]).sort(), [
      ['root', '', ID03.root],
      ['snapshot', 'docker.com/notary0.3/tst', ID03.snapshot],
      ['targets', 'docker.com/notary0.3/tst', ID03.targets],
      ['targets/releases', '', ID03.releases],
    ]);
    for (const id of Object.values(ID03)) assert.equal((await store.signer(id)).keyId, id);
  });

  void test('opening again changes nothing', () => {
    const trust = copyFixture('notary0.3');
    KeyFileStore.open(trust, { retriever: constantRetriever('password') });
    const once = snapshotDir(trust);
    const again = KeyFileStore.open(trust, { retriever: constantRetriever('password') });
    assert.deepEqual(again.migration, { migrated: [], problems: [] });
    assert.deepEqual(snapshotDir(trust), once);
  });

  void test('an interrupted migration (identical copy already in place) completes', () => {
    const trust = copyFixture('notary0.1');
    const reference = copyFixture('notary0.1');
    KeyFileStore.open(reference, { retriever: constantRetriever('x') });
    const done = readFileSync(join(reference, 'private', `${ID01.root}.key`));
    writeFileSync(join(trust, 'private', `${ID01.root}.key`), done, { mode: 0o600 });
    const store = KeyFileStore.open(trust, { retriever: constantRetriever('x') });
    assert.deepEqual(store.migration.problems, []);
    assert.deepEqual(snapshotDir(join(trust, 'private')), snapshotDir(join(reference, 'private')));
  });

  void test('a different file under the same ID is not overwritten: the legacy file stays and is reported', () => {
    const trust = copyFixture('notary0.1');
    const existing = join(trust, 'private', `${ID01.root}.key`);
    writeFileSync(existing, 'something else\n', { mode: 0o600 });
    const store = KeyFileStore.open(trust, { retriever: constantRetriever('x') });
    assert.equal(readFileSync(existing, 'utf8'), 'something else\n');
    const legacy = join(trust, 'private', 'root_keys', `${ID01.root}_root.key`);
    assert.equal(existsSync(legacy), true);
    assert.deepEqual(store.migration.problems, [{ path: legacy, message: `${existing} already exists with different contents; left in place` }]);
    assert.equal(existsSync(join(trust, 'private', 'tuf_keys')), false, 'the other keys were migrated');
  });

  void test('a legacy file that is not a key stays where it is, and private/trusted_certificates is removed', () => {
    const trust = copyFixture('notary0.3');
    const junk = join(trust, 'private', 'tuf_keys', 'junk.key');
    writeFileSync(junk, 'not pem');
    mkdirSync(join(trust, 'private', 'trusted_certificates', 'x'), { recursive: true });
    const store = KeyFileStore.open(trust, { retriever: constantRetriever('x') });
    assert.deepEqual(store.migration.problems, [{ path: junk, message: 'not a private key PEM file; left in place' }]);
    assert.equal(existsSync(junk), true);
    assert.equal(existsSync(join(trust, 'private', 'tuf_keys', 'docker.com')), false);
    assert.equal(existsSync(join(trust, 'private', 'trusted_certificates')), false);
    assert.equal(store.list().keys.length, 4);
  });
});

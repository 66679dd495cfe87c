// Export bundles and imports (docs/formats.md §10.6) and docker's key load: exact bundle bytes,
// byte-identical round trips, notary's header rules, and all-or-nothing refusals.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { decodePemBlocks, encodePem } from '../../src/crypto/pem.ts';
import { writeEncryptedPrivateKeyPem } from '../../src/crypto/private-key-pem.ts';
import { generateKey } from '../../src/crypto/private-keys.ts';
import { exportKeys, importKeys, loadPrivateKeyFile } from '../../src/keystore/bundle.ts';
import { KeyFileStore } from '../../src/keystore/file-store.ts';
import { constantRetriever, envRetriever, type PassphraseRetriever } from '../../src/keystore/passphrase.ts';
import { publicKeyFromPrivate } from '../../src/tuf/keys.ts';
import { TEST_ITERATIONS, VECTOR10_ID, VECTOR10_PASSPHRASE, VECTOR10_PEM, snapshotDir, tempDir } from './helpers.ts';

const PASS = constantRetriever('bundle-pass');

function newStore(retriever: PassphraseRetriever = PASS): KeyFileStore {
  return KeyFileStore.open(tempDir(), { retriever, iterations: TEST_ITERATIONS });
}

function opensslEcKey(): string {
  const r = spawnSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function withHeaders(pem: string, headers: Record<string, string>): string {
  const [block] = decodePemBlocks(pem);
  return encodePem({ type: block!.type, headers: { ...block!.headers, ...headers }, bytes: block!.bytes });
}

void describe('export', () => {
  void test('each stored block with a path header, in file-name order, byte-compatible with notary', async () => {
    const store = newStore();
    const a = await store.generate('targets', { gun: 'example.com/a' });
    const b = await store.generate('root');
    const bundle = exportKeys(store);
    const expected = [a.info, b.info].sort((x, y) => (x.keyId < y.keyId ? -1 : 1))
      .map((k) => readFileSync(k.path, 'utf8').replace(k.role === 'root' ? 'role: root' : 'role: targets',
        `path: ${k.keyId}\n${k.role === 'root' ? 'role: root' : 'role: targets'}`)).join('');
    assert.equal(bundle, expected);
    assert.match(exportKeys(store, { guns: ['example.com/a'] }), new RegExp(`^-----BEGIN ENCRYPTED PRIVATE KEY-----\ngun: example.com/a\npath: ${a.info.keyId}\nrole: targets\n\n`));
    assert.equal(exportKeys(store, { keyIds: [b.info.keyId] }), readFileSync(b.info.path, 'utf8').replace('role: root', `path: ${b.info.keyId}\nrole: root`));
    assert.throws(() => exportKeys(store, { keyIds: [b.info.keyId], guns: ['x'] }),
      { code: 'INVALID_ARGUMENT', message: 'Only the --gun or --key flag may be provided, not a mix of the two flags' });
    assert.throws(() => exportKeys(store, { keyIds: ['ab'.repeat(32)] }), { code: 'KEY_NOT_FOUND' });
  });
});

void describe('import', () => {
  void test('an export imports into an empty store as byte-identical files', async () => {
    const from = newStore();
    const keys = [await from.generate('root'), await from.generate('snapshot', { gun: 'example.com/a' }), await from.generate('alice')];
    const to = newStore();
    const result = await importKeys(to, [{ name: 'bundle.pem', text: exportKeys(from) }], {}, PASS);
    assert.equal(result.imported.length, 3);
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(snapshotDir(to.privateDir), snapshotDir(from.privateDir));
    for (const k of keys) assert.equal((await to.signer(k.info.keyId)).keyId, k.info.keyId);
  });

  void test('an unencrypted key gets --role, a GUN only if it is a targets/snapshot/timestamp key, and a new passphrase', async () => {
    const store = newStore();
    const pem = opensslEcKey();
    const asked: string[] = [];
    const retriever: PassphraseRetriever = (r) => {
      asked.push(`${r.alias}:${String(r.createNew)}`);
      return Promise.resolve({ passphrase: 'new-pass-123', giveUp: false });
    };
    const { imported } = await importKeys(store, [{ name: 'k.pem', text: pem }], { role: 'targets/releases', gun: 'example.com/a' }, retriever);
    assert.equal(imported.length, 1);
    const info = imported[0]!;
    assert.deepEqual([info.role, info.gun], ['targets/releases', '']);
    assert.deepEqual(asked, ['targets/releases:true']);
    const [block] = decodePemBlocks(readFileSync(info.path, 'utf8'));
    assert.equal(block?.type, 'ENCRYPTED PRIVATE KEY');
    assert.deepEqual(block?.headers, { role: 'targets/releases' });
    const second = await importKeys(newStore(), [{ name: 'k.pem', text: pem }], { role: 'targets', gun: 'example.com/a' }, retriever);
    assert.equal(second.imported[0]?.gun, 'example.com/a');
    const third = await importKeys(newStore(), [{ name: 'k.pem', text: pem }], {}, retriever);
    assert.equal(third.imported[0]?.role, 'delegation', "notary's default role");
  });

  void test('RSA: a 2048-bit key imports and signs (rsapss); a 1024-bit key is refused', async () => {
    const rsa = (bits: number): string => {
      const r = spawnSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits}`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    const store = newStore();
    const { imported } = await importKeys(store, [{ name: 'rsa.pem', text: rsa(2048) }], { role: 'targets/releases' }, PASS);
    const signer = await store.signer(imported[0]!.keyId);
    assert.equal(signer.publicKey.keyType, 'rsa');
    assert.equal((await signer.sign(Buffer.from('x'))).method, 'rsapss');
    const before = snapshotDir(store.trustDir);
    await assert.rejects(importKeys(store, [{ name: 'short.pem', text: rsa(1024) }], { role: 'alice' }, PASS),
      { code: 'IMPORT_FAILED', message: 'failed to import all keys: short.pem: RSA keys must be at least 2048 bits, this one has 1024' });
    assert.deepEqual(snapshotDir(store.trustDir), before);
  });

  void test('legacy path headers: tuf_keys/<gun>/<id>_<role> gives the GUN and role', async () => {
    const key = generateKey('ecdsa');
    const id = publicKeyFromPrivate(key).id;
    const text = writeEncryptedPrivateKeyPem(key, 'legacy-pass', { role: 'x', path: `tuf_keys/example.com/old/${id}_targets` }, { iterations: TEST_ITERATIONS })
      .replace('role: x\n', '');
    const store = newStore(constantRetriever('legacy-pass'));
    const { imported } = await importKeys(store, [{ name: 'old.pem', text }], {}, constantRetriever('legacy-pass'));
    assert.deepEqual(imported.map((k) => [k.keyId, k.role, k.gun]), [[id, 'targets', 'example.com/old']]);
  });

  void test('refusals: every problem is reported and nothing is written', async () => {
    const store = newStore(constantRetriever(VECTOR10_PASSPHRASE));
    const good = withHeaders(VECTOR10_PEM, { path: VECTOR10_ID });
    const other = 'ab'.repeat(32);
    const cases: [string, string][] = [
      [VECTOR10_PEM, 'invalid key pem block (an encrypted key needs a path header naming its key ID)'],
      [withHeaders(VECTOR10_PEM, { path: other }), `path header names key ${other}, but the block holds key ${VECTOR10_ID}`],
      [withHeaders(opensslEcKey(), { role: 'targets' }), 'invalid key pem block (a targets key needs a GUN: use --gun)'],
      [readFileSync('test/fixtures/certs/leaf.pem', 'utf8'), 'invalid key pem block ("CERTIFICATE" is not a private key)'],
      [good.slice(0, 150), 'PEM block ENCRYPTED PRIVATE KEY has no END line'],
      [withHeaders(VECTOR10_PEM, { path: 'not-an-id' }), 'invalid key pem block (path header "not-an-id" is not a key ID)'],
    ];
    const before = snapshotDir(store.trustDir);
    for (const [text, reason] of cases) {
      await assert.rejects(importKeys(store, [{ name: 'good.pem', text: good }, { name: 'bad.pem', text }], {}, constantRetriever(VECTOR10_PASSPHRASE)),
        { code: 'IMPORT_FAILED', message: `failed to import all keys: bad.pem: ${reason}` });
      assert.deepEqual(snapshotDir(store.trustDir), before, reason);
    }
    await assert.rejects(importKeys(store, [{ name: 'good.pem', text: good }], {}, envRetriever({ NOTARY_ROOT_PASSPHRASE: 'wrong' }, 'notary')),
      { message: 'failed to import all keys: good.pem: password invalid, operation has failed.' });
    assert.deepEqual(snapshotDir(store.trustDir), before);
  });

  void test('an existing key file is kept and reported as skipped', async () => {
    const store = newStore();
    const { info } = await store.generate('root');
    const before = snapshotDir(store.trustDir);
    const reencrypted = withHeaders(await store.encryptedCopy(info.keyId, 'another-pass').then((b) => b.toString('utf8')), { path: info.keyId });
    const result = await importKeys(store, [{ name: 'x.pem', text: reencrypted }], {}, constantRetriever('another-pass'));
    assert.deepEqual(result.imported, []);
    assert.deepEqual(result.skipped, [{ keyId: info.keyId, reason: 'already in the key store; the existing file was kept' }]);
    assert.deepEqual(snapshotDir(store.trustDir), before);
  });

  void test('a write failure part-way removes what this import wrote', async () => {
    let writes = 0;
    const dir = tempDir();
    const store = KeyFileStore.open(dir, {
      retriever: PASS, iterations: TEST_ITERATIONS,
      write: (fd, bytes) => {
        if (++writes === 2) throw Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
        writeFileSync(fd, bytes);
      },
    });
    const from = newStore();
    await from.generate('root');
    await from.generate('alice');
    await assert.rejects(importKeys(store, [{ name: 'b.pem', text: exportKeys(from) }], {}, PASS), { code: 'WRITE_FAILED' });
    assert.deepEqual(readdirSync(store.privateDir), []);
  });
});

void describe("docker's key load", () => {
  void test('unencrypted and encrypted keys are stored under the given name with a new passphrase', async () => {
    const store = newStore(envRetriever({ DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: 'repo-pass' }, 'docker'));
    const plain = await loadPrivateKeyFile(store, opensslEcKey(), 'plain.pem', 'bob', PASS);
    assert.deepEqual([plain.role, plain.gun], ['bob', '']);
    const key = generateKey('ecdsa');
    const encrypted = writeEncryptedPrivateKeyPem(key, 'file-pass-1', { role: 'whatever' }, { iterations: TEST_ITERATIONS });
    const asked: string[] = [];
    const retriever: PassphraseRetriever = (r) => {
      asked.push(r.alias);
      return Promise.resolve({ passphrase: 'file-pass-1', giveUp: false });
    };
    const loaded = await loadPrivateKeyFile(store, encrypted, 'enc.pem', 'carol', retriever);
    assert.deepEqual(asked, ['encrypted'], "docker's alias for the passphrase of a file being loaded");
    assert.equal(loaded.keyId, publicKeyFromPrivate(key).id);
    assert.equal(loaded.role, 'carol');
    assert.equal((await store.signer(loaded.keyId)).keyId, loaded.keyId, 're-encrypted with the store passphrase');
  });

  void test("docker's refusals: not a private key; cannot decrypt", async () => {
    const store = newStore();
    const before = snapshotDir(store.trustDir);
    await assert.rejects(loadPrivateKeyFile(store, readFileSync('test/fixtures/certs/leaf.pem', 'utf8'), 'leaf.pem', 'bob', PASS), {
      message: "provided file leaf.pem is not a supported private key - to add a signer's public key use docker trust signer add",
    });
    await assert.rejects(loadPrivateKeyFile(store, VECTOR10_PEM, 'v10.pem', 'bob', envRetriever({ DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: 'nope' }, 'docker')), {
      message: 'cannot load key from provided file v10.pem: could not decrypt key',
    });
    assert.deepEqual(snapshotDir(store.trustDir), before);
  });
});

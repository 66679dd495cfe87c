// The key file store: notary's exact files (vector 10), modes, atomic no-clobber writes, signers,
// refusal of mismatched, damaged and unsupported key files with nothing changed on disk.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePemBlocks } from '../../src/crypto/pem.ts';
import { pkcs8Parameters, VOUCH_PBKDF2_ITERATIONS } from '../../src/crypto/pkcs8.ts';
import { KeyFileStore } from '../../src/keystore/file-store.ts';
import { constantRetriever, envRetriever } from '../../src/keystore/passphrase.ts';
import { canonicalKeyId, makePublicKey, verifySignature } from '../../src/tuf/keys.ts';
import {
  TEST_ITERATIONS, VECTOR10_ID, VECTOR10_PASSPHRASE, VECTOR10_PEM, VECTOR10_SPKI, snapshotDir, tempDir,
} from './helpers.ts';

const MESSAGE = Buffer.from('{"_type":"Targets","version":1}');

function storeWithVector10(): { dir: string; store: KeyFileStore } {
  const dir = tempDir();
  mkdirSync(join(dir, 'private'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'private', `${VECTOR10_ID}.key`), VECTOR10_PEM, { mode: 0o600 });
  return { dir, store: KeyFileStore.open(dir, { retriever: constantRetriever(VECTOR10_PASSPHRASE) }) };
}

function openssl(args: string[], input?: string): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8', input });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

void describe('reading notary key files', () => {
  void test('vector 10: listed by header, unlocked, named by its key ID, signs verifiably', async () => {
    const { dir, store } = storeWithVector10();
    const { keys, problems } = store.list();
    assert.deepEqual(problems, []);
    assert.deepEqual(keys, [{ keyId: VECTOR10_ID, role: 'root', gun: '', location: join(dir, 'private'), path: join(dir, 'private', `${VECTOR10_ID}.key`) }]);
    const signer = await store.signer(VECTOR10_ID);
    assert.equal(signer.keyId, VECTOR10_ID);
    const sig = await signer.sign(MESSAGE);
    assert.equal(sig.method, 'ecdsa');
    assert.equal(verifySignature(makePublicKey('ecdsa', Buffer.from(VECTOR10_SPKI, 'base64')), 'ecdsa', sig.sig, MESSAGE), true);
  });

  void test('a wrong passphrase: password invalid, nothing changed', async () => {
    const { dir } = storeWithVector10();
    const before = snapshotDir(dir);
    const store = KeyFileStore.open(dir, { retriever: envRetriever({ NOTARY_ROOT_PASSPHRASE: 'rootpass124' }, 'notary') });
    await assert.rejects(store.signer(VECTOR10_ID), { code: 'PASSWORD_INVALID', message: 'password invalid, operation has failed.' });
    assert.deepEqual(snapshotDir(dir), before);
  });

  void test('a file whose name is not its key ID is refused', async () => {
    const dir = tempDir();
    const other = 'ab'.repeat(32);
    mkdirSync(join(dir, 'private'), { recursive: true });
    writeFileSync(join(dir, 'private', `${other}.key`), VECTOR10_PEM, { mode: 0o600 });
    const before = snapshotDir(dir);
    const store = KeyFileStore.open(dir, { retriever: constantRetriever(VECTOR10_PASSPHRASE) });
    await assert.rejects(store.signer(other), {
      code: 'KEY_ID_MISMATCH',
      message: `key file ${join(dir, 'private', other + '.key')} holds key ${VECTOR10_ID}, not ${other}; refusing to use it`,
    });
    assert.deepEqual(snapshotDir(dir), before);
  });

  void test('truncated, corrupt and non-key PEM: clear errors, listed as problems, nothing changed', async () => {
    const dir = tempDir();
    const priv = join(dir, 'private');
    mkdirSync(priv, { recursive: true });
    const truncated = '11'.repeat(32);
    const corrupt = '22'.repeat(32);
    const cert = '33'.repeat(32);
    const shortDer = '44'.repeat(32);
    writeFileSync(join(priv, `${truncated}.key`), VECTOR10_PEM.slice(0, 200));
    writeFileSync(join(priv, `${corrupt}.key`), VECTOR10_PEM.replace('MIHuMEkG', 'MIHu!EkG'));
    writeFileSync(join(priv, `${cert}.key`), readFileSync('test/fixtures/certs/leaf.pem'));
    const lines = VECTOR10_PEM.split('\n');
    writeFileSync(join(priv, `${shortDer}.key`), [...lines.slice(0, 4), lines.at(-3), lines.at(-2), ''].join('\n'));
    const before = snapshotDir(dir);
    const store = KeyFileStore.open(dir, { retriever: constantRetriever(VECTOR10_PASSPHRASE) });
    const { keys, problems } = store.list();
    // Listing reads headers only: the file with a broken DER body is listed, and fails on use.
    assert.deepEqual(keys.map((k) => k.keyId), [shortDer]);
    assert.deepEqual(problems.map((p) => [p.path, p.message]), [
      [join(priv, `${truncated}.key`), `${join(priv, `${truncated}.key`)}: PEM block ENCRYPTED PRIVATE KEY has no END line`],
      [join(priv, `${corrupt}.key`), `${join(priv, `${corrupt}.key`)}: PEM block ENCRYPTED PRIVATE KEY has an invalid base64 body`],
      [join(priv, `${cert}.key`), `${join(priv, `${cert}.key`)}: unknown key format "CERTIFICATE"`],
    ]);
    await assert.rejects(store.signer(truncated), { code: 'INVALID_KEY_FILE' });
    await assert.rejects(store.signer(shortDer), (e: unknown) => (e as { code?: string }).code === 'INVALID_KEY_FILE'
      && (e as Error).message.startsWith(join(priv, `${shortDer}.key`) + ': '));
    assert.deepEqual(snapshotDir(dir), before);
  });

  void test('an unsupported algorithm (X25519 in PKCS#8, plain and encrypted) is refused by name', async () => {
    const dir = tempDir();
    const priv = join(dir, 'private');
    mkdirSync(priv, { recursive: true });
    const plain = openssl(['genpkey', '-algorithm', 'X25519']);
    const encrypted = openssl(['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-passout', 'pass:x25519pass'], plain);
    const a = '55'.repeat(32);
    const b = '66'.repeat(32);
    writeFileSync(join(priv, `${a}.key`), plain.replace('-----BEGIN PRIVATE KEY-----\n', '-----BEGIN PRIVATE KEY-----\nrole: alice\n\n'));
    writeFileSync(join(priv, `${b}.key`), encrypted.replace('-----BEGIN ENCRYPTED PRIVATE KEY-----\n', '-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: alice\n\n'));
    const before = snapshotDir(dir);
    const store = KeyFileStore.open(dir, { retriever: constantRetriever('x25519pass') });
    assert.equal(store.list().keys.length, 2);
    for (const id of [a, b]) {
      await assert.rejects(store.signer(id), {
        code: 'INVALID_KEY_FILE',
        message: `${join(priv, id + '.key')}: pkcs8: unsupported private key algorithm 1.3.101.110`,
      });
    }
    assert.deepEqual(snapshotDir(dir), before);
  });

  void test('a key directory that is a file: STORE_UNREADABLE with the cause', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'private'), 'not a directory');
    const store = KeyFileStore.open(dir, { retriever: constantRetriever('x') });
    assert.throws(() => store.list(), { code: 'STORE_UNREADABLE', message: `cannot read key store ${join(dir, 'private')}: not a directory` });
  });

  void test('symlinks, directories and odd names in private/ are not keys', () => {
    const { dir, store } = storeWithVector10();
    mkdirSync(join(dir, 'private', `${'77'.repeat(32)}.key`));
    writeFileSync(join(dir, 'private', 'notes.key'), VECTOR10_PEM);
    const { keys, problems } = store.list();
    assert.deepEqual(keys.map((k) => k.keyId), [VECTOR10_ID]);
    assert.deepEqual(problems.map((p) => p.message), ['file name is not <64 hex digit key ID>.key; ignored']);
  });
});

void describe('writing keys', () => {
  void test('generate: 0700 dirs, a 0600 notary PKCS#8 file with Vouch iterations and role header, a working signer', async () => {
    const dir = join(tempDir(), 'trust');
    const store = KeyFileStore.open(dir, { retriever: constantRetriever('generated-pass') });
    assert.equal(readdirSync(join(dir, '..')).length, 0, 'opening creates nothing');
    const { info, signer } = await store.generate('root', { gun: 'example.com/ignored' });
    assert.equal(info.role, 'root');
    assert.equal(info.gun, '', 'root keys carry no GUN');
    assert.equal(signer.keyId, info.keyId);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'private')).mode & 0o777, 0o700);
    assert.equal(statSync(info.path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(join(dir, 'private')), [`${info.keyId}.key`], 'no temporary files left');
    const [block] = decodePemBlocks(readFileSync(info.path, 'utf8'));
    assert.equal(block?.type, 'ENCRYPTED PRIVATE KEY');
    assert.deepEqual(block?.headers, { role: 'root' });
    const params = pkcs8Parameters(block.bytes);
    assert.equal(params.iterations, VOUCH_PBKDF2_ITERATIONS);
    assert.equal(params.cipher, 'aes-256-cbc');
    assert.equal(params.prf, 'sha1');
    assert.equal(params.salt.length, 8);
    const reopened = KeyFileStore.open(dir, { retriever: constantRetriever('generated-pass') });
    const again = await reopened.signer(info.keyId);
    const sig = await again.sign(MESSAGE);
    assert.equal(verifySignature(signer.publicKey, sig.method, sig.sig, MESSAGE), true);
  });

  void test('GUN headers: kept for targets, snapshot and timestamp only; ed25519 keys work', async () => {
    const store = KeyFileStore.open(tempDir(), { retriever: constantRetriever('p4ssphrase'), iterations: TEST_ITERATIONS });
    const t = await store.generate('targets', { gun: 'example.com/app' });
    const d = await store.generate('targets/releases', { gun: 'example.com/app', keyType: 'ed25519' });
    const s = await store.generate('alice', { gun: 'example.com/app' });
    assert.deepEqual([t.info.gun, d.info.gun, s.info.gun], ['example.com/app', '', '']);
    assert.match(readFileSync(t.info.path, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----\ngun: example.com\/app\nrole: targets\n\n/);
    assert.equal(d.signer.publicKey.keyType, 'ed25519');
    const fresh = KeyFileStore.open(store.trustDir, { retriever: constantRetriever('p4ssphrase') });
    const sig = await (await fresh.signer(d.info.keyId)).sign(MESSAGE);
    assert.equal(sig.method, 'eddsa');
    assert.equal(verifySignature(d.signer.publicKey, 'eddsa', sig.sig, MESSAGE), true);
  });

  void test('invalid roles and GUNs are refused before anything is written', async () => {
    const dir = tempDir();
    const store = KeyFileStore.open(dir, { retriever: constantRetriever('p4ssphrase'), iterations: TEST_ITERATIONS });
    for (const role of ['', 'a b', 'role\nx: y', 'targets/', '/x']) {
      await assert.rejects(store.generate(role), { code: 'INVALID_ROLE' }, JSON.stringify(role));
    }
    await assert.rejects(store.generate('targets', { gun: 'bad gun' }), { code: 'INVALID_ROLE' });
    assert.deepEqual(snapshotDir(dir), {});
  });

  void test('an existing key is never overwritten', async () => {
    const { dir, store } = storeWithVector10();
    const key = readFileSync(join(dir, 'private', `${VECTOR10_ID}.key`));
    const before = snapshotDir(dir);
    await assert.rejects(store.changePassphrase(VECTOR10_ID, () => Promise.reject(new Error('boom'))), /boom/);
    assert.deepEqual(snapshotDir(dir), before);
    assert.throws(() => store.writeNew(VECTOR10_ID, Buffer.from('x')), { code: 'KEY_EXISTS' });
    assert.deepEqual(readFileSync(join(dir, 'private', `${VECTOR10_ID}.key`)), key);
    assert.deepEqual(snapshotDir(dir), before);
  });

  void test('a failing disk leaves no key and no temporary file', async () => {
    const dir = tempDir();
    const store = KeyFileStore.open(dir, {
      retriever: constantRetriever('p4ssphrase'), iterations: TEST_ITERATIONS,
      write: () => {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    });
    await assert.rejects(store.generate('root'), (e: unknown) => (e as { code?: string }).code === 'WRITE_FAILED'
      && /^cannot write .*\.key: no space left on device$/.test((e as Error).message));
    assert.deepEqual(readdirSync(join(dir, 'private')), []);
  });

  void test('passwd: re-encrypted in place with the same headers; the old passphrase stops working', async () => {
    const { dir, store } = storeWithVector10();
    const path = join(dir, 'private', `${VECTOR10_ID}.key`);
    const before = readFileSync(path, 'utf8');
    await store.changePassphrase(VECTOR10_ID, constantRetriever('a new passphrase'));
    const after = readFileSync(path, 'utf8');
    assert.notEqual(after, before);
    assert.deepEqual(decodePemBlocks(after)[0]?.headers, { role: 'root' });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const oldPass = KeyFileStore.open(dir, { retriever: envRetriever({ NOTARY_ROOT_PASSPHRASE: VECTOR10_PASSPHRASE }, 'notary') });
    await assert.rejects(oldPass.signer(VECTOR10_ID), { code: 'PASSWORD_INVALID' });
    const newPass = KeyFileStore.open(dir, { retriever: constantRetriever('a new passphrase') });
    assert.equal((await newPass.signer(VECTOR10_ID)).keyId, VECTOR10_ID);
  });

  void test('remove deletes exactly the key file; a missing key is KEY_NOT_FOUND with notary wording', () => {
    const { dir, store } = storeWithVector10();
    assert.equal(store.remove(VECTOR10_ID).keyId, VECTOR10_ID);
    assert.deepEqual(snapshotDir(dir), { 'private/': { mode: '700' } });
    assert.throws(() => store.get(VECTOR10_ID), { code: 'KEY_NOT_FOUND', message: `signing key not found: ${VECTOR10_ID}` });
  });

  void test('a root certificate key signs under the certificate key ID and files under the canonical ID', async () => {
    const { store } = storeWithVector10();
    const certKey = await store.rootCertificateKey(VECTOR10_ID, 'example.com/app', new Date('2026-01-01T00:00:00Z'));
    assert.equal(certKey.keyType, 'ecdsa-x509');
    assert.equal(canonicalKeyId(certKey), VECTOR10_ID);
    assert.notEqual(certKey.id, VECTOR10_ID);
    const signer = await store.signerFor(certKey);
    assert.equal(signer.keyId, certKey.id);
    const sig = await signer.sign(MESSAGE);
    assert.equal(verifySignature(certKey, sig.method, sig.sig, MESSAGE), true);
  });
});

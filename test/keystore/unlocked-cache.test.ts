// A key store with an unlocked-key cache (the agent's): a key unlocked once is handed to the cache
// and later unlocks without a passphrase; the cache is keyed by the key file's exact bytes, and a
// cache that fails or lies cannot make the store use a wrong key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeEncryptedPrivateKeyPem } from '../../src/crypto/private-key-pem.ts';
import { keyIdOfPrivate } from '../../src/keystore/key-file.ts';
import { generateKey } from '../../src/crypto/private-keys.ts';
import { hasCode } from '../../src/errors.ts';
import { KeyFileStore, type UnlockedKeyCache } from '../../src/keystore/file-store.ts';
import { constantRetriever, type PassphraseRetriever } from '../../src/keystore/passphrase.ts';
import { TEST_ITERATIONS, tempDir } from './helpers.ts';

const MESSAGE = Buffer.from('signed bytes');

class MemoryCache implements UnlockedKeyCache {
  readonly held = new Map<string, Uint8Array>();
  gets = 0;
  get(digest: string): Promise<Uint8Array | undefined> {
    this.gets++;
    return Promise.resolve(this.held.get(digest));
  }
  put(digest: string, pkcs8: Uint8Array): void {
    this.held.set(digest, pkcs8);
  }
}

function countingRetriever(passphrase: string): { retriever: PassphraseRetriever; asked: () => number } {
  let asked = 0;
  return {
    retriever: () => {
      asked++;
      return Promise.resolve({ passphrase, giveUp: false });
    },
    asked: () => asked,
  };
}

const refusing: PassphraseRetriever = () => Promise.reject(new Error('no passphrase may be asked for'));

async function storeWithKey(): Promise<{ dir: string; keyId: string; path: string }> {
  const dir = tempDir();
  const store = KeyFileStore.open(dir, { retriever: constantRetriever('targets passphrase'), iterations: TEST_ITERATIONS });
  const { info } = await store.generate('targets', { gun: 'example.com/app' });
  return { dir, keyId: info.keyId, path: info.path };
}

test('a key unlocked with its passphrase is handed to the cache, keyed by the file bytes, and used later without one', async () => {
  const { dir, keyId, path } = await storeWithKey();
  const cache = new MemoryCache();
  const first = countingRetriever('targets passphrase');
  const a = KeyFileStore.open(dir, { retriever: first.retriever, unlockedKeys: cache });
  const sigA = await (await a.signer(keyId)).sign(MESSAGE);
  assert.equal(first.asked(), 1);
  const digest = createHash('sha256').update(readFileSync(path)).digest('hex');
  assert.deepEqual([...cache.held.keys()], [digest]);

  const b = KeyFileStore.open(dir, { retriever: refusing, unlockedKeys: cache });
  const signer = await b.signer(keyId);
  assert.equal(signer.keyId, keyId);
  assert.equal(typeof (await signer.sign(MESSAGE)).sig, typeof sigA.sig);
});

test('a changed key file is a miss: the passphrase is asked for again', async () => {
  const { dir, keyId, path } = await storeWithKey();
  const cache = new MemoryCache();
  await KeyFileStore.open(dir, { retriever: constantRetriever('targets passphrase'), unlockedKeys: cache }).signer(keyId);
  // Same key, re-encrypted under another passphrase: other bytes.
  const store = KeyFileStore.open(dir, { retriever: constantRetriever('targets passphrase'), iterations: TEST_ITERATIONS });
  await store.changePassphrase(keyId, constantRetriever('another passphrase'));
  const again = countingRetriever('another passphrase');
  await KeyFileStore.open(dir, { retriever: again.retriever, unlockedKeys: cache }).signer(keyId);
  assert.equal(again.asked(), 1);
  assert.equal(cache.held.size, 2);
  assert.ok(cache.held.has(createHash('sha256').update(readFileSync(path)).digest('hex')));
});

test('a cache that fails, or holds junk, is a miss; one that holds another key is refused', async () => {
  const { dir, keyId, path } = await storeWithKey();
  const failing: UnlockedKeyCache = { get: () => Promise.reject(new Error('agent gone')), put: () => undefined };
  const asked = countingRetriever('targets passphrase');
  await KeyFileStore.open(dir, { retriever: asked.retriever, unlockedKeys: failing }).signer(keyId);
  assert.equal(asked.asked(), 1);

  const junk = new MemoryCache();
  const digest = createHash('sha256').update(readFileSync(path)).digest('hex');
  junk.held.set(digest, Buffer.from('not a key'));
  const asked2 = countingRetriever('targets passphrase');
  await KeyFileStore.open(dir, { retriever: asked2.retriever, unlockedKeys: junk }).signer(keyId);
  assert.equal(asked2.asked(), 1);

  const lying = new MemoryCache();
  lying.held.set(digest, generateKey('ecdsa').export({ format: 'der', type: 'pkcs8' }));
  await assert.rejects(KeyFileStore.open(dir, { retriever: refusing, unlockedKeys: lying }).signer(keyId), (e: unknown) => hasCode(e, 'KEY_ID_MISMATCH'));
});

test('an unencrypted key file never goes to the cache', async () => {
  const dir = tempDir();
  const key = generateKey('ecdsa');
  const keyId = keyIdOfPrivate(key);
  const path = join(dir, 'private', `${keyId}.key`);
  mkdirSync(join(dir, 'private'), { mode: 0o700 });
  writeFileSync(path, writeEncryptedPrivateKeyPem(key, '', { role: 'targets', gun: 'example.com/app' }), { mode: 0o600 });
  const cache = new MemoryCache();
  const signer = await KeyFileStore.open(dir, { retriever: refusing, unlockedKeys: cache }).signer(keyId);
  assert.equal(signer.keyId, keyId);
  assert.equal(cache.held.size, 0);
  assert.equal(cache.gets, 0);
});

test('prefetch takes keys from the cache even without passphrases in the environment', async () => {
  const { dir, keyId } = await storeWithKey();
  const cache = new MemoryCache();
  await KeyFileStore.open(dir, { retriever: constantRetriever('targets passphrase'), unlockedKeys: cache }).signer(keyId);
  const store = KeyFileStore.open(dir, { retriever: refusing, unlockedKeys: cache });
  store.prefetch([keyId]);
  const before = cache.gets;
  await store.signer(keyId);
  assert.equal(cache.gets, before, 'the signer came from the prefetch, not a second cache lookup');
});

// The embedded signing service (the trust server's default) and the server's TUF Signer over any
// SigningService (`ServerKeys.signerFor`, what the server signs snapshots and timestamps with):
// signatures it returns verify under src/tuf's rules for the listed key.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ServerError } from '../../src/server/errors.ts';
import { ServerKeys } from '../../src/server/signing.ts';
import { openEmbeddedSigningService, openMemorySigningService } from '../../src/signer/embedded.ts';
import { SignerError } from '../../src/signer/errors.ts';
import { envPassphrases } from '../../src/signer/key-crypto.ts';
import type { LocalSigningService } from '../../src/signer/local-service.ts';
import type { SigningService } from '../../src/signer/service.ts';
import { canonicalBytes } from '../../src/tuf/canonical.ts';
import { computeKeyId, makePublicKey, verifySignature } from '../../src/tuf/keys.ts';
import type { SignerPublicKey } from '../../src/signer/service.ts';

const signerOver = (service: SigningService, key: SignerPublicKey) =>
  new ServerKeys(service, 'ecdsa').signerFor(makePublicKey(key.algorithm, key.publicKey));

const ENV = { NOTARY_SIGNER_EMBEDDED: 'embedded-passphrase' };

void describe('embedded signing service and TUF signer adapter', () => {
  let dir: string;
  let service: LocalSigningService;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vouch-signer-embedded-'));
    service = await openEmbeddedSigningService({ storage: { backend: 'sqlite3', dbUrl: join(dir, 'keys.db') },
      defaultAlias: 'embedded', passphrases: envPassphrases(ENV) });
  });
  after(async () => {
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  void test('refuses to open without the default alias passphrase', async () => {
    await assert.rejects(openEmbeddedSigningService({ storage: { backend: 'sqlite3', dbUrl: join(dir, 'other.db') },
      defaultAlias: 'embedded', passphrases: envPassphrases({}) }),
    (e: unknown) => e instanceof SignerError && e.code === 'PASSPHRASE_UNAVAILABLE'
      && e.message === 'the passphrase for the default alias "embedded" is not set: export NOTARY_SIGNER_EMBEDDED');
    await assert.rejects(openEmbeddedSigningService({ storage: { backend: 'sqlite3', dbUrl: join(dir, 'no/such/dir/keys.db') },
      defaultAlias: 'embedded', passphrases: envPassphrases(ENV) }),
    (e: unknown) => e instanceof SignerError && e.code === 'STORAGE_UNAVAILABLE');
  });

  for (const algorithm of ['ecdsa', 'ed25519'] as const) {
    void test(`${algorithm}: signatures from the adapter verify for the listed key`, async () => {
      const key = await service.createKey({ algorithm, gun: 'example.com/embedded', role: 'timestamp' });
      const signer = signerOver(service, key);
      assert.equal(signer.keyId, key.keyId);
      assert.equal(signer.keyId, computeKeyId(algorithm, key.publicKey));
      const message = canonicalBytes({ _type: 'Timestamp', expires: '2030-01-01T00:00:00Z', meta: {}, version: 1 });
      const sig = await signer.sign(message);
      assert.equal(sig.method, algorithm === 'ecdsa' ? 'ecdsa' : 'eddsa');
      assert.equal(verifySignature(signer.publicKey, sig.method, sig.sig, message), true);
      assert.equal(verifySignature(signer.publicKey, sig.method, sig.sig, canonicalBytes({ other: 1 })), false);
    });
  }

  void test('a service answering with the wrong method is refused', async () => {
    const key = await service.createKey({ algorithm: 'ecdsa', gun: 'example.com/liar', role: 'snapshot' });
    const liar: SigningService = { ...service, createKey: (r) => service.createKey(r), getKeyInfo: (id) => service.getKeyInfo(id),
      deleteKey: (id) => service.deleteKey(id), close: () => Promise.resolve(),
      sign: async (id, m) => ({ ...(await service.sign(id, m)), method: 'eddsa' }) };
    await assert.rejects(signerOver(liar, key).sign(Buffer.from('x')),
      (e: unknown) => e instanceof ServerError && e.code === 'UNAVAILABLE'
        && e.message === `signing service: answered with method eddsa for ecdsa key ${key.keyId}`);
  });

  void test('the memory signing service (notary\'s local trust service) is the same service in memory', async () => {
    const memory = openMemorySigningService();
    try {
      const key = await memory.createKey({ algorithm: 'ed25519', gun: 'example.com/memory', role: 'timestamp' });
      assert.deepEqual(await memory.createKey({ algorithm: 'ed25519', gun: 'example.com/memory', role: 'timestamp' }), key,
        'an unused key is handed out again, as notary-signer does');
      const message = canonicalBytes({ _type: 'Timestamp', expires: '2030-01-01T00:00:00Z', meta: {}, version: 1 });
      const sig = await signerOver(memory, key).sign(message);
      assert.equal(verifySignature(makePublicKey('ed25519', key.publicKey), sig.method, sig.sig, message), true);
      await assert.rejects(memory.getKeyInfo('0'.repeat(64)), (e: unknown) => e instanceof SignerError && e.code === 'KEY_NOT_FOUND');
      await assert.rejects(memory.createKey({ algorithm: 'rsa', gun: 'example.com/memory', role: 'timestamp' }),
        (e: unknown) => e instanceof SignerError && e.code === 'UNSUPPORTED_ALGORITHM');
    } finally {
      await memory.close();
    }
  });
});

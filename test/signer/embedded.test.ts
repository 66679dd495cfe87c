// The embedded signing service (the trust server's default) and the TUF Signer adapter over any
// SigningService: signatures it returns verify under src/tuf's rules for the listed key.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { openEmbeddedSigningService } from '../../src/signer/embedded.ts';
import { SignerError } from '../../src/signer/errors.ts';
import { envPassphrases } from '../../src/signer/key-crypto.ts';
import type { LocalSigningService } from '../../src/signer/local-service.ts';
import type { SigningService } from '../../src/signer/service.ts';
import { signingServiceSigner } from '../../src/signer/tuf-signer.ts';
import { canonicalBytes } from '../../src/tuf/canonical.ts';
import { computeKeyId, verifySignature } from '../../src/tuf/keys.ts';

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
      const signer = signingServiceSigner(service, key);
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
    await assert.rejects(signingServiceSigner(liar, key).sign(Buffer.from('x')),
      (e: unknown) => e instanceof SignerError && e.code === 'SIGNING_FAILED');
  });
});

// Key encryption off the event loop: encryptPbes2JweAsync writes the same bytes as the
// synchronous encrypt (and as notary-signer: vector 23 reproduced from its own salt, IV and CEK),
// derives its key on libuv's thread pool, and the signing service stores new keys with it in
// notary's row format.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pbkdf2Sync } from 'node:crypto';

import {
  MAX_P2C, NOTARY_P2C, aesKeyUnwrap, decryptPbes2Jwe, encryptPbes2Jwe, encryptPbes2JweAsync, parseJweHeader,
} from '../../src/crypto/jwe.ts';
import { notaryPublicBytes, privateKeyFromNotaryBytes } from '../../src/crypto/private-keys.ts';
import { openDatabase } from '../../src/storage/database.ts';
import { migrateToLatest } from '../../src/storage/migrations.ts';
import { envPassphrases } from '../../src/signer/key-crypto.ts';
import { SqlKeyStore } from '../../src/signer/key-store.ts';
import { LocalSigningService } from '../../src/signer/local-service.ts';
import { SIGNER_COMPONENT, SIGNER_MIGRATIONS, type SignerTables } from '../../src/signer/schema.ts';
import { NOTARY_SIGNER_ROW } from './fixtures/notary-rows.ts';

void describe('encryptPbes2JweAsync', () => {
  void test('reproduces notary-signer\'s row byte for byte from its salt, IV and CEK, as the sync encrypt does', async () => {
    const row = NOTARY_SIGNER_ROW;
    const [, wrapped, iv] = row.private.split('.') as [string, string, string];
    const { p2s } = parseJweHeader(row.private);
    const kek = pbkdf2Sync(row.passphrase, Buffer.concat([Buffer.from('PBES2-HS256+A128KW\0', 'latin1'), p2s]), NOTARY_P2C, 16, 'sha256');
    const fixed = { salt: p2s, iv: Buffer.from(iv, 'base64url'), cek: aesKeyUnwrap(kek, Buffer.from(wrapped, 'base64url')) };
    const plain = decryptPbes2Jwe(row.private, row.passphrase);
    assert.equal(await encryptPbes2JweAsync(plain, row.passphrase, fixed), row.private);
    assert.equal(encryptPbes2Jwe(plain, row.passphrase, fixed), row.private);
  });

  void test('fresh randomness per call; round-trips through the sync decrypt', async () => {
    const a = await encryptPbes2JweAsync(Buffer.from('key bytes'), 'pw');
    const b = await encryptPbes2JweAsync(Buffer.from('key bytes'), 'pw');
    assert.notEqual(a.split('.')[0], b.split('.')[0]);
    assert.equal(parseJweHeader(a).p2c, NOTARY_P2C);
    assert.equal(parseJweHeader(a).p2s.length, 12);
    assert.equal(Buffer.from(decryptPbes2Jwe(a, 'pw')).toString(), 'key bytes');
  });

  void test('the key derivation runs off the event loop: callbacks queued behind it run before it ends', async () => {
    // A million iterations is a few hundred milliseconds of PBKDF2: run on the caller's thread, the
    // setImmediate below could only fire after the token exists.
    let ranFirst: boolean | undefined;
    setImmediate(() => { ranFirst ??= true; });
    await encryptPbes2JweAsync(Buffer.from('k'), 'pw', { iterations: MAX_P2C });
    ranFirst ??= false;
    assert.equal(ranFirst, true);
  });
});

void describe('LocalSigningService key creation', () => {
  void test('20 concurrent first keys are stored as notary rows that the sync decrypt opens', async () => {
    const database = openDatabase<SignerTables>({ backend: 'sqlite3', dbUrl: ':memory:' });
    try {
      await migrateToLatest(database, SIGNER_COMPONENT, SIGNER_MIGRATIONS);
      const service = new LocalSigningService({
        store: new SqlKeyStore(database), passphrases: envPassphrases({ NOTARY_SIGNER_ALPHA: 'alpha-passphrase' }), defaultAlias: 'alpha', ownsDatabase: false,
      });
      const created = await Promise.all(Array.from({ length: 20 }, (_, i) =>
        service.createKey({ algorithm: i % 2 === 0 ? 'ecdsa' : 'ed25519', gun: `example.com/concurrent/${i}`, role: 'timestamp' })));
      assert.equal(new Set(created.map((k) => k.keyId)).size, 20);
      for (const k of created) {
        const r = await database.db.selectFrom('private_keys').selectAll().where('key_id', '=', k.keyId).executeTakeFirstOrThrow();
        const jwe = r.private.toString('latin1');
        assert.equal(parseJweHeader(jwe).p2c, NOTARY_P2C);
        const key = privateKeyFromNotaryBytes(k.algorithm as 'ecdsa' | 'ed25519', decryptPbes2Jwe(jwe, 'alpha-passphrase'));
        assert.deepEqual(notaryPublicBytes(key), k.publicKey);
      }
    } finally {
      await database.close();
    }
  });
});

// The in-process signing service and its `private_keys` storage, run identically on SQLite,
// PostgreSQL and MariaDB: schema and migrations, notary's pending-key reuse, soft delete,
// last_used, passphrase aliases, rekey and the health report. Server backends that are not
// reachable are skipped with the reason.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { decryptPbes2Jwe, encryptPbes2Jwe } from '../../src/crypto/jwe.ts';
import { generateKey, notaryPublicBytes, privateKeyFromNotaryBytes, privateKeyToNotaryBytes } from '../../src/crypto/private-keys.ts';
import { importEd25519Raw } from '../../src/crypto/signatures.ts';
import type { StorageBackend } from '../../src/storage/config.ts';
import { openDatabase, sqlTimestamp } from '../../src/storage/database.ts';
import type { Database } from '../../src/storage/database.ts';
import { migrateToLatest } from '../../src/storage/migrations.ts';
import { SignerError } from '../../src/signer/errors.ts';
import { envPassphrases } from '../../src/signer/key-crypto.ts';
import { SqlKeyStore } from '../../src/signer/key-store.ts';
import { LocalSigningService } from '../../src/signer/local-service.ts';
import { rekeyAll, signerHealthReport } from '../../src/signer/maintenance.ts';
import { SIGNER_COMPONENT, SIGNER_MIGRATIONS } from '../../src/signer/schema.ts';
import type { SignerTables } from '../../src/signer/schema.ts';
import { computeKeyId } from '../../src/tuf/keys.ts';
import { backendUnavailableReason, createThrowawayDatabase } from './helpers/databases.ts';
import type { ThrowawayDatabase } from './helpers/databases.ts';

const ENV = { NOTARY_SIGNER_ALPHA: 'alpha-passphrase', NOTARY_SIGNER_BETA: 'beta-passphrase', NOTARY_SIGNER_GAMMA: 'gamma-passphrase' };
const GUN = 'example.com/vouch/signer';
const MESSAGE = Buffer.from('{"_type":"Timestamp","expires":"2030-01-01T00:00:00Z","meta":{},"version":1}');

function rejectsWith(code: string, message?: string | RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof SignerError, `expected SignerError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message !== undefined) assert.match(e.message, message);
    return true;
  };
}

const PRIVATE_KEYS_COLUMNS = ['id', 'created_at', 'updated_at', 'deleted_at', 'key_id', 'encryption_alg', 'keywrap_alg',
  'algorithm', 'passphrase_alias', 'public', 'private', 'gun', 'role', 'last_used'];

for (const backend of ['sqlite3', 'postgres', 'mysql'] as const satisfies readonly StorageBackend[]) {
  const unavailable = backendUnavailableReason(backend);
  void describe(`signer storage on ${backend}`, { skip: unavailable ?? false }, () => {
    let dir: string;
    let tdb: ThrowawayDatabase;
    let database: Database<SignerTables>;
    let store: SqlKeyStore;
    let clock = new Date('2026-01-01T00:00:00Z');
    const service = (env: Record<string, string> = ENV, alias = 'alpha'): LocalSigningService =>
      new LocalSigningService({ store, passphrases: envPassphrases(env), defaultAlias: alias, now: () => clock, ownsDatabase: false });
    const row = (keyId: string) => database.db.selectFrom('private_keys').selectAll().where('key_id', '=', keyId).executeTakeFirstOrThrow();

    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'vouch-signer-store-'));
      tdb = createThrowawayDatabase(backend, dir);
      database = openDatabase<SignerTables>(tdb.config);
      store = new SqlKeyStore(database);
    });
    after(async () => {
      await database.close();
      tdb.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    void test('migrations create private_keys with notary\'s columns, once', async () => {
      assert.deepEqual((await migrateToLatest(database, SIGNER_COMPONENT, SIGNER_MIGRATIONS)).applied, ['0001_private_keys']);
      assert.deepEqual((await migrateToLatest(database, SIGNER_COMPONENT, SIGNER_MIGRATIONS)).applied, []);
      const tables = await database.db.introspection.getTables();
      const pk = tables.find((t) => t.name === 'private_keys');
      assert.ok(pk, 'private_keys exists');
      assert.deepEqual(pk.columns.map((c) => c.name), PRIVATE_KEYS_COLUMNS);
      assert.ok(tables.some((t) => t.name === 'vouch_signer_migration'));
      if (backend === 'sqlite3') assert.equal(statSync(tdb.config.dbUrl).mode & 0o777, 0o600);
    });

    void test('createKey stores an ecdsa key as JWE under the default alias, and reuses it while unused', async () => {
      const s = service();
      const created = await s.createKey({ algorithm: 'ecdsa', gun: GUN, role: 'timestamp' });
      assert.equal(created.algorithm, 'ecdsa');
      assert.equal(created.publicKey.length, 91);
      assert.equal(created.keyId, computeKeyId('ecdsa', created.publicKey));
      const r = await row(created.keyId);
      assert.equal(r.encryption_alg, 'A256GCM');
      assert.equal(r.keywrap_alg, 'PBES2-HS256+A128KW');
      assert.equal(r.passphrase_alias, 'alpha');
      assert.equal(r.gun, GUN);
      assert.equal(r.role, 'timestamp');
      assert.equal(r.last_used, null);
      assert.equal(r.deleted_at, null);
      assert.deepEqual(new Uint8Array(r.public), created.publicKey);
      const key = privateKeyFromNotaryBytes('ecdsa', decryptPbes2Jwe(r.private.toString(), 'alpha-passphrase'));
      assert.deepEqual(notaryPublicBytes(key), created.publicKey);
      // Pending reuse: same triple → same key; another role or algorithm → another key.
      assert.equal((await s.createKey({ algorithm: 'ecdsa', gun: GUN, role: 'timestamp' })).keyId, created.keyId);
      assert.equal((await service().createKey({ algorithm: 'ecdsa', gun: GUN, role: 'timestamp' })).keyId, created.keyId);
      assert.notEqual((await s.createKey({ algorithm: 'ecdsa', gun: GUN, role: 'snapshot' })).keyId, created.keyId);
      assert.notEqual((await s.createKey({ algorithm: 'ed25519', gun: GUN, role: 'timestamp' })).keyId, created.keyId);
    });

    void test('concurrent createKey calls agree on one pending key', async () => {
      const s = service();
      const keys = await Promise.all(Array.from({ length: 5 }, () => s.createKey({ algorithm: 'ecdsa', gun: `${GUN}/race`, role: 'timestamp' })));
      assert.equal(new Set(keys.map((k) => k.keyId)).size, 1);
    });

    void test('sign: raw r‖s ecdsa that verifies, sets last_used, and the key stops being pending', async () => {
      const s = service();
      const gun = `${GUN}/sign`;
      const k = await s.createKey({ algorithm: 'ecdsa', gun, role: 'timestamp' });
      clock = new Date('2026-01-02T03:04:05.678Z');
      const sig = await s.sign(k.keyId, MESSAGE);
      assert.equal(sig.method, 'ecdsa');
      assert.equal(sig.keyAlgorithm, 'ecdsa');
      assert.equal(sig.keyId, k.keyId);
      assert.equal(sig.signature.length, 64);
      const pub = createPublicKey({ key: Buffer.from(k.publicKey), format: 'der', type: 'spki' });
      assert.ok(verify('sha256', MESSAGE, { key: pub, dsaEncoding: 'ieee-p1363' }, sig.signature));
      const r = await row(k.keyId);
      assert.notEqual(r.last_used, null);
      assert.match(String(r.last_used instanceof Date ? sqlTimestamp(r.last_used) : r.last_used), /^2026-01-02 03:04:05/);
      assert.notEqual((await s.createKey({ algorithm: 'ecdsa', gun, role: 'timestamp' })).keyId, k.keyId);
    });

    void test('last_used: written before the first signature returns, then refreshed per lastUsedRefreshMs', async () => {
      const lastUsed = async (keyId: string): Promise<string> => {
        const v = (await row(keyId)).last_used;
        return v instanceof Date ? sqlTimestamp(v) : String(v);
      };
      const gun = `${GUN}/last-used`;
      clock = new Date('2026-03-01T00:00:00.000Z');
      const lazy = service();
      const k = await lazy.createKey({ algorithm: 'ecdsa', gun, role: 'timestamp' });
      await lazy.sign(k.keyId, MESSAGE);
      assert.match(await lastUsed(k.keyId), /^2026-03-01 00:00:00/);
      clock = new Date('2026-03-01T00:00:30.000Z');
      await lazy.sign(k.keyId, MESSAGE);
      assert.match(await lastUsed(k.keyId), /^2026-03-01 00:00:00/, 'within 60 s: no write');
      clock = new Date('2026-03-01T00:01:30.000Z');
      await lazy.sign(k.keyId, MESSAGE);
      assert.match(await lastUsed(k.keyId), /^2026-03-01 00:01:30/, 'after 60 s: refreshed');
      const eager = new LocalSigningService({ store, passphrases: envPassphrases(ENV), defaultAlias: 'alpha', now: () => clock,
        ownsDatabase: false, lastUsedRefreshMs: 0 });
      clock = new Date('2026-03-01T00:01:31.000Z');
      await eager.sign(k.keyId, MESSAGE);
      assert.match(await lastUsed(k.keyId), /^2026-03-01 00:01:31/, 'refresh 0: every signature writes, as notary');
    });

    void test('ed25519 keys: 32-byte public, eddsa signatures', async () => {
      const s = service();
      const k = await s.createKey({ algorithm: 'ed25519', gun: `${GUN}/ed`, role: 'snapshot' });
      assert.equal(k.publicKey.length, 32);
      assert.equal(k.keyId, computeKeyId('ed25519', k.publicKey));
      const sig = await service().sign(k.keyId, MESSAGE);
      assert.equal(sig.method, 'eddsa');
      assert.equal(sig.signature.length, 64);
      assert.ok(verify(null, MESSAGE, importEd25519Raw(k.publicKey), sig.signature));
      const info = await service().getKeyInfo(k.keyId);
      assert.deepEqual(info, { keyId: k.keyId, algorithm: 'ed25519', publicKey: k.publicKey, role: 'snapshot' });
    });

    void test('the pending key with the lowest key_id is reused', async () => {
      const gun = `${GUN}/lowest`;
      const made = [generateKey('ecdsa'), generateKey('ecdsa'), generateKey('ecdsa')].map((key) => {
        const pub = notaryPublicBytes(key);
        return { keyId: computeKeyId('ecdsa', pub), pub, key };
      });
      for (const m of made) {
        await store.insert({ keyId: m.keyId, algorithm: 'ecdsa', passphraseAlias: 'beta', publicKey: m.pub,
          jwe: encryptPbes2Jwe(privateKeyToNotaryBytes(m.key).bytes, 'beta-passphrase'), gun, role: 'timestamp' }, clock);
      }
      const lowest = made.map((m) => m.keyId).sort()[0];
      assert.equal((await service().createKey({ algorithm: 'ecdsa', gun, role: 'timestamp' })).keyId, lowest);
    });

    void test('errors: unsupported algorithm, unknown key, missing or wrong passphrase', async () => {
      const s = service();
      await assert.rejects(s.createKey({ algorithm: 'rsa', gun: GUN, role: 'timestamp' }),
        rejectsWith('UNSUPPORTED_ALGORITHM', 'algorithm rsa not supported for create key'));
      const unknown = 'ab'.repeat(32);
      await assert.rejects(s.getKeyInfo(unknown), rejectsWith('KEY_NOT_FOUND', `key ${unknown} not found`));
      await assert.rejects(s.sign(unknown, MESSAGE), rejectsWith('KEY_NOT_FOUND'));
      await assert.rejects(s.getKeyInfo(''), rejectsWith('KEY_NOT_FOUND'));
      await assert.rejects(s.getKeyInfo('x'.repeat(300)), rejectsWith('KEY_NOT_FOUND'));
      const k = await service({ NOTARY_SIGNER_BETA: 'beta-passphrase' }, 'beta').createKey({ algorithm: 'ecdsa', gun: `${GUN}/pw`, role: 'timestamp' });
      await assert.rejects(service({}).sign(k.keyId, MESSAGE), rejectsWith('PASSPHRASE_UNAVAILABLE',
        `key ${k.keyId} is encrypted under passphrase alias "beta", but its passphrase is not available: set NOTARY_SIGNER_BETA`));
      await assert.rejects(service({ NOTARY_SIGNER_BETA: 'wrong' }).getKeyInfo(k.keyId),
        rejectsWith('KEY_UNDECRYPTABLE', /^key [0-9a-f]{64} \(passphrase alias "beta"\) cannot be used: JWE decryption failed/));
      await assert.rejects(service({}).createKey({ algorithm: 'ecdsa', gun: `${GUN}/nopw`, role: 'timestamp' }),
        rejectsWith('PASSPHRASE_UNAVAILABLE', 'passphrase alias "alpha" is not available: set NOTARY_SIGNER_ALPHA'));
      await assert.rejects(s.createKey({ algorithm: 'ecdsa', gun: 'g'.repeat(256), role: 'timestamp' }), rejectsWith('KEY_CREATION_FAILED'));
    });

    void test('a row whose public column does not match its private key is refused', async () => {
      const key = generateKey('ecdsa');
      const other = notaryPublicBytes(generateKey('ecdsa'));
      const keyId = computeKeyId('ecdsa', other);
      await store.insert({ keyId, algorithm: 'ecdsa', passphraseAlias: 'alpha', publicKey: other,
        jwe: encryptPbes2Jwe(privateKeyToNotaryBytes(key).bytes, 'alpha-passphrase'), gun: GUN, role: 'x' }, clock);
      await assert.rejects(service().sign(keyId, MESSAGE), rejectsWith('KEY_UNDECRYPTABLE', /does not match the public column/));
      const report = await signerHealthReport(store, envPassphrases(ENV), 'alpha', { checkAllKeys: true });
      assert.deepEqual(report.undecryptableKeyIds, [keyId]);
      await service().deleteKey(keyId);
    });

    void test('deleteKey soft-deletes: the row stays with deleted_at, the key is gone and never pending', async () => {
      const s = service();
      const gun = `${GUN}/delete`;
      const k = await s.createKey({ algorithm: 'ecdsa', gun, role: 'timestamp' });
      await s.deleteKey(k.keyId);
      assert.notEqual((await row(k.keyId)).deleted_at, null);
      await assert.rejects(s.getKeyInfo(k.keyId), rejectsWith('KEY_NOT_FOUND'));
      await assert.rejects(service().sign(k.keyId, MESSAGE), rejectsWith('KEY_NOT_FOUND'));
      assert.notEqual((await s.createKey({ algorithm: 'ecdsa', gun, role: 'timestamp' })).keyId, k.keyId);
      await s.deleteKey('cd'.repeat(32));
    });

    void test('rekey moves every key to one alias in a transaction; an undecryptable key changes nothing', async () => {
      const before = await store.list();
      assert.ok(new Set(before.map((r) => r.passphraseAlias)).size >= 2);
      await assert.rejects(rekeyAll(store, envPassphrases({ NOTARY_SIGNER_ALPHA: 'alpha-passphrase', NOTARY_SIGNER_GAMMA: 'g' }), 'gamma', clock),
        rejectsWith('REKEY_FAILED', /^no key was changed: key [0-9a-f]{64} is encrypted under passphrase alias "beta"/));
      assert.deepEqual((await store.list()).map((r) => [r.keyId, r.passphraseAlias, r.jwe]), before.map((r) => [r.keyId, r.passphraseAlias, r.jwe]));
      await assert.rejects(rekeyAll(store, envPassphrases(ENV), 'delta', clock), rejectsWith('PASSPHRASE_UNAVAILABLE'));
      const result = await rekeyAll(store, envPassphrases(ENV), 'gamma', clock);
      assert.equal(result.rekeyed, before.length);
      assert.deepEqual(result.fromAliases, ['alpha', 'beta']);
      const afterRows = await store.list();
      assert.ok(afterRows.every((r) => r.passphraseAlias === 'gamma'));
      const onlyGamma = service({ NOTARY_SIGNER_GAMMA: 'gamma-passphrase' }, 'gamma');
      for (const r of afterRows) assert.equal((await onlyGamma.getKeyInfo(r.keyId)).keyId, r.keyId);
      assert.equal((await rekeyAll(store, envPassphrases(ENV), 'gamma', clock)).rekeyed, 0);
    });

    void test('health report: aliases, passphrases, decryptability and the database', async () => {
      const healthy = await signerHealthReport(store, envPassphrases(ENV), 'gamma', { checkAllKeys: true });
      assert.equal(healthy.healthy, true, JSON.stringify(healthy));
      assert.equal(healthy.database.ok, true);
      assert.deepEqual(healthy.undecryptableKeyIds, []);
      assert.deepEqual(healthy.aliases.map((a) => [a.alias, a.passphraseSet, a.decryptable]), [['gamma', true, true]]);
      const missing = await signerHealthReport(store, envPassphrases({ NOTARY_SIGNER_ALPHA: 'alpha-passphrase' }), 'alpha');
      assert.equal(missing.healthy, false);
      assert.deepEqual(missing.aliases.map((a) => [a.alias, a.keys > 0, a.passphraseSet, a.decryptable, a.error]),
        [['alpha', false, true, undefined, undefined], ['gamma', true, false, false, 'NOTARY_SIGNER_GAMMA is not set']]);
      const wrong = await signerHealthReport(store, envPassphrases({ NOTARY_SIGNER_GAMMA: 'nope' }), 'gamma');
      assert.equal(wrong.healthy, false);
      assert.equal(wrong.undecryptableKeyIds.length, 1);
    });

    void test('a closed database is reported, not thrown, and requests fail with STORAGE_UNAVAILABLE', async () => {
      const other = openDatabase<SignerTables>(tdb.config);
      const otherStore = new SqlKeyStore(other);
      await other.close();
      const report = await signerHealthReport(otherStore, envPassphrases(ENV), 'gamma');
      assert.equal(report.healthy, false);
      assert.equal(report.database.ok, false);
      assert.ok(report.database.error);
      const s = new LocalSigningService({ store: otherStore, passphrases: envPassphrases(ENV), defaultAlias: 'gamma' });
      await assert.rejects(s.createKey({ algorithm: 'ecdsa', gun: GUN, role: 'timestamp' }), rejectsWith('STORAGE_UNAVAILABLE'));
      await assert.rejects(s.getKeyInfo('ef'.repeat(32)), rejectsWith('STORAGE_UNAVAILABLE'));
    });
  });
}

// One PostgreSQL private_keys table shared by the Debian notary-signer 0.7.0 and `vouch signer`:
// rows either one writes are read and used by the other with the same alias passphrase
// (including after a Vouch rekey), vector 23 is checked on a live notary-signer row, and both
// signers answer the same failing requests with the same status codes and texts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';

import { decryptPbes2Jwe, parseJweHeader } from '../../src/crypto/jwe.ts';
import { importEd25519Raw } from '../../src/crypto/signatures.ts';
import { notaryPublicBytes, privateKeyFromNotaryBytes } from '../../src/crypto/private-keys.ts';
import { openDatabase } from '../../src/storage/database.ts';
import type { Database } from '../../src/storage/database.ts';
import { parseSignerConfig } from '../../src/signer/config.ts';
import { startSigner } from '../../src/signer/daemon.ts';
import type { RunningSigner } from '../../src/signer/daemon.ts';
import { SignerError } from '../../src/signer/errors.ts';
import { RemoteSigningService } from '../../src/signer/grpc-client.ts';
import { envPassphrases } from '../../src/signer/key-crypto.ts';
import { SILENT_LOG } from '../../src/signer/log.ts';
import { rekeyAll } from '../../src/signer/maintenance.ts';
import type { SignerTables } from '../../src/signer/schema.ts';
import type { SigningService } from '../../src/signer/service.ts';
import { computeKeyId } from '../../src/tuf/keys.ts';
import { notaryPeersUnavailableReason } from '../helpers/notary-harness.ts';
import { startNotarySigner } from '../helpers/notary-peers.ts';
import type { NotaryPeer } from '../helpers/notary-peers.ts';
import { generateTestPki } from '../helpers/tls.ts';
import type { TestPki } from '../helpers/tls.ts';
import { backendUnavailableReason, createThrowawayDatabase } from './helpers/databases.ts';
import type { ThrowawayDatabase } from './helpers/databases.ts';
import { aliasEnv, signerConfig } from './helpers/vouch-signer.ts';

const skip = notaryPeersUnavailableReason() ?? backendUnavailableReason('postgres');
const PASSPHRASES = { vouchtest: 'shared-alias-passphrase', rotated: 'rotated-alias-passphrase' };
const MESSAGE = Buffer.from('{"_type":"Timestamp","expires":"2031-02-03T04:05:06Z","meta":{},"version":7}');

function verifies(algorithm: string, publicKey: Uint8Array, sig: Uint8Array): boolean {
  if (algorithm === 'ed25519') return verify(null, MESSAGE, importEd25519Raw(publicKey), sig);
  return verify('sha256', MESSAGE, { key: createPublicKey({ key: Buffer.from(publicKey), format: 'der', type: 'spki' }), dsaEncoding: 'ieee-p1363' }, sig);
}

async function wireError(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SignerError, String(e));
    const cause = e.cause as ServiceError;
    return { code: cause.code, details: cause.details };
  }
  assert.fail('expected the call to fail');
}

void describe('notary-signer and vouch signer on one PostgreSQL key table', { skip: skip ?? false, timeout: 60_000 }, () => {
  let dir: string;
  let pki: TestPki;
  let tdb: ThrowawayDatabase;
  let db: Database<SignerTables>;
  let notarySigner: NotaryPeer;
  let vouch: RunningSigner;
  let toNotary: RemoteSigningService;
  let toVouch: RemoteSigningService;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vouch-signer-db-'));
    pki = generateTestPki(join(dir, 'pki'));
    tdb = createThrowawayDatabase('postgres', dir);
    const env = aliasEnv(PASSPHRASES);
    // Vouch creates the schema through its migrations; notary-signer then runs on that table.
    const config = parseSignerConfig(JSON.stringify(signerConfig({ pki, workDir: dir,
      storage: { backend: 'postgres', db_url: tdb.config.dbUrl } }, 0)), join(dir, 'vouch.json'), env);
    vouch = await startSigner(config, env, SILENT_LOG);
    notarySigner = await startNotarySigner({ pki, workDir: dir, storage: { backend: 'postgres', dbUrl: tdb.config.dbUrl },
      aliasPassphrases: PASSPHRASES });
    const tls = { ca: readFileSync(pki.caFile), cert: readFileSync(pki.client.certFile), key: readFileSync(pki.client.keyFile) };
    toNotary = new RemoteSigningService({ address: `127.0.0.1:${notarySigner.port}`, tls });
    toVouch = new RemoteSigningService({ address: `127.0.0.1:${vouch.port}`, tls });
    db = openDatabase<SignerTables>(tdb.config);
  });
  after(async () => {
    await toNotary?.close();
    await toVouch?.close();
    await notarySigner?.stop();
    await vouch?.close();
    await db?.close();
    tdb?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const rowOf = (keyId: string) => db.db.selectFrom('private_keys').selectAll().where('key_id', '=', keyId).executeTakeFirstOrThrow();

  void test('vector 23 on a live row written by notary-signer', async () => {
    const k = await toNotary.createKey({ algorithm: 'ecdsa', gun: 'example.com/vector23', role: 'timestamp' });
    const row = await rowOf(k.keyId);
    const jwe = row.private.toString();
    const parts = jwe.split('.');
    assert.equal(parts.length, 5);
    const headerText = Buffer.from(parts[0]!, 'base64url').toString();
    assert.match(headerText, /^\{"alg":"PBES2-HS256\+A128KW","enc":"A256GCM","p2c":8192,"p2s":"[A-Za-z0-9_-]{16}"\}$/);
    assert.equal(parseJweHeader(jwe).p2s.length, 12);
    assert.deepEqual(parts.slice(1).map((p) => Buffer.from(p, 'base64url').length), [40, 12, 121, 16]);
    const key = privateKeyFromNotaryBytes('ecdsa', decryptPbes2Jwe(jwe, PASSPHRASES.vouchtest));
    assert.deepEqual(notaryPublicBytes(key), new Uint8Array(row.public));
    assert.equal(computeKeyId('ecdsa', new Uint8Array(row.public)), row.key_id);
    assert.deepEqual([row.encryption_alg, row.keywrap_alg, row.algorithm, row.passphrase_alias, row.gun, row.role],
      ['A256GCM', 'PBES2-HS256+A128KW', 'ecdsa', 'vouchtest', 'example.com/vector23', 'timestamp']);
  });

  for (const algorithm of ['ecdsa', 'ed25519'] as const) {
    void test(`${algorithm}: a notary-signer row is used by vouch signer, and a vouch row by notary-signer`, async () => {
      const cases: [string, SigningService, SigningService][] = [['notary→vouch', toNotary, toVouch], ['vouch→notary', toVouch, toNotary]];
      for (const [what, writer, reader] of cases) {
        const gun = `example.com/${algorithm}/${what.replace('→', '-to-')}`;
        const k = await writer.createKey({ algorithm, gun, role: 'timestamp' });
        // The pending key is shared: the other signer hands out the same unused key.
        assert.equal((await reader.createKey({ algorithm, gun, role: 'timestamp' })).keyId, k.keyId, what);
        assert.deepEqual(await reader.getKeyInfo(k.keyId), { ...k, role: 'timestamp' }, what);
        const s = await reader.sign(k.keyId, MESSAGE);
        assert.equal(s.method, algorithm === 'ecdsa' ? 'ecdsa' : 'eddsa');
        assert.ok(verifies(algorithm, k.publicKey, s.signature), `${what}: signature verifies`);
        assert.notEqual((await rowOf(k.keyId)).last_used, null, `${what}: last_used set by the reader`);
        assert.notEqual((await writer.createKey({ algorithm, gun, role: 'timestamp' })).keyId, k.keyId, `${what}: no longer pending`);
      }
    });
  }

  void test('a key vouch re-encrypted under another alias is still used by notary-signer', async () => {
    const k = await toVouch.createKey({ algorithm: 'ecdsa', gun: 'example.com/rekeyed', role: 'snapshot' });
    const result = await rekeyAll(vouch.service.store, envPassphrases(aliasEnv(PASSPHRASES)), 'rotated', new Date());
    assert.ok(result.rekeyed >= 1);
    assert.equal((await rowOf(k.keyId)).passphrase_alias, 'rotated');
    const s = await toNotary.sign(k.keyId, MESSAGE);
    assert.ok(verifies('ecdsa', k.publicKey, s.signature));
  });

  void test('each side honours the other\'s soft delete', async () => {
    const notFound = (e: unknown): boolean => e instanceof SignerError && e.code === 'KEY_NOT_FOUND';
    // Keys the reading side has not cached yet (both signers cache keys they create or use).
    const a = await toNotary.createKey({ algorithm: 'ecdsa', gun: 'example.com/deleted', role: 'timestamp' });
    await toNotary.deleteKey(a.keyId);
    assert.notEqual((await rowOf(a.keyId)).deleted_at, null);
    await assert.rejects(toVouch.getKeyInfo(a.keyId), notFound);
    await assert.rejects(toVouch.sign(a.keyId, MESSAGE), notFound);
    const b = await toVouch.createKey({ algorithm: 'ecdsa', gun: 'example.com/deleted2', role: 'timestamp' });
    await toVouch.deleteKey(b.keyId);
    await assert.rejects(toNotary.getKeyInfo(b.keyId), notFound);
    await assert.rejects(toNotary.sign(b.keyId, MESSAGE), notFound);
  });

  void test('both signers give the same status codes and texts for the same failures', async () => {
    const unknown = '5a'.repeat(32);
    const calls: [string, (s: SigningService) => Promise<unknown>][] = [
      ['CreateKey rsa', (s) => s.createKey({ algorithm: 'rsa', gun: 'g', role: 'timestamp' })],
      ['CreateKey empty', (s) => s.createKey({ algorithm: '', gun: 'g', role: 'timestamp' })],
      ['GetKeyInfo unknown', (s) => s.getKeyInfo(unknown)],
      ['Sign unknown', (s) => s.sign(unknown, MESSAGE)],
    ];
    for (const [what, f] of calls) {
      assert.deepEqual(await wireError(f(toVouch)), await wireError(f(toNotary)), what);
    }
  });
});

// The signer's gRPC surface, in process on SQLite over mutual TLS: notary's messages, status codes
// and texts (docs/formats.md §8.2) seen through the generated stubs, the health services, the
// Vouch health report, and RemoteSigningService's mapping back to SignerError codes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, status } from '@grpc/grpc-js';
import type { CallOptions, ServiceError } from '@grpc/grpc-js';

import { encryptPbes2Jwe } from '../../src/crypto/jwe.ts';
import { generateKey, notaryPublicBytes, privateKeyToNotaryBytes } from '../../src/crypto/private-keys.ts';
import { importEd25519Raw } from '../../src/crypto/signatures.ts';
import { parseSignerConfig } from '../../src/signer/config.ts';
import { startSigner } from '../../src/signer/daemon.ts';
import type { RunningSigner } from '../../src/signer/daemon.ts';
import { SignerError } from '../../src/signer/errors.ts';
import { RemoteSigningService } from '../../src/signer/grpc-client.ts';
import { KeyManagementClient, SignerClient } from '../../src/signer/generated/signer.ts';
import { SILENT_LOG } from '../../src/signer/log.ts';
import { clientCredentials } from '../../src/signer/tls.ts';
import { computeKeyId } from '../../src/tuf/keys.ts';
import { SIGNER_HEALTH_SERVICES, grpcHealthServing } from '../helpers/grpc-health.ts';
import { DEFAULT_SIGNER_PASSPHRASE } from '../helpers/notary-peers.ts';
import { sleep } from '../helpers/processes.ts';
import { generateTestPki } from '../helpers/tls.ts';
import type { TestPki } from '../helpers/tls.ts';
import { aliasEnv, signerConfig } from './helpers/vouch-signer.ts';

const GUN = 'example.com/vouch/grpc';
const MESSAGE = Buffer.from('{"_type":"Snapshot","expires":"2030-01-01T00:00:00Z","meta":{},"version":2}');

type Callback<T> = (err: ServiceError | null, res: T) => void;

function call<Req, Res>(f: (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: Callback<Res>) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    f(req, new Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

function grpcError(code: status, details: string | RegExp): (e: unknown) => boolean {
  return (e) => {
    const err = e as ServiceError;
    assert.equal(err.code, code, `status ${status[err.code]}: ${err.details}`);
    if (typeof details === 'string') assert.equal(err.details, details);
    else assert.match(err.details, details);
    return true;
  };
}

function signerCode(code: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof SignerError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  };
}

void describe('signer gRPC API (in process, SQLite, mutual TLS)', () => {
  let dir: string;
  let pki: TestPki;
  let running: RunningSigner;
  let km: KeyManagementClient;
  let sc: SignerClient;
  let remote: RemoteSigningService;
  const address = (): string => `127.0.0.1:${running.port}`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vouch-signer-grpc-'));
    pki = generateTestPki(join(dir, 'pki'));
    const configFile = join(dir, 'signer.json');
    const env = aliasEnv({ vouchtest: DEFAULT_SIGNER_PASSPHRASE });
    const config = parseSignerConfig(JSON.stringify(signerConfig({ pki, workDir: dir }, 0)), configFile, env);
    running = await startSigner(config, env, SILENT_LOG, { probeIntervalMs: 100 });
    const tls = { ca: readFileSync(pki.caFile), cert: readFileSync(pki.client.certFile), key: readFileSync(pki.client.keyFile) };
    km = new KeyManagementClient(address(), clientCredentials(tls));
    sc = new SignerClient(address(), clientCredentials(tls));
    remote = new RemoteSigningService({ address: address(), tls });
  });
  after(async () => {
    km?.close();
    sc?.close();
    await remote?.close();
    await running?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  void test('CreateKey / GetKeyInfo / Sign / DeleteKey with notary\'s messages', async () => {
    const created = await call(km.createKey.bind(km), { algorithm: 'ecdsa', gun: GUN, role: 'timestamp' });
    const keyId = created.keyInfo?.keyID?.ID ?? '';
    assert.equal(created.keyInfo?.algorithm?.algorithm, 'ecdsa');
    assert.equal(created.publicKey.length, 91);
    assert.equal(keyId, computeKeyId('ecdsa', created.publicKey));
    const again = await call(km.createKey.bind(km), { algorithm: 'ecdsa', gun: GUN, role: 'timestamp' });
    assert.equal(again.keyInfo?.keyID?.ID, keyId, 'pending key reused');

    const info = await call(km.getKeyInfo.bind(km), { ID: keyId });
    assert.deepEqual(info, { keyInfo: { keyID: { ID: keyId }, algorithm: { algorithm: 'ecdsa' } }, publicKey: created.publicKey, role: 'timestamp' });

    const sig = await call(sc.sign.bind(sc), { keyID: { ID: keyId }, content: MESSAGE });
    assert.deepEqual(sig.keyInfo, { keyID: { ID: keyId }, algorithm: { algorithm: 'ecdsa' } });
    assert.equal(sig.algorithm?.algorithm, 'ecdsa');
    assert.equal(sig.content.length, 64);
    const pub = createPublicKey({ key: created.publicKey, format: 'der', type: 'spki' });
    assert.ok(verify('sha256', MESSAGE, { key: pub, dsaEncoding: 'ieee-p1363' }, sig.content));
    const next = await call(km.createKey.bind(km), { algorithm: 'ecdsa', gun: GUN, role: 'timestamp' });
    assert.notEqual(next.keyInfo?.keyID?.ID, keyId, 'a used key is no longer pending');

    assert.deepEqual(await call(km.deleteKey.bind(km), { ID: keyId }), {});
    await assert.rejects(call(km.getKeyInfo.bind(km), { ID: keyId }), grpcError(status.NOT_FOUND, `key ${keyId} not found`));
  });

  void test('ed25519: 32-byte public key, eddsa signature method', async () => {
    const created = await call(km.createKey.bind(km), { algorithm: 'ed25519', gun: GUN, role: 'snapshot' });
    const keyId = created.keyInfo?.keyID?.ID ?? '';
    assert.equal(created.publicKey.length, 32);
    const sig = await call(sc.sign.bind(sc), { keyID: { ID: keyId }, content: MESSAGE });
    assert.equal(sig.algorithm?.algorithm, 'eddsa');
    assert.equal(sig.keyInfo?.algorithm?.algorithm, 'ed25519');
    assert.ok(verify(null, MESSAGE, importEd25519Raw(created.publicKey), sig.content));
  });

  void test('error codes and texts', async () => {
    const unknown = '0f'.repeat(32);
    await assert.rejects(call(km.createKey.bind(km), { algorithm: 'rsa', gun: GUN, role: 'timestamp' }),
      grpcError(status.UNKNOWN, 'algorithm rsa not supported for create key'));
    await assert.rejects(call(km.createKey.bind(km), { algorithm: '', gun: GUN, role: 'timestamp' }),
      grpcError(status.UNKNOWN, 'algorithm  not supported for create key'));
    await assert.rejects(call(km.getKeyInfo.bind(km), { ID: unknown }), grpcError(status.NOT_FOUND, `key ${unknown} not found`));
    await assert.rejects(call(sc.sign.bind(sc), { keyID: { ID: unknown }, content: MESSAGE }),
      grpcError(status.NOT_FOUND, `signing key not found: ${unknown}`));
    await assert.rejects(call(sc.sign.bind(sc), { keyID: undefined, content: MESSAGE }), grpcError(status.NOT_FOUND, 'signing key not found: '));
    assert.deepEqual(await call(km.deleteKey.bind(km), { ID: unknown }), {});
    await assert.rejects(call(km.createKey.bind(km), { algorithm: 'ecdsa', gun: 'g'.repeat(300), role: 'timestamp' }),
      grpcError(status.INTERNAL, 'Key creation failed'));
  });

  void test('a key under an alias without a passphrase: a clear FAILED_PRECONDITION, no crash', async () => {
    const key = generateKey('ecdsa');
    const pub = notaryPublicBytes(key);
    const keyId = computeKeyId('ecdsa', pub);
    await running.service.store.insert({ keyId, algorithm: 'ecdsa', passphraseAlias: 'retired', publicKey: pub,
      jwe: encryptPbes2Jwe(privateKeyToNotaryBytes(key).bytes, 'retired-passphrase'), gun: GUN, role: 'timestamp' }, new Date());
    const want = `key ${keyId} is encrypted under passphrase alias "retired", but its passphrase is not available: set NOTARY_SIGNER_RETIRED`;
    await assert.rejects(call(sc.sign.bind(sc), { keyID: { ID: keyId }, content: MESSAGE }), grpcError(status.FAILED_PRECONDITION, want));
    await assert.rejects(call(km.getKeyInfo.bind(km), { ID: keyId }), grpcError(status.FAILED_PRECONDITION, want));
    await assert.rejects(remote.sign(keyId, MESSAGE), signerCode('PASSPHRASE_UNAVAILABLE'));
    const report = await remote.healthReport();
    assert.equal(report.healthy, false);
    assert.deepEqual(report.aliases.map((a) => [a.alias, a.keys, a.passphraseSet, a.decryptable, a.error]),
      [['retired', 1, false, false, 'NOTARY_SIGNER_RETIRED is not set'], ['vouchtest', 2, true, true, '']]);
    assert.equal(report.databaseOk, true);
    await remote.deleteKey(keyId);
    assert.equal((await remote.healthReport(true)).healthy, true);
  });

  void test('RemoteSigningService: the same service over the wire', async () => {
    const k = await remote.createKey({ algorithm: 'ecdsa', gun: `${GUN}/remote`, role: 'timestamp' });
    assert.equal(k.keyId, computeKeyId('ecdsa', k.publicKey));
    assert.deepEqual(await remote.getKeyInfo(k.keyId), { ...k, role: 'timestamp' });
    const s = await remote.sign(k.keyId, MESSAGE);
    assert.equal(s.method, 'ecdsa');
    assert.equal(s.keyAlgorithm, 'ecdsa');
    await assert.rejects(remote.createKey({ algorithm: 'rsa', gun: GUN, role: 'x' }), signerCode('UNSUPPORTED_ALGORITHM'));
    await assert.rejects(remote.getKeyInfo('aa'.repeat(32)), signerCode('KEY_NOT_FOUND'));
    await remote.deleteKey(k.keyId);
    await assert.rejects(remote.sign(k.keyId, MESSAGE), signerCode('KEY_NOT_FOUND'));
    assert.equal(await remote.serving(), true);
    for (const s2 of SIGNER_HEALTH_SERVICES) assert.equal(await remote.serving(s2), true);
    await assert.rejects(remote.serving('no.such.Service'), signerCode('KEY_NOT_FOUND'));
  });

  void test('a signer that cannot be reached is SIGNER_UNAVAILABLE within the deadline', async () => {
    const tls = { ca: readFileSync(pki.caFile), cert: readFileSync(pki.client.certFile), key: readFileSync(pki.client.keyFile) };
    const dead = new RemoteSigningService({ address: '127.0.0.1:1', tls, deadlineMs: 500 });
    const started = performance.now();
    await assert.rejects(dead.sign('ab'.repeat(32), MESSAGE), signerCode('SIGNER_UNAVAILABLE'));
    assert.ok(performance.now() - started < 1_500);
    await dead.close();
  });

  void test('health: SERVING for "", KeyManagement and Signer; NOT_SERVING once the database is gone', async () => {
    const probe = (service: string) => grpcHealthServing({ host: '127.0.0.1', port: running.port, caFile: pki.caFile,
      certFile: pki.client.certFile, keyFile: pki.client.keyFile, service, timeoutMs: 2_000 });
    for (const service of ['', ...SIGNER_HEALTH_SERVICES]) assert.equal((await probe(service)).serving, true, service);
    assert.equal((await probe('grpc.health.v1.Health.Nope')).serving, false);
    await running.service.store.database.close();
    let down = false;
    for (let i = 0; i < 30 && !down; i++) {
      await sleep(50);
      down = !(await probe(SIGNER_HEALTH_SERVICES[0])).serving;
    }
    assert.ok(down, 'health turned NOT_SERVING');
    await assert.rejects(call(km.getKeyInfo.bind(km), { ID: 'ab'.repeat(32) }),
      grpcError(status.UNAVAILABLE, 'the signer\'s key database is unavailable'));
    await assert.rejects(call(km.createKey.bind(km), { algorithm: 'ecdsa', gun: `${GUN}/down`, role: 'timestamp' }),
      grpcError(status.INTERNAL, 'Key creation failed'));
    const report = await remote.healthReport();
    assert.equal(report.databaseOk, false);
    assert.match(report.databaseError, /closed/);
  });
});

// Interop harness self-test: runs the real Debian notary-signer, notary-server and notary client
// 0.7.0 on loopback, drives buildNotaryCollection(), and checks the served bytes against what the
// client lists and what snapshot/timestamp record. Skipped (with the reason) when the binaries or,
// for the PostgreSQL case, the local database are missing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { HttpStatusError, fetchCollection, fetchRole, httpsGet } from '../helpers/fetch-collection.ts';
import { SIGNER_HEALTH_SERVICES, grpcHealthServing } from '../helpers/grpc-health.ts';
import { parseNotaryList, runNotary } from '../helpers/notary-cli.ts';
import { notaryPeersUnavailableReason, startNotaryHarness } from '../helpers/notary-harness.ts';
import type { NotaryHarness } from '../helpers/notary-harness.ts';
import { PeerStartError, startNotarySigner } from '../helpers/notary-peers.ts';
import { freePorts } from '../helpers/ports.ts';
import { postgresUnavailableReason } from '../helpers/postgres.ts';
import { DELEGATION_ROLE, buildNotaryCollection } from '../helpers/scenarios.ts';
import type { NotaryCollection } from '../helpers/scenarios.ts';
import { generateTestPki } from '../helpers/tls.ts';

const peersMissing = notaryPeersUnavailableReason();
const peerSkip = peersMissing === undefined ? false : `real notary peers unavailable: ${peersMissing}`;

const sha256b64 = (b: Buffer): string => createHash('sha256').update(b).digest('base64');
const sha512b64 = (b: Buffer): string => createHash('sha512').update(b).digest('base64');

// Test-only views of the parsed TUF JSON this file reads; shapes are asserted, not trusted.
interface MetaEntry { readonly hashes: Record<string, string>; readonly length: number }
interface Envelope<T> {
  readonly signed: T;
  readonly signatures: readonly { readonly keyid: string; readonly method: string; readonly sig: string }[];
}
interface Signed {
  readonly _type: string;
  readonly version: number;
  readonly meta: Record<string, MetaEntry>;
  readonly roles: Record<string, { readonly keyids: readonly string[]; readonly threshold: number }>;
  readonly targets: Record<string, MetaEntry>;
  readonly delegations: { readonly keys: Record<string, unknown>; readonly roles: readonly unknown[] };
}
interface PublicKeyJson { readonly keytype: string }

const parse = <T = Signed>(bytes: Buffer): Envelope<T> => JSON.parse(bytes.toString('utf8')) as Envelope<T>;
const envelopeOf = (files: Map<string, Buffer>, name: string): Envelope<Signed> => {
  const bytes = files.get(name);
  assert.ok(bytes, `${name} was not fetched`);
  return parse(bytes);
};
const signedOf = (files: Map<string, Buffer>, name: string): Signed => envelopeOf(files, name).signed;

void describe('test PKI and ports', () => {
  void test('leaf certificates carry the SANs and EKUs Go requires, signed by the CA', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vouch-pki-'));
    try {
      const pki = generateTestPki(dir);
      const ca = new X509Certificate(readFileSync(pki.caFile));
      const cert = (f: string): X509Certificate => new X509Certificate(readFileSync(f));
      const server = cert(pki.server.certFile);
      const signer = cert(pki.signer.certFile);
      const client = cert(pki.client.certFile);
      assert.equal(ca.ca, true);
      assert.equal(server.subjectAltName, 'DNS:localhost, DNS:notary-server, IP Address:127.0.0.1');
      assert.equal(signer.subjectAltName, 'DNS:notarysigner, DNS:localhost, IP Address:127.0.0.1');
      assert.deepEqual(server.keyUsage, ['1.3.6.1.5.5.7.3.1']);
      assert.deepEqual(signer.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
      assert.deepEqual(client.keyUsage, ['1.3.6.1.5.5.7.3.2']);
      for (const leaf of [server, signer, client]) {
        assert.equal(leaf.ca, false);
        assert.equal(leaf.verify(ca.publicKey), true);
        assert.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('freePorts returns distinct loopback ports that can be bound', async () => {
    const ports = await freePorts(3);
    assert.equal(new Set(ports).size, 3);
    for (const port of ports) {
      const srv = createServer();
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, '127.0.0.1', resolve);
      });
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
  });
});

/** Everything a served collection built by buildNotaryCollection must satisfy. */
function assertCollection(c: NotaryCollection): void {
  const rows = parseNotaryList(c.listing);
  assert.deepEqual(rows, c.targets.map((t) => ({ name: t.name, sha256: t.sha256, size: t.size, role: t.role })));
  assert.deepEqual([...c.files.keys()].sort(),
    ['root.json', 'snapshot.json', 'targets.json', 'targets/releases.json', 'timestamp.json']);

  const timestamp = signedOf(c.files, 'timestamp.json');
  const snapshot = signedOf(c.files, 'snapshot.json');
  const snapBytes = c.files.get('snapshot.json')!;
  assert.equal(timestamp._type, 'Timestamp');
  assert.deepEqual(timestamp.meta['snapshot'], { hashes: { sha256: sha256b64(snapBytes),
    sha512: sha512b64(snapBytes) }, length: snapBytes.length });
  assert.equal(snapshot._type, 'Snapshot');
  assert.deepEqual(Object.keys(snapshot.meta).sort(), ['root', 'targets', DELEGATION_ROLE]);
  for (const role of ['root', 'targets', DELEGATION_ROLE]) {
    const bytes = c.files.get(`${role}.json`)!;
    assert.deepEqual(snapshot.meta[role], { hashes: { sha256: sha256b64(bytes), sha512: sha512b64(bytes) },
      length: bytes.length }, `snapshot entry for ${role}`);
  }

  // init → v1; snapshot to server → v2; targets rotation → v3; root rotation → v4 (§13 vector 13).
  const root = signedOf(c.files, 'root.json');
  const rootDoc = envelopeOf(c.files, 'root.json');
  assert.equal(root._type, 'Root');
  assert.equal(root.version, 4);
  assert.equal(root.roles['root']!.keyids.length, 1);
  assert.equal(rootDoc.signatures.length, 2);
  assert.ok(rootDoc.signatures.some((s) => s.keyid === root.roles['root']!.keyids[0]));

  // §13 vector 14: the delegation keeps the key ID of the PEM public key we gave it.
  const spki = readFileSync(c.delegationPublicKeyFile, 'utf8').replace(/-----[A-Z ]+-----|\s/g, '');
  const keyId = createHash('sha256')
    .update(`{"keytype":"ecdsa","keyval":{"private":null,"public":"${spki}"}}`).digest('hex');
  const targets = signedOf(c.files, 'targets.json');
  assert.deepEqual(targets.delegations.roles,
    [{ keyids: [keyId], name: DELEGATION_ROLE, paths: [''], threshold: 1 }]);
  assert.deepEqual(targets.delegations.keys[keyId], { keytype: 'ecdsa', keyval: { private: null, public: spki } });

  const releases = signedOf(c.files, `${DELEGATION_ROLE}.json`);
  for (const [t, signed] of [[c.targets[0]!, targets], [c.targets[1]!, releases]] as const) {
    assert.deepEqual(signed.targets[t.name], {
      hashes: { sha256: Buffer.from(t.sha256, 'hex').toString('base64'),
        sha512: createHash('sha512').update(t.content).digest('base64') },
      length: t.size,
    }, `target ${t.name}`);
  }
  // The client's cache holds the same bytes the server serves.
  const cached = join(c.trustDir, 'tuf', ...c.gun.split('/'), 'metadata');
  for (const name of ['root.json', 'targets.json', `${DELEGATION_ROLE}.json`]) {
    assert.ok(readFileSync(join(cached, name)).equals(c.files.get(name)!), `cached ${name}`);
  }
}

void describe('real notary-server + notary-signer (memory storage)', { skip: peerSkip, timeout: 60_000 }, () => {
  let h: NotaryHarness;
  before(async () => { h = await startNotaryHarness(); });
  after(async () => { await h?.stop(); });

  void test('both peers answer health checks on 127.0.0.1 only', async () => {
    assert.match(h.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await httpsGet(`${h.url}/_notary_server/health`, h.caFile);
    assert.equal(res.status, 200);
    assert.equal(res.body.toString('utf8'), '{}');
    for (const service of SIGNER_HEALTH_SERVICES) {
      const r = await grpcHealthServing({ host: '127.0.0.1', port: h.signer!.port, caFile: h.caFile,
        certFile: h.pki.client.certFile, keyFile: h.pki.client.keyFile, service, timeoutMs: 2_000 });
      assert.deepEqual(r, { serving: true }, service);
    }
    const noClientCert = await grpcHealthServing({ host: '127.0.0.1', port: h.signer!.port,
      caFile: h.caFile, service: SIGNER_HEALTH_SERVICES[0], timeoutMs: 2_000 });
    assert.equal(noClientCert.serving, false, 'the signer must require a client certificate');
  });

  void test('an unknown GUN gives the exact METADATA_NOT_FOUND body (§13 vector 18)', async () => {
    await assert.rejects(fetchRole(h.url, 'example.com/none', 'timestamp.json', h.caFile), (e: unknown) => {
      assert.ok(e instanceof HttpStatusError);
      assert.equal(e.status, 404);
      assert.equal(e.body.toString('utf8'), '{"errors":[{"code":"METADATA_NOT_FOUND",' +
        '"message":"You have requested metadata that does not exist.","detail":{}}]}\n');
      return true;
    });
  });

  void test('notary client scenario: publish, delegate, rotate; served bytes match snapshot/timestamp', async () => {
    const c = await buildNotaryCollection(h);
    assertCollection(c);
    // The remote signer holds the timestamp key (ecdsa, as configured), not the local service.
    assert.deepEqual(envelopeOf(c.files, 'timestamp.json').signatures.map((sig) => sig.method), ['ecdsa']);
    const releases = parseNotaryList((await c.notary(['list', c.gun, '-r', DELEGATION_ROLE])).stdout);
    assert.deepEqual(releases.map((r) => r.name), ['v2']);
    // The current-name routes serve the same bytes as the by-hash routes.
    assert.deepEqual(await fetchCollection(h.url, c.gun, h.caFile, { by: 'name' }), c.files);
  });

  void test('a peer that cannot start fails fast, naming its log file and quoting it', async () => {
    const workDir = h.newDir('broken-signer');
    const pki = { ...h.pki, signer: { ...h.pki.signer, keyFile: join(workDir, 'missing.key') } };
    await assert.rejects(startNotarySigner({ pki, workDir, readyTimeoutMs: 10_000 }), (e: unknown) => {
      assert.ok(e instanceof PeerStartError);
      assert.match(e.logFile, /\/notary-signer-\d+\.log$/);
      assert.ok(e.message.startsWith('notary-signer did not start: exited early (code 1, signal null)\n' +
        `log file: ${e.logFile}\n`), e.message);
      assert.match(e.message, /unable to set up TLS: Could not load X509 key pair/);
      return true;
    });
  });
});

void describe('real notary-server with trust_service local', { skip: peerSkip, timeout: 60_000 }, () => {
  void test('timestamps are signed with the in-process ed25519 service', async () => {
    const h = await startNotaryHarness({ trustService: 'local' });
    try {
      assert.equal(h.signer, undefined);
      const gun = 'example.com/vouch/local';
      const trustDir = h.newDir('client');
      await runNotary(['init', gun, '-p'], { trustDir, serverUrl: h.url, caFile: h.caFile, expectCode: 0 });
      const key = JSON.parse((await fetchRole(h.url, gun, 'timestamp.key', h.caFile)).toString('utf8')) as PublicKeyJson;
      assert.equal(key.keytype, 'ed25519');
      const ts = parse(await fetchRole(h.url, gun, 'timestamp.json', h.caFile));
      assert.deepEqual(ts.signatures.map((sig) => sig.method), ['eddsa']);
    } finally {
      await h.stop();
    }
  });
});

const pgMissing = peersMissing === undefined ? postgresUnavailableReason() : peersMissing;
void describe('real notary-server + notary-signer (PostgreSQL storage)', {
  skip: pgMissing === undefined ? false : `PostgreSQL interop unavailable: ${pgMissing}`, timeout: 60_000,
}, () => {
  void test('the same scenario on PostgreSQL; rows land in both databases', async () => {
    const h = await startNotaryHarness({ storage: 'postgres' });
    try {
      const c = await buildNotaryCollection(h, { gun: 'example.com/vouch/pg' });
      assertCollection(c);
      const signerDb = h.signer!.database!;
      const serverDb = h.server.database!;
      // Server-held keys: snapshot and timestamp (at least one row each), encrypted under our alias.
      assert.equal(signerDb.query("SELECT count(DISTINCT role) FROM private_keys WHERE role IN ('snapshot','timestamp')"), '2');
      assert.equal(signerDb.query("SELECT DISTINCT passphrase_alias FROM private_keys"), 'vouchtest');
      assert.equal(signerDb.query("SELECT count(*) FROM private_keys WHERE private NOT LIKE '%.%.%.%.%'"), '0');
      const hex = createHash('sha256').update(c.files.get('root.json')!).digest('hex');
      assert.equal(serverDb.query(`SELECT version FROM tuf_files WHERE gun='${c.gun}' AND role='root' AND sha256='${hex}'`), '4');
    } finally {
      await h.stop();
    }
  });
});

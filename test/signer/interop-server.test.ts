// The Debian notary-server 0.7.0 with `trust_service: remote` pointed at `vouch signer` (a child
// process, mutual TLS, 127.0.0.1), driven by the real notary client: init, publish, a
// server-managed snapshot, delegation, targets and root rotations, then `key rotate … timestamp -r`
// and `key rotate … snapshot -r`. Every served timestamp/snapshot signature must come from a key
// the Vouch signer holds, and the signer's private_keys rows must tell the same story.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { importEd25519Raw } from '../../src/crypto/signatures.ts';
import { canonicalBytes } from '../../src/tuf/canonical.ts';
import { openDatabase } from '../../src/storage/database.ts';
import type { SignerTables } from '../../src/signer/schema.ts';
import { fetchCollection } from '../helpers/fetch-collection.ts';
import { parseNotaryList, runNotary } from '../helpers/notary-cli.ts';
import type { NotaryHarness } from '../helpers/notary-harness.ts';
import { notaryPeersUnavailableReason } from '../helpers/notary-harness.ts';
import { startNotaryServer } from '../helpers/notary-peers.ts';
import type { NotaryPeer } from '../helpers/notary-peers.ts';
import { logTail } from '../helpers/processes.ts';
import { DELEGATION_ROLE, buildNotaryCollection } from '../helpers/scenarios.ts';
import { generateTestPki } from '../helpers/tls.ts';
import { startVouchSigner } from './helpers/vouch-signer.ts';

const peersMissing = notaryPeersUnavailableReason();

interface Envelope {
  readonly signed: { readonly roles?: Record<string, { keyids: string[] }>; readonly keys?: Record<string, { keytype: string; keyval: { public: string } }> };
  readonly signatures: readonly { readonly keyid: string; readonly method: string; readonly sig: string }[];
}

const parse = (b: Buffer | undefined): Envelope => {
  assert.ok(b);
  return JSON.parse(b.toString('utf8')) as Envelope;
};

/** Checks every signature of `env` against the key of that ID in `root`, and returns the key IDs. */
function verifiedKeyIds(env: Envelope, root: Envelope): string[] {
  const keys = root.signed.keys ?? {};
  return env.signatures.map((s) => {
    const key = keys[s.keyid];
    assert.ok(key, `root lists key ${s.keyid}`);
    assert.equal(key.keytype, 'ecdsa');
    assert.equal(s.method, 'ecdsa');
    const pub = createPublicKey({ key: Buffer.from(key.keyval.public, 'base64'), format: 'der', type: 'spki' });
    const sig = Buffer.from(s.sig, 'base64');
    assert.equal(sig.length, 64, 'raw r‖s');
    assert.ok(verify('sha256', canonicalBytes(env.signed), { key: pub, dsaEncoding: 'ieee-p1363' }, sig), `signature by ${s.keyid}`);
    return s.keyid;
  });
}

void describe('notary-server → vouch signer (mutual TLS) with the real notary client', { skip: peersMissing ?? false, timeout: 120_000 }, () => {
  let workDir: string;
  let signer: NotaryPeer;
  let server: NotaryPeer;
  let harness: NotaryHarness;

  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'vouch-signer-interop-'));
    const pki = generateTestPki(join(workDir, 'pki'));
    signer = await startVouchSigner({ pki, workDir, logLevel: 'debug' });
    server = await startNotaryServer({ pki, workDir, trustService: { type: 'remote', signer } });
    let n = 0;
    harness = {
      workDir, pki, url: server.url, caFile: pki.caFile, server, signer,
      newDir: (name) => { const d = join(workDir, `${name}-${n++}`); mkdirSync(d); return d; },
      logs: () => `--- notary-server ---\n${logTail(server.logFile)}\n--- vouch signer ---\n${logTail(signer.logFile)}`,
      stop: async () => { await server.stop(); await signer.stop(); },
    };
  });
  after(async () => {
    await harness?.stop();
    if (process.env['VOUCH_KEEP_TEST_DIRS'] !== '1') rmSync(workDir, { recursive: true, force: true });
  });

  void test('init, publish, delegation, rotations, then timestamp and snapshot rotations with -r', async () => {
    let c;
    try {
      c = await buildNotaryCollection(harness, { gun: 'example.com/vouch/remote-signer' });
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${harness.logs()}`, { cause: e });
    }
    const files1 = c.files;
    const root1 = parse(files1.get('root.json'));
    const ts1 = verifiedKeyIds(parse(files1.get('timestamp.json')), root1);
    const snap1 = verifiedKeyIds(parse(files1.get('snapshot.json')), root1);
    assert.deepEqual(ts1, root1.signed.roles?.['timestamp']?.keyids);
    assert.deepEqual(snap1, root1.signed.roles?.['snapshot']?.keyids);

    const opts = { trustDir: c.trustDir, serverUrl: server.url, caFile: harness.caFile, expectCode: 0 };
    await runNotary(['key', 'rotate', c.gun, 'timestamp', '-r'], opts);
    await runNotary(['key', 'rotate', c.gun, 'snapshot', '-r'], opts);
    const listing = (await runNotary(['list', c.gun], opts)).stdout;
    assert.deepEqual(parseNotaryList(listing).map((r) => r.name).sort(), ['v1', 'v2']);

    const files2 = await fetchCollection(server.url, c.gun, harness.caFile);
    const root2 = parse(files2.get('root.json'));
    const ts2 = verifiedKeyIds(parse(files2.get('timestamp.json')), root2);
    const snap2 = verifiedKeyIds(parse(files2.get('snapshot.json')), root2);
    assert.deepEqual(ts2, root2.signed.roles?.['timestamp']?.keyids);
    assert.deepEqual(snap2, root2.signed.roles?.['snapshot']?.keyids);
    assert.notDeepEqual(ts2, ts1, 'the timestamp key changed');
    assert.notDeepEqual(snap2, snap1, 'the snapshot key changed');
    assert.ok(files2.has(`${DELEGATION_ROLE}.json`));

    // The Vouch signer's database holds all four keys, each used, under the configured alias.
    const db = openDatabase<SignerTables>({ backend: 'sqlite3', dbUrl: join(workDir, 'vouch-signer.db') });
    try {
      const rows = await db.db.selectFrom('private_keys').select(['key_id', 'gun', 'role', 'algorithm', 'passphrase_alias', 'last_used', 'deleted_at']).execute();
      for (const [keyId, role] of [[ts1[0], 'timestamp'], [ts2[0], 'timestamp'], [snap1[0], 'snapshot'], [snap2[0], 'snapshot']] as const) {
        const r = rows.find((x) => x.key_id === keyId);
        assert.ok(r, `signer holds ${role} key ${keyId}`);
        assert.equal(r.role, role);
        assert.equal(r.gun, c.gun);
        assert.equal(r.algorithm, 'ecdsa');
        assert.equal(r.passphrase_alias, 'vouchtest');
        assert.notEqual(r.last_used, null, `${role} key ${keyId} marked used`);
      }
    } finally {
      await db.close();
    }
    // The signer's log never carries key material.
    const log = signer.logs();
    assert.doesNotMatch(log, /PRIVATE KEY|eyJhbGciOi|vouch-signer-passphrase/);
    assert.match(log, /"msg":"CreateKey"/);
  });
  void test('key_algorithm ed25519: notary-server gets ed25519 timestamp keys from vouch signer', async () => {
    const ed = await startNotaryServer({ pki: harness.pki, workDir, trustService: { type: 'remote', signer, keyAlgorithm: 'ed25519' } });
    try {
      const gun = 'example.com/vouch/ed25519';
      const trustDir = join(harness.newDir('ed-client'), 'trust');
      mkdirSync(trustDir);
      const opts = { trustDir, serverUrl: ed.url, caFile: harness.caFile, expectCode: 0 };
      await runNotary(['init', gun, '-p'], opts);
      await runNotary(['key', 'rotate', gun, 'timestamp', '-r'], opts);
      await runNotary(['list', gun], opts);
      const files = await fetchCollection(ed.url, gun, harness.caFile);
      const root = parse(files.get('root.json'));
      const ts = parse(files.get('timestamp.json'));
      const [keyId] = root.signed.roles?.['timestamp']?.keyids ?? [];
      assert.ok(keyId);
      const key = root.signed.keys?.[keyId];
      assert.equal(key?.keytype, 'ed25519');
      assert.equal(ts.signatures.length, 1);
      assert.equal(ts.signatures[0]!.keyid, keyId);
      assert.equal(ts.signatures[0]!.method, 'eddsa');
      const pub = importEd25519Raw(Buffer.from(key.keyval.public, 'base64'));
      assert.ok(verify(null, canonicalBytes(ts.signed), pub, Buffer.from(ts.signatures[0]!.sig, 'base64')));
    } finally {
      await ed.stop();
    }
  });
});

// Two `vouch server` processes on one PostgreSQL database (metadata and signer keys): a publish
// through either one is served by the other at once — their in-process caches are invalidated
// by LISTEN/NOTIFY — over repeated alternating publishes and reads by the real notary client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { httpsGet, roleUrl } from '../helpers/fetch-collection.ts';
import { runNotary } from '../helpers/notary-cli.ts';
import { notaryPeersUnavailableReason } from '../helpers/notary-harness.ts';
import { generateTestPki, type TestPki } from '../helpers/tls.ts';
import { createThrowawayDatabase, backendUnavailableReason, type ThrowawayDatabase } from '../signer/helpers/databases.ts';
import { startServerProcess, stopServerProcess, type ServerProcess } from './cli-process.ts';

const skip = notaryPeersUnavailableReason() ?? backendUnavailableReason('postgres');

void describe('two vouch server replicas on one PostgreSQL', { skip: skip ?? false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-replicas-'));
  let db: ThrowawayDatabase;
  let pki: TestPki;
  const servers: ServerProcess[] = [];
  before(async () => {
    db = createThrowawayDatabase('postgres', dir);
    pki = generateTestPki(join(dir, 'pki'));
    const config = join(dir, 'server.json');
    writeFileSync(config, JSON.stringify({
      server: { http_addr: '127.0.0.1:0', tls_cert_file: pki.server.certFile, tls_key_file: pki.server.keyFile },
      trust_service: { type: 'local', key_algorithm: 'ecdsa' },
      storage: { backend: 'postgres', db_url: db.config.dbUrl },
    }));
    // Sequential starts: the second applies no migration the first has not.
    for (let i = 0; i < 2; i++) servers.push(await startServerProcess(['--config', config], { HOME: dir, NOTARY_SIGNER_VOUCH: 'replica-passphrase' }));
  });
  after(async () => {
    for (const s of servers) await stopServerProcess(s);
    db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  void test('a publish through one replica is served by the other immediately', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const trustA = join(dir, 'trust-a');
    const trustB = join(dir, 'trust-b');
    for (const d of [trustA, trustB]) mkdirSync(d, { mode: 0o700 });
    const gun = 'example.com/replicated';
    const via = (s: ServerProcess, trustDir: string, args: string[]) => runNotary(args, { trustDir, serverUrl: s.url, caFile: pki.caFile, expectCode: 0 });
    await via(a, trustA, ['init', gun, '-p']);
    // Warm both caches.
    for (const s of servers) assert.equal((await httpsGet(roleUrl(s.url, gun, 'timestamp.json'), pki.caFile)).status, 200);
    // The two trust dirs share the repository's keys: B's client publishes with A's keys.
    rmSync(trustB, { recursive: true, force: true });
    const { cpSync } = await import('node:fs');
    cpSync(trustA, trustB, { recursive: true });
    for (let i = 0; i < 8; i++) {
      const [writer, reader, wDir, rDir] = i % 2 === 0 ? [a, b, trustA, trustB] : [b, a, trustB, trustA];
      await via(writer, wDir, ['addhash', gun, `t${i}`, '1', '--sha256', String(i).repeat(64).slice(0, 64).replace(/[^0-9a-f]/g, 'a'), '-p']);
      const list = await via(reader, rDir, ['list', gun]);
      for (let j = 0; j <= i; j++) assert.match(list.stdout, new RegExp(`^t${j} `, 'm'), `round ${i}: t${j} is served by the other replica`);
      const ts = [await httpsGet(roleUrl(a.url, gun, 'timestamp.json'), pki.caFile), await httpsGet(roleUrl(b.url, gun, 'timestamp.json'), pki.caFile)];
      assert.deepEqual(ts[0]!.body, ts[1]!.body, `round ${i}: both replicas serve the same timestamp`);
    }
  });
});

// PostgreSQL outage (docs/compatibility.md §4 "DB outage"): `vouch server --config` runs as its own
// process on a private PostgreSQL that is stopped with `-m immediate` while clients read and
// publish. Failed requests answer 503 within the connect timeout + 1 s, health turns 503, the
// process survives, and after the database returns the same process serves and publishes again
// within 5 s with no partial writes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { openDatabase } from '../../src/storage/database.ts';
import type { ServerTables } from '../../src/server/sql-schema.ts';
import { SqlMetaStore } from '../../src/server/sql-store.ts';
import { httpsGet, roleUrl } from '../helpers/fetch-collection.ts';
import { runNotary } from '../helpers/notary-cli.ts';
import { notaryPeersUnavailableReason } from '../helpers/notary-harness.ts';
import { generateTestPki, type TestPki } from '../helpers/tls.ts';
import { assertChainWhole } from './chain.ts';
import { startServerProcess, stopServerProcess, type ServerProcess } from './cli-process.ts';
import { privatePostgresUnavailableReason, startPrivatePostgres, type PrivatePostgres } from './private-postgres.ts';

const skip = notaryPeersUnavailableReason() ?? privatePostgresUnavailableReason();

void describe('vouch server on a PostgreSQL that stops and comes back', { skip: skip ?? false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-pg-outage-'));
  let pg: PrivatePostgres;
  let pki: TestPki;
  let server: ServerProcess;
  before(async () => {
    pg = await startPrivatePostgres();
    pki = generateTestPki(join(dir, 'pki'));
    const config = join(dir, 'server.json');
    writeFileSync(config, JSON.stringify({
      server: { http_addr: '127.0.0.1:0', tls_cert_file: pki.server.certFile, tls_key_file: pki.server.keyFile },
      trust_service: { type: 'local', key_algorithm: 'ecdsa', storage: { backend: 'sqlite3', db_url: join(dir, 'keys.db') } },
      storage: { backend: 'postgres', db_url: pg.url },
      logging: { level: 'error' },
    }));
    server = await startServerProcess(['--config', config], { HOME: dir, NOTARY_SIGNER_VOUCH: 'outage-test-passphrase' });
  });
  after(async () => {
    if (server !== undefined) await stopServerProcess(server);
    pg?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  void test('503 within the timeout, health 503, the process survives, service resumes within 5 s', async () => {
    const trustDir = join(dir, 'trust');
    mkdirSync(trustDir, { mode: 0o700 });
    const notary = (args: string[]) => runNotary(args, { trustDir, serverUrl: server.url, caFile: pki.caFile });
    const gun = 'example.com/pg/outage';
    assert.equal((await notary(['init', gun, '-p'])).code, 0);
    assert.equal((await notary(['addhash', gun, 'before', '1', '--sha256', 'a'.repeat(64), '-p'])).code, 0);

    const cached = await httpsGet(roleUrl(server.url, gun, 'timestamp.json'), pki.caFile);
    assert.equal(cached.status, 200);
    pg.stop();
    const served = await httpsGet(roleUrl(server.url, gun, 'timestamp.json'), pki.caFile);
    assert.equal(served.status, 200, 'current metadata stays served from the cache while nobody can write');
    assert.deepEqual(served.body, cached.body);
    for (const file of ['1.root.json', `2.timestamp.json`]) {
      const t0 = Date.now();
      const res = await httpsGet(roleUrl(server.url, gun, file), pki.caFile);
      const ms = Date.now() - t0;
      assert.equal(res.status, 503, `${file}: ${res.body.toString()}`);
      assert.equal(res.body.toString(), '{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}\n');
      assert.ok(ms < 6_000, `${file} answered after ${ms} ms (connect timeout 5 s)`);
    }
    const failed = await notary(['addhash', gun, 'during', '1', '--sha256', 'b'.repeat(64), '-p']);
    assert.notEqual(failed.code, 0);
    const health = await httpsGet(`${server.url}/_notary_server/health`, pki.caFile);
    assert.equal(health.status, 503, `${health.body.toString()}\n${server.output()}`);
    assert.match(health.body.toString(), /^\{"DB operational":"cannot access table: tuf_files: .+"\}$/);
    assert.equal(server.child.exitCode, null, `the server process survived the outage:\n${server.output()}`);

    pg.start();
    const restarted = Date.now();
    let status = 0;
    while (status !== 200 && Date.now() - restarted < 5_000) {
      status = (await httpsGet(roleUrl(server.url, gun, '1.root.json'), pki.caFile)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200, 'reads succeed within 5 s of the database restart');
    // The notary client keeps the change that failed staged (docs/compatibility.md §3), so publish sends it now.
    assert.equal((await notary(['publish', gun])).code, 0);
    const list = await notary(['list', gun]);
    assert.match(list.stdout, /^before /m);
    assert.match(list.stdout, /^during /m);
    const healed = await httpsGet(`${server.url}/_notary_server/health`, pki.caFile);
    assert.equal(healed.status, 200, `${healed.body.toString()}\n${server.output()}`);

    const config = { backend: 'postgres' as const, dbUrl: pg.url };
    const check = await SqlMetaStore.open(openDatabase<ServerTables>(config), {});
    try {
      await assertChainWhole(check, gun);
      const feed = await check.getChanges({ changeId: 0, records: 100, reversed: false, gun });
      assert.deepEqual(feed.map((c) => c.version), [1, 2, 3], 'one timestamp per accepted publish, none for the failed one');
    } finally {
      await check.close();
    }
  });
});

// `vouch server` started from a notary-server JSON configuration whose trust service is the real
// Debian notary-signer (mutual TLS gRPC), on SQLite and on PostgreSQL: the notary client's whole
// lifecycle must work, the server's health must report the signer, and stopping the signer must
// give clean errors that heal without a restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { startFromConfig } from '../../src/server/bootstrap.ts';
import { parseServerConfig } from '../../src/server/config.ts';
import { httpsGet, roleUrl } from '../helpers/fetch-collection.ts';
import { notaryPeersUnavailableReason } from '../helpers/notary-harness.ts';
import { DEFAULT_SIGNER_ALIAS, DEFAULT_SIGNER_PASSPHRASE, NOTARY_SIGNER_BIN, startNotarySigner, type NotaryPeer } from '../helpers/notary-peers.ts';
import { spawnManaged } from '../helpers/processes.ts';
import { postgresUnavailableReason } from '../helpers/postgres.ts';
import { startVouchHarness, type VouchHarness } from './harness.ts';
import { runLifecycle } from './lifecycle.ts';
import { createThrowawayDatabase, type ThrowawayDatabase } from '../signer/helpers/databases.ts';

const missing = notaryPeersUnavailableReason();

for (const backend of ['sqlite3', 'postgres'] as const) {
  const reason = missing !== undefined ? `notary peers unavailable: ${missing}` : backend === 'postgres' ? postgresUnavailableReason() : undefined;
  void describe(`vouch server with the Debian notary-signer as remote signer (${backend})`, { skip: reason ?? false }, () => {
    let h: VouchHarness;
    let signer: NotaryPeer;
    let db: ThrowawayDatabase | undefined;
    before(async () => {
      h = await startVouchHarness({
        start: async (pki, workDir, logger) => {
          signer = await startNotarySigner({ pki, workDir, storage: backend === 'postgres' ? 'postgres' : 'memory' });
          db = createThrowawayDatabase(backend, workDir);
          const file = join(workDir, 'server.json');
          writeFileSync(file, JSON.stringify({
            server: { http_addr: '127.0.0.1:0', tls_cert_file: pki.server.certFile, tls_key_file: pki.server.keyFile },
            trust_service: {
              type: 'remote', hostname: '127.0.0.1', port: String(signer.port), key_algorithm: 'ecdsa',
              tls_ca_file: pki.caFile, tls_client_cert: pki.client.certFile, tls_client_key: pki.client.keyFile,
            },
            storage: { backend, db_url: db.config.dbUrl },
            logging: { level: 'error' },
          }));
          return startFromConfig(parseServerConfig(readFileSync(file, 'utf8'), file, {}), {
            env: {}, logger, overrides: { healthIntervalMs: 200 },
          });
        },
      });
    });
    after(async () => {
      await h?.stop();
      await signer?.stop();
      db?.drop();
    });

    void test('the notary client lifecycle works through notary-signer', async () => {
      await runLifecycle(h, 'example.com/remote/signer');
      const health = await httpsGet(`${h.url}/_notary_server/health`, h.caFile);
      assert.equal(health.status, 200);
      assert.equal(health.body.toString(), '{}');
    });

    void test('a hung, then killed signer: 503 within the deadline, fresh reads still served, health 503, recovery without restart', async () => {
      const gun = 'example.com/remote/outage';
      await h.notary(['init', gun, '-p'], { expectCode: 0 });
      const group = -signer.process.pid;
      process.kill(group, 'SIGSTOP');
      try {
        let t0 = Date.now();
        const key = await httpsGet(roleUrl(h.url, 'example.com/remote/new', 'timestamp.key'), h.caFile);
        assert.ok(Date.now() - t0 < 6_500, `answered after ${Date.now() - t0} ms: within the 5 s gRPC deadline plus 1 s`);
        assert.equal(key.status, 503);
        assert.equal(key.body.toString(), '{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}\n');
        t0 = Date.now();
        const publish = await h.notary(['addhash', gun, 'x', '1', '--sha256', 'c'.repeat(64), '-p']);
        assert.notEqual(publish.code, 0);
        assert.ok(Date.now() - t0 < 8_000, 'the publish fails, it does not hang');
        assert.equal((await httpsGet(roleUrl(h.url, gun, 'timestamp.json'), h.caFile)).status, 200, 'an unexpired timestamp is served from storage');
        await h.server.health.runAll();
        const health = await httpsGet(`${h.url}/_notary_server/health`, h.caFile);
        assert.equal(health.status, 503);
        assert.match(health.body.toString(), /^\{"Trust operational":".+"\}$/);
      } finally {
        process.kill(group, 'SIGCONT');
      }
      const deadline = Date.now() + 5_000;
      let last;
      do {
        last = await h.notary(['publish', gun]);
        if (last.code === 0) break;
        await new Promise((r) => setTimeout(r, 250));
      } while (Date.now() < deadline);
      assert.equal(last.code, 0, `publishing again within 5 s after the signer resumed: ${last.stderr}`);
      await h.server.health.runAll();
      assert.equal((await httpsGet(`${h.url}/_notary_server/health`, h.caFile)).status, 200);

      await signer.process.stop();
      const refused = await httpsGet(roleUrl(h.url, 'example.com/remote/new2', 'timestamp.key'), h.caFile);
      assert.equal(refused.status, 503);
      const env = { PATH: '/usr/bin:/bin', HOME: h.workDir, TZ: 'UTC', [`NOTARY_SIGNER_${DEFAULT_SIGNER_ALIAS.toUpperCase()}`]: DEFAULT_SIGNER_PASSPHRASE };
      const again = spawnManaged(NOTARY_SIGNER_BIN, ['-config', signer.configFile], { cwd: h.workDir, env, logFile: `${signer.logFile}.2` });
      try {
        const until = Date.now() + 10_000;
        let ok = false;
        while (!ok && Date.now() < until) {
          ok = (await httpsGet(roleUrl(h.url, 'example.com/remote/new3', 'timestamp.key'), h.caFile)).status === 200;
          if (!ok) await new Promise((r) => setTimeout(r, 250));
        }
        assert.ok(ok, 'the restarted signer is used without restarting vouch server');
        await h.notary(['init', 'example.com/remote/after', '-p'], { expectCode: 0 });
      } finally {
        await again.stop();
      }
    });
  });
}

// Crash safety of metadata writes (docs/compatibility.md §4): `vouch server` is SIGKILLed at a random
// moment while the notary client publishes, then restarted on the same database. After every
// kill the database is intact, every GUN's chain (latest timestamp → snapshot → listed files) is
// whole, and a fresh client reads the repository. Fewer kills than the plan's 200/50, because
// each restart of a TypeScript process costs about two seconds here.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

import { openDatabase } from '../../src/storage/database.ts';
import type { ServerTables } from '../../src/server/sql-schema.ts';
import { SqlMetaStore } from '../../src/server/sql-store.ts';
import { runNotary } from '../helpers/notary-cli.ts';
import { notaryPeersUnavailableReason } from '../helpers/notary-harness.ts';
import { generateTestPki } from '../helpers/tls.ts';
import { backendUnavailableReason, createThrowawayDatabase } from '../signer/helpers/databases.ts';
import { assertChainWhole } from './chain.ts';
import { startServerProcess, type ServerProcess } from './cli-process.ts';

const KILLS: Record<'sqlite3' | 'postgres', number> = { sqlite3: 12, postgres: 6 };
const GUN = 'example.com/crash';

function kill9(s: ServerProcess): Promise<void> {
  return new Promise((resolve) => {
    if (s.child.exitCode !== null || s.child.signalCode !== null) {
      resolve();
      return;
    }
    s.child.removeAllListeners('exit');
    s.child.once('exit', () => resolve());
    s.child.kill('SIGKILL');
  });
}

for (const backend of ['sqlite3', 'postgres'] as const) {
  const skip = notaryPeersUnavailableReason() ?? backendUnavailableReason(backend);
  void describe(`SIGKILL during publishes (${backend})`, { skip: skip ?? false }, () => {
    const dir = mkdtempSync(join(tmpdir(), `vouch-crash-${backend}-`));
    after(() => rmSync(dir, { recursive: true, force: true }));

    void test(`${KILLS[backend]} kills: intact database, whole chains, readable repository`, async () => {
      const db = createThrowawayDatabase(backend, dir);
      const pki = generateTestPki(join(dir, 'pki'));
      const config = join(dir, 'server.json');
      writeFileSync(config, JSON.stringify({
        server: { http_addr: '127.0.0.1:0', tls_cert_file: pki.server.certFile, tls_key_file: pki.server.keyFile },
        trust_service: { type: 'local', storage: { backend: 'sqlite3', db_url: join(dir, 'keys.db') } },
        storage: { backend, db_url: db.config.dbUrl },
      }));
      const env = { HOME: dir, NOTARY_SIGNER_VOUCH: 'crash-test-passphrase' };
      const trustDir = join(dir, 'trust');
      mkdirSync(trustDir, { mode: 0o700 });
      try {
        let server = await startServerProcess(['--config', config], env);
        await runNotary(['init', GUN, '-p'], { trustDir, serverUrl: server.url, caFile: pki.caFile, expectCode: 0 });
        for (let i = 0; i < KILLS[backend]; i++) {
          // A publish in flight, killed 0–300 ms in; the client keeps its staged change either way.
          const publish = runNotary(['addhash', GUN, `t${i}`, '1', '--sha256', String(i % 10).repeat(64), '-p'], { trustDir, serverUrl: server.url, caFile: pki.caFile });
          await new Promise((r) => setTimeout(r, Math.random() * 300));
          await kill9(server);
          await publish;
          if (backend === 'sqlite3') {
            const raw = new BetterSqlite3(db.config.dbUrl, { readonly: true });
            try {
              assert.equal((raw.pragma('integrity_check') as { integrity_check: string }[])[0]?.integrity_check, 'ok');
            } finally {
              raw.close();
            }
          }
          const check = await SqlMetaStore.open(openDatabase<ServerTables>(db.config), {});
          try {
            await assertChainWhole(check, GUN);
          } finally {
            await check.close();
          }
          server = await startServerProcess(['--config', config], env);
          const fresh = join(dir, `fresh-${i}`);
          mkdirSync(fresh, { mode: 0o700 });
          const list = await runNotary(['list', GUN], { trustDir: fresh, serverUrl: server.url, caFile: pki.caFile });
          assert.equal(list.code, 0, `a fresh client reads the repository after kill ${i}: ${list.stderr}`);
        }
        await runNotary(['publish', GUN], { trustDir, serverUrl: server.url, caFile: pki.caFile, expectCode: 0 });
        const list = await runNotary(['list', GUN], { trustDir, serverUrl: server.url, caFile: pki.caFile, expectCode: 0 });
        for (let i = 0; i < KILLS[backend]; i++) assert.match(list.stdout, new RegExp(`^t${i} `, 'm'), `t${i} survives`);
        await kill9(server);
      } finally {
        db.drop();
      }
    });
  });
}

// SQLite outages (docs/compatibility.md §4 "DB outage"): a writer lock held by another process and a
// full disk. Failed requests answer within busy_timeout + 1 s with a JSON errcode body, nothing is
// half-written, and service resumes without a restart. (PostgreSQL: pg-outage.test.ts.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';

import { sqlitePath } from '../../src/storage/config.ts';
import { assertChainWhole } from './chain.ts';
import { Publisher, testApp, tufPath, type TestApp } from './publisher.ts';
import { openTestStore, type TestStore } from './stores.ts';

const errorCode = (body: string): string => (JSON.parse(body) as { errors: { code: string }[] }).errors[0]!.code;

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  const value = await f();
  return { value, ms: Date.now() - t0 };
}

void describe('SQLite outages', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-sqlite-outage-'));
  let t: TestStore;
  let app: TestApp;
  before(async () => {
    t = await openTestStore('sqlite3', dir);
    app = testApp({ store: t.store });
  });
  after(async () => {
    await app?.close();
    await t?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  void test('another process holding the write lock: 503 within busy_timeout + 1 s, reads go on, then recovery', async () => {
    const pub = new Publisher(app, 'example.com/sqlite/locked');
    await pub.init();
    const { files } = await pub.changeFiles([{ kind: 'addTarget', role: 'targets', name: 'locked', meta: { length: 1, hashes: new Map([['sha256', new Uint8Array(32)]]), unrecognized: {} } }]);
    const other = new BetterSqlite3(sqlitePath(t.db.config.dbUrl));
    other.exec('BEGIN EXCLUSIVE');
    try {
      const res = await timed(() => pub.post(files));
      assert.equal(res.value.statusCode, 503, res.value.body);
      assert.equal(errorCode(res.value.body), 'UNAVAILABLE');
      assert.ok(res.ms < 3_000, `answered after ${res.ms} ms (busy_timeout 2 s)`);
      const read = await app.inject({ method: 'GET', url: tufPath(pub.gun, 'targets.json') });
      assert.equal(read.statusCode, 200, 'WAL readers are not blocked by a writer');
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    await pub.addTarget('after the lock');
    await assertChainWhole(t.store, pub.gun);
  });

  void test('disk full (max_page_count): 500 UPDATING and the database is unchanged', async () => {
    const pub = new Publisher(app, 'example.com/sqlite/full');
    await pub.init();
    const before = (await t.store.getLatest(pub.gun, 'timestamp'))!.version;
    const db = t.store.database.db;
    const pages = (await sql<{ page_count: number }>`pragma page_count`.execute(db)).rows[0]!.page_count;
    await sql.raw(`pragma max_page_count = ${pages}`).execute(db);
    try {
      const { files } = await pub.changeFiles([{ kind: 'addTarget', role: 'targets', name: 'big', meta: { length: 1, hashes: new Map([['sha256', new Uint8Array(32)]]), custom: { pad: 'x'.repeat(200_000) }, unrecognized: {} } }]);
      const res = await pub.post(files);
      assert.equal(res.statusCode, 500, res.body);
      assert.equal(res.body, '{"errors":[{"code":"UPDATING","message":"An error has occurred while updating the TUF repository."}]}\n');
    } finally {
      await sql.raw('pragma max_page_count = 1073741823').execute(db);
    }
    assert.equal((await t.store.getLatest(pub.gun, 'timestamp'))!.version, before);
    assert.equal((await sql<{ integrity_check: string }>`pragma integrity_check`.execute(db)).rows[0]!.integrity_check, 'ok');
    await assertChainWhole(t.store, pub.gun);
    await pub.addTarget('after the disk was freed');
  });
});

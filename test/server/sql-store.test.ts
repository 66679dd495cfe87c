// MetaStore conformance on every backend (memory, SQLite, PostgreSQL, MariaDB): the version rule,
// atomic batches, 50 concurrent writers of one (gun, role, version) with exactly one winner
// (notary's TestSQLUpdateManyConcurrentConflictRollback), deletion, changefeed paging, BIGINT
// versions, byte-exact GUNs, and cross-process change reports.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { MemoryMetaStore, MetaStoreError, type MetaStore, type StoreEvent } from '../../src/server/store.ts';
import { SQL_BACKENDS, backendUnavailableReason, openTestStore, type TestStore } from './stores.ts';

const bytes = (s: string) => new Uint8Array(Buffer.from(s));

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof MetaStoreError && e.code === code);
}

function conformance(name: string, open: () => Promise<{ store: MetaStore; close: () => Promise<void> }>): void {
  void describe(`MetaStore: ${name}`, () => {
    let store: MetaStore;
    let close: () => Promise<void>;
    before(async () => {
      ({ store, close } = await open());
    });
    after(async () => {
      await close?.();
    });

    void test('stores exact bytes; latest, by checksum and by version', async () => {
      const gun = 'example.com/a';
      await store.updateMany(gun, [{ role: 'root', version: 1, data: bytes('r1') }, { role: 'timestamp', version: 1, data: bytes('t1') }]);
      await store.updateMany(gun, [{ role: 'root', version: 2, data: bytes('r2 \u0000 binary') }]);
      const latest = await store.getLatest(gun, 'root');
      assert.equal(latest?.version, 2);
      assert.deepEqual(Buffer.from(latest.data), Buffer.from('r2 \u0000 binary'));
      assert.match(latest.sha256, /^[0-9a-f]{64}$/);
      assert.ok(Math.abs(latest.createdAt.getTime() - Date.now()) < 60_000, `createdAt ${latest.createdAt.toISOString()} is UTC now`);
      assert.equal((await store.getChecksum(gun, 'root', latest.sha256.toUpperCase()))?.version, 2);
      assert.equal((await store.getVersion(gun, 'root', 1))?.version, 1);
      assert.equal(await store.getVersion(gun, 'root', 3), undefined);
      assert.equal(await store.getLatest(gun, 'targets'), undefined);
      assert.equal(await store.getLatest('example.com/A', 'root'), undefined, 'GUNs are compared byte for byte');
    });

    void test('a stale or duplicate version fails the whole batch with VERSION_CONFLICT', async () => {
      const gun = 'example.com/b';
      await store.updateMany(gun, [{ role: 'targets', version: 3, data: bytes('t3') }]);
      await rejectsWith(store.updateMany(gun, [{ role: 'root', version: 1, data: bytes('x') }, { role: 'targets', version: 3, data: bytes('t3b') }]), 'VERSION_CONFLICT');
      await rejectsWith(store.updateMany(gun, [{ role: 'targets', version: 2, data: bytes('t2') }]), 'VERSION_CONFLICT');
      await rejectsWith(store.updateMany(gun, [{ role: 'snapshot', version: 1, data: bytes('a') }, { role: 'snapshot', version: 1, data: bytes('b') }]), 'VERSION_CONFLICT');
      assert.equal(await store.getLatest(gun, 'root'), undefined, 'nothing of a failed batch is written');
      assert.equal(await store.getLatest(gun, 'snapshot'), undefined);
    });

    void test('50 concurrent writers of one version: exactly one wins, 49 VERSION_CONFLICT, nothing else', async () => {
      const gun = 'example.com/race';
      const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => store.updateMany(gun, [
        { role: 'targets', version: 1, data: bytes(`t${i}`) }, { role: 'timestamp', version: 1, data: bytes(`ts${i}`) },
      ])));
      const won = results.filter((r) => r.status === 'fulfilled').length;
      const lost = results.filter((r) => r.status === 'rejected' && r.reason instanceof MetaStoreError && r.reason.code === 'VERSION_CONFLICT').length;
      assert.deepEqual({ won, lost }, { won: 1, lost: 49 }, JSON.stringify(results.find((r) => r.status === 'rejected' && !(r.reason instanceof MetaStoreError && r.reason.code === 'VERSION_CONFLICT'))));
      const t = await store.getLatest(gun, 'targets');
      const ts = await store.getLatest(gun, 'timestamp');
      assert.equal(Buffer.from(t!.data).toString().slice(1), Buffer.from(ts!.data).toString().slice(2), 'the winner wrote both rows');
    });

    void test('versions above 2^31 are stored (Cure53 TUF-01-002)', async () => {
      await store.updateMany('example.com/big', [{ role: 'targets', version: 2147483647, data: bytes('a') }]);
      await store.updateMany('example.com/big', [{ role: 'targets', version: 2147483648, data: bytes('b') }]);
      assert.equal((await store.getLatest('example.com/big', 'targets'))?.version, 2147483648);
    });

    void test('changefeed: one update per timestamp, a deletion per deleted GUN, notary paging', async () => {
      const start = await store.getChanges({ changeId: 0, records: 10_000, reversed: false });
      const base = start.at(-1)?.id ?? 0;
      const gun = 'example.com/feed';
      await store.updateMany(gun, [{ role: 'root', version: 1, data: bytes('r') }, { role: 'timestamp', version: 1, data: bytes('ts1') }]);
      await store.updateMany(gun, [{ role: 'timestamp', version: 2, data: bytes('ts2') }]);
      await store.deleteGun(gun);
      await store.deleteGun(gun); // nothing left: no second deletion row
      assert.equal(await store.getLatest(gun, 'root'), undefined);
      const mine = await store.getChanges({ changeId: base, records: 100, reversed: false, gun });
      assert.deepEqual(mine.map((c) => [c.version, c.category, c.sha256.length]), [[1, 'update', 64], [2, 'update', 64], [0, 'deletion', 0]]);
      assert.ok(mine.every((c, i) => i === 0 || c.id > mine[i - 1]!.id));
      const lastTwo = await store.getChanges({ changeId: -1, records: 2, reversed: true, gun });
      assert.deepEqual(lastTwo.map((c) => c.id), mine.slice(1).map((c) => c.id));
      const before = await store.getChanges({ changeId: mine[2]!.id, records: 1, reversed: true, gun });
      assert.deepEqual(before.map((c) => c.id), [mine[1]!.id]);
    });

    void test('health check passes', async () => {
      await store.checkHealth();
    });
  });
}

conformance('memory', () => {
  const store = new MemoryMetaStore();
  return Promise.resolve({ store, close: () => store.close() });
});

for (const backend of SQL_BACKENDS) {
  const reason = backendUnavailableReason(backend);
  if (reason !== undefined) {
    void test(`MetaStore: ${backend}`, { skip: reason }, () => undefined);
    continue;
  }
  const dir = mkdtempSync(join(tmpdir(), `vouch-store-${backend}-`));
  let t: TestStore;
  conformance(backend, async () => {
    t = await openTestStore(backend, dir);
    return { store: t.store, close: async () => { await t.drop(); rmSync(dir, { recursive: true, force: true }); } };
  });

  void test(`${backend}: a second process sees writes and its listener is told`, async () => {
    const d = mkdtempSync(join(tmpdir(), `vouch-store2-${backend}-`));
    const a = await openTestStore(backend, d, { pollMs: 50 });
    try {
      const b = await a.reopen({ pollMs: 50 });
      const events: StoreEvent[] = [];
      b.watch((e) => events.push(e));
      const deadline = Date.now() + 5_000;
      while (!events.some((e) => e.type === 'live') && !b.watch(() => undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      events.length = 0;
      await a.store.updateMany('example.com/x', [{ role: 'timestamp', version: 1, data: bytes('ts') }]);
      while (events.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const expected: StoreEvent = backend === 'postgres' ? { type: 'changed', gun: 'example.com/x' } : { type: 'live' };
      assert.deepEqual(events[0], expected);
      assert.equal((await b.getLatest('example.com/x', 'timestamp'))?.version, 1);
    } finally {
      await a.drop();
      rmSync(d, { recursive: true, force: true });
    }
  });
}

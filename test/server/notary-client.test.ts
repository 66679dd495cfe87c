// The real notary 0.7 client against `vouch server`: the full lifecycle of issue #5 on every
// storage backend available here (memory, SQLite, PostgreSQL, MariaDB). Skipped with the reason
// when the notary binary or a database is missing.
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { MetaStore } from '../../src/server/store.ts';
import { notaryPeersUnavailableReason } from '../helpers/notary-harness.ts';
import { startVouchHarness, type VouchHarness } from './harness.ts';
import { runLifecycle } from './lifecycle.ts';
import { SQL_BACKENDS, backendUnavailableReason, openTestStore, type TestStore } from './stores.ts';

const missing = notaryPeersUnavailableReason();
const clientSkip = missing === undefined ? undefined : `real notary client unavailable: ${missing}`;

for (const backend of ['memory', ...SQL_BACKENDS] as const) {
  const skip = clientSkip ?? (backend === 'memory' ? undefined : backendUnavailableReason(backend)) ?? false;
  void describe(`notary client against vouch server (${backend})`, { skip }, () => {
    let h: VouchHarness;
    let t: TestStore | undefined;
    let dir: string | undefined;
    before(async () => {
      let store: MetaStore | undefined;
      if (backend !== 'memory') {
        dir = mkdtempSync(join(tmpdir(), 'vouch-client-'));
        t = await openTestStore(backend, dir);
        store = t.store;
      }
      h = await startVouchHarness(store !== undefined ? { store } : {});
    });
    after(async () => {
      await h?.stop();
      t?.db.drop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });
    void test('init, add, addhash, remove, rotations, delegations, witness, delete --remote', async () => {
      await runLifecycle(h);
    });
  });
}

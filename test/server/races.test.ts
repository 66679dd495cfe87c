// Racing publishers over HTTP (docs/compatibility.md §4 (b) and (c)) on every store available here.
import { after, describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { openMemorySigningService } from '../../src/signer/embedded.ts';
import { MemoryMetaStore, type MetaStore } from '../../src/server/store.ts';
import { testApp } from './publisher.ts';
import { racingWriters, retryingPublishers, slowSigner } from './races.ts';
import { SQL_BACKENDS, backendUnavailableReason, openTestStore, type TestStore } from './stores.ts';

for (const backend of ['memory', ...SQL_BACKENDS] as const) {
  const skip = (backend === 'memory' ? undefined : backendUnavailableReason(backend)) ?? false;
  void describe(`racing publishers (${backend})`, { skip }, () => {
    const opened: TestStore[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'vouch-race-'));
    const store = async (): Promise<MetaStore> => {
      if (backend === 'memory') return new MemoryMetaStore();
      const t = await openTestStore(backend, dir);
      opened.push(t);
      return t.store;
    };
    after(async () => {
      for (const t of opened) await t.drop();
      rmSync(dir, { recursive: true, force: true });
    });
    void test('50 writers of one version with a 200 ms signer: exactly one wins, 49 get 400 VERSION', async () => {
      await racingWriters(testApp({ store: await store(), signer: slowSigner(openMemorySigningService(), 200) }), 'example.com/race', 50);
    });
    void test('20 publishers x 10 publishes retrying on VERSION lose no target', async () => {
      await retryingPublishers(testApp({ store: await store() }), 'example.com/retry', 20, 10);
    });
  });
}

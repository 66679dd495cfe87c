/** The consistency check of docs/compatibility.md §4 shared by the outage and crash tests. */
import assert from 'node:assert/strict';
import { readPointer } from '../../src/server/current.ts';
import type { MetaStore } from '../../src/server/store.ts';

/** Every GUN's chain is whole: latest timestamp → its snapshot → every file the snapshot lists. */
export async function assertChainWhole(store: MetaStore, gun: string): Promise<void> {
  const ts = await store.getLatest(gun, 'timestamp');
  assert.ok(ts, 'a timestamp exists');
  const snapSha = readPointer(ts.data, 'timestamp')?.meta.get('snapshot');
  const snapshot = await store.getChecksum(gun, 'snapshot', snapSha!);
  assert.ok(snapshot, 'the timestamp points at a stored snapshot');
  for (const [role, sha] of readPointer(snapshot.data, 'snapshot')!.meta) {
    assert.ok(await store.getChecksum(gun, role, sha), `${role} listed by the snapshot is stored`);
  }
}


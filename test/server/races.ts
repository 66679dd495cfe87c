/**
 * Concurrency scenarios of docs/compatibility.md §4, reusable on every store: (b) N publishers post
 * the same next version at once — exactly one wins, the rest get 400 VERSION, never 500; (c)
 * publishers retrying on VERSION lose no update.
 */
import assert from 'node:assert/strict';

import { fileMetaOf } from '../../src/tuf/verify.ts';
import type { SigningBackend } from '../../src/server/signing.ts';
import { Publisher, type TestApp } from './publisher.ts';

/** A signer that answers every Sign after `delayMs`: widens the race window across awaits. */
export function slowSigner(inner: SigningBackend, delayMs: number): SigningBackend {
  return {
    createKey: (req) => inner.createKey(req),
    getKeyInfo: (id) => inner.getKeyInfo(id),
    sign: async (id, content) => {
      await new Promise((r) => setTimeout(r, delayMs));
      return inner.sign(id, content);
    },
    close: () => inner.close(),
  };
}

export async function racingWriters(app: TestApp, gun: string, writers: number): Promise<void> {
  const owner = new Publisher(app, gun);
  await owner.init();
  await owner.addTarget('base');
  const prepared = await Promise.all(Array.from({ length: writers }, async (_, i) => {
    const p = new Publisher(app, gun, { keysFrom: owner });
    return (await p.changeFiles([{ kind: 'addTarget', role: 'targets', name: `w${i}`, meta: fileMetaOf(Buffer.from(String(i))) }])).files;
  }));
  const results = await Promise.all(prepared.map((files) => owner.post(files)));
  const codes = results.map((r) => (r.statusCode === 200 ? '200' : `${r.statusCode} ${(JSON.parse(r.body) as { errors: { code: string }[] }).errors[0]?.code}`));
  const tally = new Map<string, number>();
  for (const c of codes) tally.set(c, (tally.get(c) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(tally), { '200': 1, '400 VERSION': writers - 1 });
  const ts = await app.store.getLatest(gun, 'timestamp');
  assert.equal(ts?.version, 3, 'one timestamp per accepted publish');
}

export async function retryingPublishers(app: TestApp, gun: string, publishers: number, each: number): Promise<void> {
  const owner = new Publisher(app, gun);
  await owner.init();
  let conflicts = 0;
  await Promise.all(Array.from({ length: publishers }, async (_, p) => {
    const me = new Publisher(app, gun, { keysFrom: owner });
    for (let i = 0; i < each; i++) {
      for (let attempt = 0; ; attempt++) {
        assert.ok(attempt < 500, 'too many retries');
        await me.refresh();
        const { files } = await me.changeFiles([{ kind: 'addTarget', role: 'targets', name: `p${p}-${i}`, meta: fileMetaOf(Buffer.from(`${p}/${i}`)) }]);
        const res = await me.post(files);
        if (res.statusCode === 200) break;
        assert.equal(res.statusCode, 400, res.body);
        assert.equal((JSON.parse(res.body) as { errors: { code: string }[] }).errors[0]?.code, 'VERSION', res.body);
        conflicts++;
        await new Promise((r) => setTimeout(r, Math.random() * 10 * 2 ** Math.min(attempt, 6)));
      }
    }
  }));
  await owner.refresh();
  const names = [...(owner.targetsMeta?.signed.targets.keys() ?? [])];
  assert.equal(names.length, publishers * each, `all ${publishers * each} targets survive (${conflicts} conflicts retried)`);
  const feed = await app.store.getChanges({ changeId: 0, records: 100_000, reversed: false });
  assert.equal(feed.length, publishers * each + 1, 'one changefeed row per accepted timestamp');
  const versions = feed.map((c) => c.version);
  assert.deepEqual(versions, [...versions].sort((a, b) => a - b), 'timestamp versions strictly increase');
}

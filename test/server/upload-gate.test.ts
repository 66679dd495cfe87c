// The upload gate (src/server/upload-gate.ts): uploads run together while their bytes fit the
// capacity, a larger one waits for room (and runs alone when it exceeds the capacity), waiting
// is first come first served, and failures give their bytes back.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { UploadGate } from '../../src/server/upload-gate.ts';

/** A piece of work that runs until `finish()`, recording when it started. */
function job(log: string[], name: string): { work: () => Promise<string>; finish: (fail?: boolean) => void } {
  let finish!: (fail?: boolean) => void;
  const done = new Promise<void>((resolve, reject) => { finish = (fail) => (fail === true ? reject(new Error(name)) : resolve()); });
  return { work: async () => { log.push(name); await done; return name; }, finish };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

void describe('UploadGate', () => {
  void test('uploads that fit run together; a larger one waits for room, and small ones queue behind it', async () => {
    const gate = new UploadGate(10);
    const log: string[] = [];
    const [a, b, big, c] = [job(log, 'a'), job(log, 'b'), job(log, 'big'), job(log, 'c')];
    const runs = [gate.run(4, a.work), gate.run(4, b.work), gate.run(8, big.work), gate.run(1, c.work)];
    await settle();
    assert.deepEqual(log, ['a', 'b'], 'c would fit, but waits behind big');
    assert.equal(gate.inFlight, 8);
    a.finish();
    await settle();
    assert.deepEqual(log, ['a', 'b'], '4 + 8 > 10');
    b.finish();
    await settle();
    assert.deepEqual(log, ['a', 'b', 'big', 'c'], '8 + 1 fits');
    big.finish();
    c.finish();
    assert.deepEqual(await Promise.all(runs), ['a', 'b', 'big', 'c']);
    assert.equal(gate.inFlight, 0);
  });

  void test('an upload over the capacity runs alone; a failure releases its bytes', async () => {
    const gate = new UploadGate(10);
    const log: string[] = [];
    const [small, huge, after] = [job(log, 'small'), job(log, 'huge'), job(log, 'after')];
    const first = gate.run(2, small.work);
    const second = gate.run(25, huge.work);
    const third = gate.run(2, after.work);
    await settle();
    assert.deepEqual(log, ['small']);
    small.finish();
    await settle();
    assert.deepEqual(log, ['small', 'huge']);
    assert.equal(gate.inFlight, 25);
    huge.finish(true);
    await assert.rejects(second, /huge/);
    await settle();
    assert.deepEqual(log, ['small', 'huge', 'after']);
    after.finish();
    await Promise.all([first, third]);
    assert.equal(gate.inFlight, 0);
  });
});

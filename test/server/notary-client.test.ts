// The real notary 0.7 client against `vouch server`: the full lifecycle of issue #5 on every
// storage backend available here. Skipped with the reason when the notary binary is missing.
import { after, before, describe, test } from 'node:test';

import { notaryPeersUnavailableReason } from '../helpers/notary-harness.ts';
import { startVouchHarness, type VouchHarness } from './harness.ts';
import { runLifecycle } from './lifecycle.ts';

const missing = notaryPeersUnavailableReason();
const skip = missing === undefined ? false : `real notary client unavailable: ${missing}`;

void describe('notary client against vouch server (memory store)', { skip }, () => {
  let h: VouchHarness;
  before(async () => {
    h = await startVouchHarness();
  });
  after(async () => {
    await h?.stop();
  });
  void test('init, add, addhash, remove, rotations, delegations, witness, delete --remote', async () => {
    await runLifecycle(h);
  });
});

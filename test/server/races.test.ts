// Racing publishers on the memory store (the SQL stores run the same scenarios in their own files).
import { describe, test } from 'node:test';

import { MemorySigningBackend } from '../../src/server/signing.ts';
import { testApp } from './publisher.ts';
import { racingWriters, retryingPublishers, slowSigner } from './races.ts';

void describe('racing publishers (memory store)', () => {
  void test('50 writers of one version with a 200 ms signer: exactly one wins, 49 get 400 VERSION', async () => {
    await racingWriters(testApp({ signer: slowSigner(new MemorySigningBackend(), 200) }), 'example.com/race', 50);
  });
  void test('20 publishers x 10 publishes retrying on VERSION lose no target', async () => {
    await retryingPublishers(testApp(), 'example.com/retry', 20, 10);
  });
});

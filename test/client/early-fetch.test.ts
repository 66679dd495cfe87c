/**
 * The cold update's early requests (src/client/update.ts): with nothing cached, the current
 * timestamp, snapshot and targets are asked for alongside the root, and used only after their
 * parents verify; a targets file that a publish replaced meanwhile is fetched again by the hash the
 * snapshot records; and early requests never answer an auth challenge.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { RemoteStore } from '../../src/client/remote.ts';
import { HttpTransport } from '../../src/client/transport.ts';
import { fileMetaOf } from '../../src/tuf/verify.ts';
import { generateTestPki, type TestPki } from '../helpers/tls.ts';
import { makeRepo, publishTo, serve } from './fake-repo.ts';
import { startFakeServer, type FakeServer } from './fake-server.ts';
import { vouchClient } from './helpers.ts';

let scratch: string;
let pki: TestPki;
let fake: FakeServer;
before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'vouch-early-'));
  pki = generateTestPki(join(scratch, 'pki'));
  fake = await startFakeServer(pki);
});
after(async () => {
  await fake.close();
  rmSync(scratch, { recursive: true, force: true });
});

const hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const filesAsked = (gun: string): string[] =>
  fake.requests.filter((r) => r.url.startsWith(`/v2/${gun}/_trust/tuf/`)).map((r) => r.url.slice(`/v2/${gun}/_trust/tuf/`.length));

test('cold: four current files in one round, no download by hash, the same listing', async () => {
  const gun = 'example.com/early/cold';
  const r = await makeRepo(gun, new Date());
  await publishTo(r, [{ kind: 'addTarget', role: 'targets', name: 'v1', meta: fileMetaOf(Buffer.from('one')) }], new Date());
  serve(fake, r);
  const c = vouchClient({ url: fake.url, caFile: pki.caFile, gun, trustDir: mkdtempSync(join(scratch, 'c-')) });
  try {
    assert.deepEqual((await c.repo.listTargets()).map((t) => t.name), ['v1']);
  } finally {
    await c.close();
  }
  assert.deepEqual(filesAsked(gun).sort(), ['root.json', 'snapshot.json', 'targets.json', 'timestamp.json']);
});

test('a targets file replaced while the update ran is fetched again by the hash the snapshot records', async () => {
  const gun = 'example.com/early/race';
  const r = await makeRepo(gun, new Date());
  await publishTo(r, [{ kind: 'addTarget', role: 'targets', name: 'v1', meta: fileMetaOf(Buffer.from('one')) }], new Date());
  serve(fake, r);
  const oldSnapshot = r.state.snapshot!;
  const oldTimestamp = r.timestamp;
  const oldTargets = r.state.targets!.get('targets')!;
  // Removing the target makes the newer file shorter, so it is within the length the old snapshot
  // records and is checked by hash (a longer one is refused by length before any check).
  await publishTo(r, [{ kind: 'removeTarget', role: 'targets', name: 'v1' }], new Date());
  serve(fake, r);
  // The server's timestamp and snapshot still describe the first publish; targets.json is newer.
  fake.put(gun, 'snapshot.json', oldSnapshot.bytes);
  fake.put(gun, 'timestamp.json', oldTimestamp.bytes);
  const c = vouchClient({ url: fake.url, caFile: pki.caFile, gun, trustDir: mkdtempSync(join(scratch, 'c-')) });
  try {
    assert.deepEqual((await c.repo.listTargets()).map((t) => t.name), ['v1']);
    assert.ok(c.log.lines.some((l) => l.message === 'targets changed while it downloaded; downloading the version the snapshot records'));
  } finally {
    await c.close();
  }
  assert.deepEqual(filesAsked(gun).filter((f) => f.startsWith('targets.')).sort(), [`targets.${hex(oldTargets.bytes)}.json`, 'targets.json']);
});

test('an early request returns a 401 as it is: no token is fetched for it', async () => {
  let tokenRequests = 0;
  fake.hook((req, res) => {
    if (req.url?.startsWith('/token') === true) {
      tokenRequests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}');
      return true;
    }
    if (req.url?.includes('/early/auth/') === true) {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${fake.url}/token",service="s",scope="repository:example.com/early/auth:pull"` }).end();
      return true;
    }
    return false;
  });
  const answered = { tokens: 0 };
  const t = new HttpTransport({
    baseUrl: fake.url, tls: { ca: readFileSync(pki.caFile, 'utf8') },
    authenticator: { cached: () => undefined, answer: () => { answered.tokens++; return Promise.resolve('Bearer t'); } },
  });
  try {
    await assert.rejects(new RemoteStore(t, 'example.com/early/auth').getRole('targets', { speculative: true }), { code: 'UNAUTHORIZED' });
    assert.equal(answered.tokens, 0);
    assert.equal(tokenRequests, 0);
    // The same request made for real answers the challenge.
    await assert.rejects(new RemoteStore(t, 'example.com/early/auth').getRole('targets'), { code: 'UNAUTHORIZED' });
    assert.ok(answered.tokens > 0);
  } finally {
    await t.close();
  }
});

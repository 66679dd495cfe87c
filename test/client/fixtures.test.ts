/**
 * The trust directories written by notary 0.1 and 0.3 (test/fixtures/notary-compat): they
 * open (legacy key layout migrated), list offline from their cache, show their staged changes,
 * and publish them (0.1, to the real notary-server; the real notary client then lists the result).
 * The 0.3 root certificate expired on 2026-07-25: it is refused with notary's message, and with a
 * clock inside its validity window its repository lists and its staged changes apply.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { notaryHarnessForFile } from '../helpers/notary-harness.ts';
import { parseNotaryList, runNotary } from '../helpers/notary-cli.ts';
import { toOperation } from '../../src/client/changes.ts';
import { loadLocal, stateOf } from '../../src/client/context.ts';
import { publishSigners, toChanges } from '../../src/client/plan.ts';
import { signChanges } from '../../src/tuf/builder.ts';
import { vouchClient } from './helpers.ts';
import { NOTARY_COMPAT } from '../helpers/fixtures.js';

const FIXTURES = NOTARY_COMPAT;
const GUN01 = 'docker.com/notary0.1/samplerepo';
const GUN03 = 'docker.com/notary0.3/tst';
const IN_03_WINDOW = new Date('2021-06-01T00:00:00Z');

const scratch = mkdtempSync(join(tmpdir(), 'vouch-fixtures-'));
const peers = notaryHarnessForFile(() => rmSync(scratch, { recursive: true, force: true }));
const { skip } = peers;

function copyFixture(name: string): string {
  const dir = mkdtempSync(join(scratch, `${name}-`));
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

test('notary 0.1: opens, lists offline, shows its staged change', async () => {
  const trustDir = copyFixture('notary0.1');
  const c = vouchClient({ url: 'https://127.0.0.1:1', gun: GUN01, trustDir, passphrase: 'randompass', offline: true });
  const list = await c.repo.listTargets();
  assert.deepEqual(list.map((t) => [t.name, t.meta.length, t.role]), [['LICENSE', 11309, 'targets']]);
  assert.equal(Buffer.from(list[0]!.meta.hashes.get('sha256')!).toString('hex'), '9395bac6fccb26bcb55efb083d1b4b0fe72a1c25f959f056c016120b3bb56a62');
  const staged = await c.repo.status();
  assert.deepEqual(staged.map((s) => [s.action, s.role, s.type, s.path]), [['create', 'targets', 'target', '.gitignore']]);
  const op = toOperation(staged[0]!);
  assert.equal(op.kind, 'change');
  assert.ok(op.kind === 'change' && op.change.kind === 'addTarget' && op.change.meta.length === 161);
  // The legacy key layout was migrated to the flat one on open.
  assert.deepEqual(c.store.list().keys.map((k) => [k.keyId.slice(0, 8), k.role]).sort(), [['7fc75780', 'targets'], ['a55ccf65', 'snapshot'], ['d0c623c8', 'root']]);
  await c.close();
});

test('notary 0.1: its staged change publishes to notary-server; the real notary client lists it', { skip }, async () => {
  const trustDir = copyFixture('notary0.1');
  const c = vouchClient({ url: peers.harness.url, caFile: peers.harness.caFile, gun: GUN01, trustDir, passphrase: 'randompass' });
  try {
    const res = await c.repo.publish();
    assert.equal(res.initial, true);
    assert.equal(res.applied, 1);
    assert.deepEqual([...res.uploaded].sort(), ['root', 'snapshot', 'targets']);
    assert.equal((await c.repo.status()).length, 0);
    // The server did not hold the 0.1 timestamp key: the root was re-signed with the server's.
    assert.ok(c.log.lines.some((l) => l.message.includes('names a timestamp key the server does not hold')));
  } finally {
    await c.close();
  }
  const reader = join(mkdtempSync(join(scratch, 'reader-')), 'trust');
  const list = await runNotary(['list', GUN01], { trustDir: reader, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0 });
  assert.deepEqual(parseNotaryList(list.stdout).map((r) => [r.name, r.size]), [['.gitignore', 161], ['LICENSE', 11309]]);
});

test('notary 0.3: the expired root certificate is refused with notary\'s reason', async () => {
  const trustDir = copyFixture('notary0.3');
  const c = vouchClient({ url: 'https://127.0.0.1:1', gun: GUN03, trustDir, passphrase: 'password', offline: true });
  await assert.rejects(c.repo.listTargets(), {
    code: 'ROOT_UNTRUSTED',
    message: 'could not validate the path to a trusted root: unable to retrieve valid leaf certificates (certificate with CN docker.com/notary0.3/tst is expired)',
  });
  await c.close();
});

test('notary 0.3: inside the certificate window it lists, and its two staged changes apply', async () => {
  const trustDir = copyFixture('notary0.3');
  const c = vouchClient({ url: 'https://127.0.0.1:1', gun: GUN03, trustDir, passphrase: 'password', offline: true, now: () => IN_03_WINDOW });
  const list = await c.repo.listTargets();
  assert.deepEqual(list.map((t) => [t.name, t.meta.length, t.role]).sort(), [['LICENSE', 11309, 'targets'], ['change', 0, 'targets'], ['hello', 0, 'targets/releases']].sort());
  const staged = await c.repo.status();
  assert.deepEqual(staged.map((s) => [s.action, s.role, s.type, s.path]), [['create', 'targets', 'target', 'MAINTAINERS'], ['create', 'targets/releases', 'target', 'Dockerfile']]);

  // Apply and sign them as a publish would (the server would refuse the expired root today).
  const local = await loadLocal(c.repo.ctx);
  const state = stateOf(local!);
  const held = await c.repo.ctx.keys.heldKeyIds();
  const changes = toChanges(staged.map((s) => toOperation(s)), state, held, c.log);
  const signed = await signChanges({ now: IN_03_WINDOW, current: state, changes, snapshot: 'client', signers: () => publishSigners(c.repo.ctx.keys, held, state, changes) });
  assert.deepEqual([...signed.files.keys()].sort(), ['snapshot', 'targets', 'targets/releases']);
  const releases = signed.state.targets!.get('targets/releases')!;
  assert.deepEqual([...releases.signed.targets.keys()].sort(), ['Dockerfile', 'hello']);
  assert.equal(releases.signatures[0]?.method, 'rsapss'); // the 0.3 delegation key is an RSA certificate key
  assert.deepEqual([...signed.state.targets!.get('targets')!.signed.targets.keys()].sort(), ['LICENSE', 'MAINTAINERS', 'change']);
  await c.close();
});

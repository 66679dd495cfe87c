// Bad uploads (docs/compatibility.md §4): each case is a POST with an exact expected status and error
// code, and the store must be unchanged afterwards; a legitimate publish must still succeed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { signRole, signSnapshot, signedJsonOf } from '../../src/tuf/builder.ts';
import { roleVerifier } from '../../src/tuf/sign.ts';
import { fileMetaOf } from '../../src/tuf/verify.ts';
import type { RoleKeys } from '../../src/tuf/metadata.ts';
import { ecdsaSigner } from '../tuf/builder-keys.ts';
import { Publisher, multipart, testApp, tufPath, type TestApp } from './publisher.ts';

interface ErrorEntry { code: string; message: string; detail?: unknown }

function errorOf(body: string): ErrorEntry {
  assert.ok(body.endsWith('\n'), 'error bodies end with a newline');
  const parsed = JSON.parse(body) as { errors: ErrorEntry[] };
  assert.equal(parsed.errors.length, 1);
  return parsed.errors[0]!;
}

/** Everything the store holds for the GUN: latest versions and the changefeed. */
async function snapshotOfStore(app: TestApp, gun: string): Promise<string> {
  const parts: string[] = [];
  for (const role of ['root', 'targets', 'snapshot', 'timestamp', 'targets/releases']) {
    const f = await app.store.getLatest(gun, role);
    parts.push(`${role}:${f?.version ?? '-'}:${f?.sha256 ?? ''}`);
  }
  const changes = await app.store.getChanges({ changeId: 0, records: 1000, reversed: false });
  return `${parts.join(' ')} changes=${changes.length}`;
}

async function setup(gun = 'example.com/bad/uploads'): Promise<{ app: TestApp; pub: Publisher }> {
  const app = testApp();
  const pub = new Publisher(app, gun);
  await pub.init();
  await pub.addTarget('first');
  return { app, pub };
}

async function expectRejected(app: TestApp, pub: Publisher, res: Promise<{ statusCode: number; body: string }>, status: number, code: string): Promise<ErrorEntry> {
  const before = await snapshotOfStore(app, pub.gun);
  const r = await res;
  assert.equal(r.statusCode, status, r.body);
  const e = errorOf(r.body);
  assert.equal(e.code, code);
  assert.equal(await snapshotOfStore(app, pub.gun), before, 'the store must be unchanged');
  return e;
}

void describe('bad uploads', () => {
  void test('a body that is not multipart is 400 MALFORMED_UPLOAD', async () => {
    const { app, pub } = await setup();
    const post = (payload: string, type?: string) => app.inject({ method: 'POST', url: tufPath(pub.gun, ''), payload, headers: type ? { 'content-type': type } : {} });
    const e = await expectRejected(app, pub, post('{"signed":{}}', 'application/json'), 400, 'MALFORMED_UPLOAD');
    assert.deepEqual(e, { code: 'MALFORMED_UPLOAD', message: 'The body of your request is malformed.' });
    await expectRejected(app, pub, post('garbage', 'multipart/form-data; boundary=abc'), 400, 'MALFORMED_UPLOAD');
    await expectRejected(app, pub, post('--abc\r\nContent-Disposition: form-data; filename="targets"\r\n\r\n{}', 'multipart/form-data; boundary=abc'), 400, 'MALFORMED_UPLOAD');
    await expectRejected(app, pub, post('', 'multipart/form-data'), 400, 'MALFORMED_UPLOAD');
  });

  void test('a part without a filename is 400 NO_FILENAME', async () => {
    const { app, pub } = await setup();
    const body = '--b\r\nContent-Disposition: form-data; name="files"\r\n\r\n{}\r\n--b--\r\n';
    const post = (payload: string) => app.inject({ method: 'POST', url: tufPath(pub.gun, ''), payload, headers: { 'content-type': 'multipart/form-data; boundary=b' } });
    const e = await expectRejected(app, pub, post(body), 400, 'NO_FILENAME');
    assert.deepEqual(e, { code: 'NO_FILENAME', message: 'No file/role name provided.' });
    await expectRejected(app, pub, post('--b\r\n\r\n{}\r\n--b--\r\n'), 400, 'NO_FILENAME');
    await expectRejected(app, pub, post('--b\r\nContent-Disposition: form-data; filename=".json"\r\n\r\n{}\r\n--b--\r\n'), 400, 'NO_FILENAME');
  });

  void test('an invalid role name is 400 INVALID_ROLE with the name as detail', async () => {
    const { app, pub } = await setup();
    for (const role of ['foo', 'targets/../x', 'targets/Releases', 'targets/', 'timestamp.key']) {
      const e = await expectRejected(app, pub, pub.post([[role, Buffer.from('{}')]]), 400, 'INVALID_ROLE');
      assert.deepEqual(e, { code: 'INVALID_ROLE', message: 'The role you are attempting to operate on is invalid.', detail: role });
    }
  });

  void test('parts that are not metadata envelopes are 400 MALFORMED_JSON', async () => {
    const { app, pub } = await setup();
    const cases = [
      'not json', '[]', '{"signed":{"version":"3"},"signatures":[]}', '{"signed":{"version":1.5},"signatures":[]}',
      '{"signed":"x"}', '{"signed":{"version":2,"expires":"tomorrow"}}', '{"signed":{"version":2},"signatures":[{"sig":5}]}',
    ];
    for (const text of cases) {
      const e = await expectRejected(app, pub, pub.post([['targets', Buffer.from(text)]]), 400, 'MALFORMED_JSON');
      assert.equal(e.message, 'JSON sent by the client could not be parsed by the server');
    }
  });

  void test('Cure53 TUF-01-001: an unsigned extra top-level member is refused, the next publish succeeds', async () => {
    const { app, pub } = await setup();
    const { files, commit } = await pub.changeFiles([{ kind: 'addTarget', role: 'targets', name: 'x', meta: fileMetaOf(Buffer.from('x')) }]);
    const targets = JSON.parse(Buffer.from(files.get('targets')!).toString()) as Record<string, unknown>;
    const tampered = new Map(files);
    tampered.set('targets', Buffer.from(JSON.stringify({ ...targets, injected: 'A'.repeat(1000) })));
    await expectRejected(app, pub, pub.post(tampered), 400, 'MALFORMED_JSON');
    assert.equal((await pub.post(files)).statusCode, 200);
    commit();
  });

  void test('bad signatures, an unmet threshold and wrong keys are 400 INVALID_UPDATE', async () => {
    const { app, pub } = await setup();
    const { files } = await pub.changeFiles([{ kind: 'addTarget', role: 'targets', name: 'x', meta: fileMetaOf(Buffer.from('x')) }]);
    const targets = JSON.parse(Buffer.from(files.get('targets')!).toString()) as { signatures: { sig: string }[] };
    const flipped = Buffer.from(targets.signatures[0]!.sig, 'base64');
    flipped[5] = flipped[5]! ^ 1;
    targets.signatures[0]!.sig = flipped.toString('base64');
    const e = await expectRejected(app, pub, pub.post([['targets', Buffer.from(JSON.stringify(targets))], ['snapshot', files.get('snapshot')!]]), 400, 'INVALID_UPDATE');
    assert.deepEqual(e.detail, { Name: 'ErrBadTargets', Error: { Msg: 'valid signatures did not meet threshold for targets' } });

    // signed by a key that is not the targets key
    const current = pub.targetsMeta!;
    const other = ecdsaSigner();
    const json = signedJsonOf(current);
    json['version'] = current.signed.version + 1;
    const wrongKey = await signRole('targets', json, [other]);
    const e2 = await expectRejected(app, pub, pub.post([['targets', wrongKey.bytes]]), 400, 'INVALID_UPDATE');
    assert.deepEqual(e2.detail, { Name: 'ErrBadTargets', Error: { Msg: 'valid signatures did not meet threshold for targets' } });

    // a root signed by a key that is not a root key
    const root = pub.state.root!;
    const rootJson = signedJsonOf(root);
    rootJson['version'] = root.signed.version + 1;
    const badRoot = await signRole('root', rootJson, [other]);
    const e3 = await expectRejected(app, pub, pub.post([['root', badRoot.bytes]]), 400, 'INVALID_UPDATE');
    assert.equal((e3.detail as { Name: string }).Name, 'ErrBadRoot');
    assert.match((e3.detail as { Error: { Msg: string } }).Error.Msg, /^could not rotate trust to a new trusted root|^could not validate the path to a trusted root/);
  });

  void test('expired metadata is 400 INVALID_UPDATE', async () => {
    const { app, pub } = await setup();
    const current = pub.targetsMeta!;
    const json = signedJsonOf(current);
    json['version'] = current.signed.version + 1;
    json['expires'] = '2001-01-01T00:00:00Z';
    const root = pub.state.root!.signed;
    const expired = await signRole('targets', json, [pub.targets], { verifier: roleVerifier('targets', root.keys, root.roles.get('targets') as RoleKeys) });
    const e = await expectRejected(app, pub, pub.post([['targets', expired.bytes]]), 400, 'INVALID_UPDATE');
    assert.deepEqual(e.detail, { Name: 'ErrBadTargets', Error: { Msg: 'targets expired at Mon Jan 1 00:00:00 UTC 2001' } });
  });

  void test('a rollback (version not above the stored one) is 400 VERSION', async () => {
    const { app, pub } = await setup();
    const { files, commit } = await pub.changeFiles([{ kind: 'addTarget', role: 'targets', name: 'y', meta: fileMetaOf(Buffer.from('y')) }]);
    assert.equal((await pub.post(files)).statusCode, 200);
    commit();
    const e = await expectRejected(app, pub, pub.post(files), 400, 'VERSION');
    assert.deepEqual(e, { code: 'VERSION', message: 'A newer version of metadata is already available.', detail: {} });
  });

  void test('a root two versions ahead is 400 INVALID_UPDATE', async () => {
    const { app, pub } = await setup();
    const root = pub.state.root!;
    const json = signedJsonOf(root);
    json['version'] = root.signed.version + 2;
    const ahead = await signRole('root', json, [pub.root]);
    const e = await expectRejected(app, pub, pub.post([['root', ahead.bytes]]), 400, 'INVALID_UPDATE');
    assert.deepEqual(e.detail, { Name: 'ErrBadRoot', Error: { Msg: 'Root modifications must increment the version. Current 1, new 3' } });
  });

  void test('Cure53 TUF-01-002: versions 2147483647 then 2147483648 are both accepted', async () => {
    const { app, pub } = await setup();
    const root = pub.state.root!.signed;
    const verifier = roleVerifier('targets', root.keys, root.roles.get('targets') as RoleKeys);
    for (const version of [2147483647, 2147483648]) {
      const json = signedJsonOf(pub.targetsMeta!);
      json['version'] = version;
      const targets = await signRole('targets', json, [pub.targets], { verifier });
      const files = new Map([['targets', targets.bytes], ['root', pub.state.root!.bytes]]);
      const snapshot = await signSnapshot({ now: new Date(), previous: pub.state.snapshot, files, signers: [pub.snapshot!] });
      const res = await pub.post([['targets', targets.bytes], ['snapshot', snapshot.bytes]]);
      assert.equal(res.statusCode, 200, res.body);
      pub.state = { ...pub.state, targets: new Map([['targets', targets as never]]), snapshot };
      const stored = await app.store.getLatest(pub.gun, 'targets');
      assert.equal(stored?.version, version);
    }
  });

  void test('a body over 10 MiB or a part over 5 MiB is 413 TOO_LARGE', async () => {
    const { app, pub } = await setup();
    const big = Buffer.alloc(5 * 1024 * 1024 + 1, 0x20);
    const e = await expectRejected(app, pub, pub.post([['targets', big]]), 413, 'TOO_LARGE');
    assert.equal(e.message, 'The request body is larger than the server accepts.');
    const huge = multipart([['targets', Buffer.alloc(4 << 20, 0x20)], ['root', Buffer.alloc(4 << 20, 0x20)], ['snapshot', Buffer.alloc(3 << 20, 0x20)]]);
    await expectRejected(app, pub, app.inject({ method: 'POST', url: tufPath(pub.gun, ''), payload: huge.body, headers: { 'content-type': huge.contentType } }), 413, 'TOO_LARGE');
    await pub.addTarget('still works');
  });
});

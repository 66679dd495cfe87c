/**
 * A collection moving to `vouch server` from another server (`vouch migrate`): a first root above
 * version 2 is accepted for a GUN the server has never seen, and the `Vouch-Previous-Versions`
 * header makes the first generated snapshot and timestamp continue above the old ones — only on a
 * GUN's first publish. The header's parser is strict and refuses before anything is stored.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hasCode } from '../../src/errors.ts';
import { parsePreviousVersions } from '../../src/server/upload.ts';
import { signChanges, signedJsonOf, signRole } from '../../src/tuf/builder.ts';
import type { RoleName } from '../../src/tuf/types.ts';
import { rootSigner } from '../tuf/builder-keys.ts';
import { parseMetadata, type Metadata, type RootSigned } from '../../src/tuf/metadata.ts';
import { multipart, Publisher, testApp, tufPath, type TestApp } from './publisher.ts';

async function post(app: TestApp, gun: string, files: ReadonlyMap<string, Uint8Array>, header?: string) {
  const { body, contentType } = multipart(files);
  return app.inject({ method: 'POST', url: tufPath(gun, ''), payload: body, headers: { 'content-type': contentType, ...(header !== undefined ? { 'vouch-previous-versions': header } : {}) } });
}

async function versionOf(app: TestApp, gun: string, role: 'root' | 'snapshot' | 'timestamp'): Promise<number> {
  const res = await app.inject({ method: 'GET', url: tufPath(gun, `${role}.json`) });
  assert.equal(res.statusCode, 200, res.body);
  return parseMetadata(role, res.rawPayload).signed.version;
}

/** The first files of a server-managed-snapshot collection whose root is at `rootVersion`. */
async function movedFiles(pub: Publisher, rootVersion: number): Promise<Map<string, Uint8Array>> {
  const files = await pub.initFiles();
  const json = signedJsonOf(pub.state.root as Metadata<RootSigned>);
  json['version'] = rootVersion;
  const root = (await signRole('root', json, [pub.root])) as Metadata<RootSigned>;
  files.set('root', root.bytes);
  pub.state = { ...pub.state, root };
  return files;
}

void describe('collections moved from another server', () => {
  void test('first publish: root v7 is taken, snapshot and timestamp continue above the given versions', async () => {
    const app = testApp();
    const gun = 'docker.io/moved/first';
    const pub = new Publisher(app, gun, { serverSnapshot: true });
    const res = await post(app, gun, await movedFiles(pub, 7), 'snapshot=41, timestamp=90');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(await versionOf(app, gun, 'root'), 7);
    assert.equal(await versionOf(app, gun, 'snapshot'), 42);
    assert.equal(await versionOf(app, gun, 'timestamp'), 91);
    // Later publishes count on from there; the header no longer matters.
    await pub.refresh();
    const { files } = await pub.changeFiles([{ kind: 'witness', role: 'targets' }]);
    assert.equal((await post(app, gun, files, 'snapshot=1000, timestamp=1000')).statusCode, 200);
    assert.equal(await versionOf(app, gun, 'snapshot'), 43);
    assert.equal(await versionOf(app, gun, 'timestamp'), 92);
    await app.close();
  });

  void test('without the header a first publish starts at 1, as notary-server does', async () => {
    const app = testApp();
    const gun = 'docker.io/moved/plain';
    const pub = new Publisher(app, gun, { serverSnapshot: true });
    assert.equal((await post(app, gun, await movedFiles(pub, 3))).statusCode, 200);
    assert.equal(await versionOf(app, gun, 'snapshot'), 1);
    assert.equal(await versionOf(app, gun, 'timestamp'), 1);
    await app.close();
  });

  void test('a malformed header is 400 INVALID_PARAMETERS and nothing is stored', async () => {
    const app = testApp();
    const gun = 'docker.io/moved/bad';
    const pub = new Publisher(app, gun, { serverSnapshot: true });
    const files = await movedFiles(pub, 1);
    for (const header of ['snapshot=0', 'snapshot=1, snapshot=2', 'root=3', 'timestamp=99999999999999999', 'snapshot=-1', 'snapshot=1;timestamp=2', '']) {
      const res = await post(app, gun, files, header);
      assert.equal(res.statusCode, 400, header);
      const e = (JSON.parse(res.body) as { errors: { code: string; message: string; detail: string }[] }).errors[0];
      assert.equal(e?.code, 'INVALID_PARAMETERS', header);
      assert.equal(e?.message, 'The parameters provided are not valid.');
      assert.match(e?.detail ?? '', /^vouch-previous-versions: /);
    }
    assert.equal((await app.inject({ method: 'GET', url: tufPath(gun, 'root.json') })).statusCode, 404);
    await app.close();
  });

  void test('earlier root versions come along as <n>.root parts: one unbroken chain, first publish only', async () => {
    const app = testApp();
    const gun = 'docker.io/moved/history';
    const pub = new Publisher(app, gun, { serverSnapshot: true });
    const first = await pub.initFiles();
    const v1 = first.get('root') as Uint8Array;
    const now = new Date();
    const r2 = rootSigner(gun, now);
    const signers = (role: RoleName) => (role === 'root' ? [pub.root, r2] : role === 'targets' ? [pub.targets] : []);
    // v2: the root key rotated (signed by the old and the new key); v3: signed by the new key only.
    const rot = await signChanges({ now, current: pub.state, changes: [{ kind: 'rotateBaseRole', role: 'root', keys: [r2.publicKey] }], signers, snapshot: 'server' });
    const v2 = rot.files.get('root' as RoleName)!.bytes;
    const next = await signChanges({ now, current: rot.state, changes: [{ kind: 'rotateBaseRole', role: 'targets', keys: [pub.targets.publicKey] }, { kind: 'witness', role: 'targets' }], signers, snapshot: 'server' });
    const v3 = next.files.get('root' as RoleName)!.bytes;
    const targets = next.files.get('targets' as RoleName)!.bytes;
    assert.deepEqual([v1, v2, v3].map((b) => parseMetadata('root', b).signed.version), [1, 2, 3]);

    const refused = async (files: [string, Uint8Array][], msg: string | RegExp, code = 'INVALID_UPDATE') => {
      const res = await post(app, gun, new Map(files));
      assert.equal(res.statusCode, 400, res.body);
      const e = (JSON.parse(res.body) as { errors: { code: string; message: string; detail?: { Error?: { Msg?: string } } }[] }).errors[0];
      assert.equal(e?.code, code);
      if (code === 'INVALID_UPDATE') assert.match(e?.detail?.Error?.Msg ?? '', typeof msg === 'string' ? new RegExp(`^${msg.replace(/[.()]/g, '\\$&')}$`) : msg);
      else assert.match(e?.message ?? '', typeof msg === 'string' ? new RegExp(msg) : msg);
      assert.equal((await app.inject({ method: 'GET', url: tufPath(gun, 'root.json') })).statusCode, 404, 'nothing stored');
    };
    await refused([['1.root', v1], ['root', v3], ['targets', targets]], 'earlier root versions must end right below the uploaded root version 3');
    const stranger = (await new Publisher(app, gun, { serverSnapshot: true }).initFiles()).get('root') as Uint8Array;
    await refused([['1.root', stranger], ['2.root', v2], ['root', v3], ['targets', targets]], 'could not rotate trust to a new trusted root: failed to validate data with current trusted certificates');
    await refused([['2.root', v1], ['root', v3], ['targets', targets]], 'JSON sent by the client could not be parsed by the server', 'MALFORMED_JSON');

    const ok = await post(app, gun, new Map([['1.root', v1], ['2.root', v2], ['root', v3], ['targets', targets]]));
    assert.equal(ok.statusCode, 200, ok.body);
    for (const v of [1, 2, 3]) {
      const res = await app.inject({ method: 'GET', url: tufPath(gun, `${v}.root.json`) });
      assert.equal(res.statusCode, 200, `${v}.root.json`);
      assert.equal(parseMetadata('root', res.rawPayload).signed.version, v);
    }
    assert.equal(await versionOf(app, gun, 'root'), 3);
    // Once the collection exists, earlier roots are refused.
    await pub.refresh();
    const later = await pub.changeFiles([{ kind: 'witness', role: 'targets' }]);
    const res = await post(app, gun, new Map([['1.root', v1], ...later.files]));
    assert.equal(res.statusCode, 400, res.body);
    await app.close();
  });

  void test('parsePreviousVersions: valid headers round-trip, anything else is INVALID_PARAMETERS', () => {
    fc.assert(fc.property(
      fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
      fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
      fc.boolean(),
      (snapshot, timestamp, swap) => {
        const items = [snapshot !== undefined ? `snapshot=${snapshot}` : undefined, timestamp !== undefined ? `timestamp=${timestamp}` : undefined].filter((x) => x !== undefined);
        if (items.length === 0) return;
        if (swap) items.reverse();
        assert.deepEqual(parsePreviousVersions(items.join(', ')), { ...(snapshot !== undefined ? { snapshot } : {}), ...(timestamp !== undefined ? { timestamp } : {}) });
      },
    ), { numRuns: 300 });
    fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => {
      try {
        const v = parsePreviousVersions(s);
        assert.ok(v !== undefined && Object.keys(v).length > 0);
      } catch (e) {
        assert.ok(hasCode(e, 'INVALID_PARAMETERS'), String(e));
      }
    }), { numRuns: 500 });
    assert.equal(parsePreviousVersions(undefined), undefined);
    assert.throws(() => parsePreviousVersions(['snapshot=1', 'snapshot=2']), (e) => hasCode(e, 'INVALID_PARAMETERS'));
    assert.throws(() => parsePreviousVersions(`snapshot=1${' '.repeat(80)}`), (e) => hasCode(e, 'INVALID_PARAMETERS'));
  });
});

// notary-server's HTTP API as Vouch serves it (docs/formats.md §6, vectors 17, 18, 21, 22):
// routes, exact bodies and headers, key endpoints, changefeed, GUN filtering, lazy re-signing,
// health and metrics — all in-process through fastify's inject().
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { parsePublicKey } from '../../src/tuf/keys.ts';
import { parseMetadata } from '../../src/tuf/metadata.ts';
import { Publisher, testApp, tufPath } from './publisher.ts';

const NOT_FOUND_BARE = '{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist."}]}\n';
const NOT_FOUND_STORE = '{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist.","detail":{}}]}\n';
const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT = 'text/plain; charset=utf-8';
const DAY = 86_400_000;

void describe('routes and bodies', () => {
  void test('GET /v2/ answers {}; anything else unknown is a bare 404', async () => {
    const app = testApp();
    const ping = await app.inject({ method: 'GET', url: '/v2/' });
    assert.equal(ping.statusCode, 200);
    assert.equal(ping.body, '{}');
    assert.equal(ping.headers['content-type'], TEXT);
    // `/` is the console's entry (issue 18): a redirect, not notary's 404.
    const root = await app.inject({ method: 'GET', url: '/' });
    assert.equal(root.statusCode, 302);
    assert.equal(root.headers['location'], '/console/');
    for (const [method, url] of [['POST', '/'], ['GET', '/v2'], ['POST', '/v2/'], ['GET', '/v2/a/_trust/tuf/targets.key'], ['HEAD', '/v2/a/_trust/tuf/root.json'], ['PUT', '/v2/a/_trust/tuf/'], ['GET', '/v2/a*b/_trust/tuf/root.json']] as const) {
      const res = await app.inject({ method, url });
      assert.equal(res.statusCode, 404, `${method} ${url}`);
      if (method !== 'HEAD') assert.equal(res.body, NOT_FOUND_BARE, `${method} ${url}`);
      assert.equal(res.headers['content-type'], JSON_TYPE);
    }
  });

  void test('missing metadata is 404 with detail {} (vector 18)', async () => {
    const app = testApp();
    for (const file of ['root.json', 'timestamp.json', 'snapshot.json', 'targets/releases.json', '2.root.json', `root.${'a'.repeat(64)}.json`]) {
      const res = await app.inject({ method: 'GET', url: tufPath('example.com/none', file) });
      assert.equal(res.statusCode, 404, file);
      assert.equal(res.body, NOT_FOUND_STORE, file);
    }
  });

  void test('current, by-hash and by-version reads return the exact bytes with notary cache headers', async () => {
    const app = testApp();
    const pub = new Publisher(app, 'example.com/reads');
    await pub.init();
    const root = pub.state.root!;
    const sha = createHash('sha256').update(root.bytes).digest('hex');
    const current = await app.inject({ method: 'GET', url: tufPath(pub.gun, 'root.json') });
    assert.equal(current.statusCode, 200);
    assert.deepEqual(current.rawPayload, Buffer.from(root.bytes));
    assert.equal(current.headers['content-type'], TEXT);
    assert.equal(current.headers['cache-control'], 'public, max-age=300, s-maxage=300, must-revalidate');
    assert.match(String(current.headers['last-modified']), /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d UTC$/);
    assert.equal(current.headers['pragma'], undefined);
    for (const file of [`root.${sha}.json`, `root.${sha.toUpperCase()}.json`, '1.root.json']) {
      const res = await app.inject({ method: 'GET', url: tufPath(pub.gun, file) });
      assert.equal(res.statusCode, 200, file);
      assert.deepEqual(res.rawPayload, Buffer.from(root.bytes));
      assert.equal(res.headers['cache-control'], 'public, max-age=2592000, s-maxage=2592000');
    }
    const sha512 = createHash('sha512').update(root.bytes).digest('hex');
    assert.equal((await app.inject({ method: 'GET', url: tufPath(pub.gun, `root.${sha512}.json`) })).body, NOT_FOUND_STORE);
    const missing = await app.inject({ method: 'GET', url: tufPath(pub.gun, '2.root.json') });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.headers['cache-control'], undefined, 'errors carry no cache headers');
  });

  void test('max-age 0 disables caching as notary does', async () => {
    const app = testApp({ cacheControl: { currentMaxAge: 0, consistentMaxAge: 0 } });
    const pub = new Publisher(app, 'example.com/nocache');
    await pub.init();
    for (const file of ['root.json', '1.root.json']) {
      const res = await app.inject({ method: 'GET', url: tufPath(pub.gun, file) });
      assert.equal(res.headers['cache-control'], 'max-age=0, no-cache, no-store');
      assert.equal(res.headers['pragma'], 'no-cache');
      assert.ok(res.headers['last-modified']);
    }
  });

  void test('the key endpoints return Go JSON of a public key; POST always creates (vector 17)', async () => {
    const app = testApp();
    const gun = 'example.com/keys';
    const get = await app.inject({ method: 'GET', url: tufPath(gun, 'timestamp.key') });
    assert.equal(get.statusCode, 200);
    assert.match(get.body, /^\{"keytype":"ecdsa","keyval":\{"public":"[A-Za-z0-9+/]+=*","private":null\}\}$/);
    assert.equal(get.headers['content-type'], TEXT);
    const key = parsePublicKey(JSON.parse(get.body), 'key');
    const pub = new Publisher(app, gun, { serverSnapshot: true });
    await pub.init();
    const listed = pub.state.root!.signed.roles.get('timestamp')!.keyIds;
    const again = parsePublicKey(JSON.parse((await app.inject({ method: 'GET', url: tufPath(gun, 'timestamp.key') })).body), 'k');
    assert.deepEqual([again.id], [...listed]);
    void key;
    const rotated = await app.inject({ method: 'POST', url: tufPath(gun, 'snapshot.key') });
    assert.equal(rotated.statusCode, 200);
    const fresh = parsePublicKey(JSON.parse(rotated.body), 'k');
    assert.notEqual(fresh.id, pub.state.root!.signed.roles.get('snapshot')!.keyIds[0]);
  });

  void test('DELETE forgets the GUN and records a deletion in the changefeed (vector 22)', async () => {
    const app = testApp();
    const pub = new Publisher(app, 'example.com/feed');
    await pub.init();
    await pub.addTarget('a');
    const del = await app.inject({ method: 'DELETE', url: tufPath(pub.gun, '') });
    assert.equal(del.statusCode, 200);
    assert.equal(del.body, '');
    assert.equal((await app.inject({ method: 'GET', url: tufPath(pub.gun, 'targets.json') })).body, NOT_FOUND_STORE);

    const missing = await app.inject({ method: 'GET', url: `/v2/${pub.gun}/_trust/changefeed` });
    assert.equal(missing.statusCode, 400);
    assert.equal(missing.body, '{"errors":[{"code":"INVALID_PARAMETERS","message":"The parameters provided are not valid.","detail":"invalid records parameter: strconv.ParseInt: parsing \\"\\": invalid syntax"}]}\n');
    const feed = await app.inject({ method: 'GET', url: `/v2/${pub.gun}/_trust/changefeed?records=10` });
    assert.equal(feed.statusCode, 200);
    const body = JSON.parse(feed.body) as { count: number; records: { ID: string; CreatedAt: string; GUN: string; Version: number; SHA256: string; Category: string }[] };
    assert.equal(body.count, 3);
    assert.deepEqual(body.records.map((r) => [r.ID, r.GUN, r.Version, r.Category]), [['1', pub.gun, 1, 'update'], ['2', pub.gun, 2, 'update'], ['3', pub.gun, 0, 'deletion']]);
    assert.match(body.records[0]!.SHA256, /^[0-9a-f]{64}$/);
    assert.equal(body.records[2]!.SHA256, '');
    assert.match(body.records[0]!.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const last = JSON.parse((await app.inject({ method: 'GET', url: '/v2/_trust/changefeed?records=1&change_id=-1' })).body) as typeof body;
    assert.deepEqual(last.records.map((r) => r.ID), ['3']);
    const after1 = JSON.parse((await app.inject({ method: 'GET', url: '/v2/_trust/changefeed?records=0&change_id=1' })).body) as typeof body;
    assert.deepEqual(after1.records.map((r) => r.ID), ['2', '3']);
    const back = JSON.parse((await app.inject({ method: 'GET', url: '/v2/_trust/changefeed?records=-1&change_id=3' })).body) as typeof body;
    assert.deepEqual(back.records.map((r) => r.ID), ['2']);
    const bad = await app.inject({ method: 'GET', url: '/v2/_trust/changefeed?records=10&change_id=x' });
    assert.equal(bad.body, '{"errors":[{"code":"INVALID_PARAMETERS","message":"The parameters provided are not valid.","detail":{}}]}\n');
    const empty = await app.inject({ method: 'GET', url: '/v2/other/_trust/changefeed?records=10' });
    assert.equal(empty.body, '{"count":0,"records":[]}');
  });

  void test('gun_prefixes: POST outside is 400 INVALID_GUN, reads are 404, prefixes are segment-aware', async () => {
    const app = testApp({ gunPrefixes: ['docker.io/library/'] });
    const post = await app.inject({ method: 'POST', url: tufPath('docker.io/libraryevil/x', ''), payload: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(post.statusCode, 400);
    assert.equal(post.body, '{"errors":[{"code":"INVALID_GUN","message":"The server does not support actions on images of this name.","detail":"Require GUNs with prefix: [docker.io/library/]"}]}\n');
    const get = await app.inject({ method: 'GET', url: tufPath('docker.io/libraryevil/x', 'root.json') });
    assert.equal(get.body, NOT_FOUND_BARE);
    const inside = await app.inject({ method: 'GET', url: tufPath('docker.io/library/alpine', 'root.json') });
    assert.equal(inside.body, NOT_FOUND_STORE);
  });

  void test('unclean or oversized GUNs are 400 INVALID_GUN, never 500', async () => {
    const app = testApp();
    // inject() resolves dot segments (literal or %2e) as WHATWG URLs do; the socket test covers them.
    for (const gun of ['a%2F..%2Fb', 'a%2F.%2Fb', '/a', 'a//b', 'a/', '%2e%2e%2fx', 'a%00b', 'x'.repeat(256), 'a%09b', 'a%2F%2Fb']) {
      for (const method of ['GET', 'POST', 'DELETE'] as const) {
        const url = method === 'GET' ? tufPath(gun, 'root.json') : tufPath(gun, '');
        const res = await app.inject({ method, url, payload: method === 'POST' ? 'x' : undefined, headers: { 'content-type': 'text/plain' } });
        assert.equal(res.statusCode, 400, `${method} ${gun}: ${res.statusCode}`);
        assert.equal(JSON.parse(res.body).errors[0].code, 'INVALID_GUN');
      }
    }
  });

  void test('health is {} and metrics carry notary_server_http series', async () => {
    const app = testApp();
    await app.inject({ method: 'GET', url: tufPath('a/b', 'root.json') });
    const health = await app.inject({ method: 'GET', url: '/_notary_server/health' });
    assert.equal(health.statusCode, 200);
    assert.equal(health.body, '{}');
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(metrics.statusCode, 200);
    assert.match(metrics.body, /notary_server_http_requests_total\{operation="GetRole",method="get",code="404"\} 1/);
    assert.match(metrics.body, /notary_server_http_request_duration_microseconds_count\{operation="GetRole"\} 1/);
  });
});

void describe('server-generated timestamp and snapshot', () => {
  void test('an expired timestamp is re-signed on GET with version + 1 (vector 21)', async () => {
    let now = Date.now();
    const clock = () => new Date(now);
    const app = testApp({ now: clock });
    const pub = new Publisher(app, 'example.com/lazy', { now: clock });
    await pub.init();
    const first = parseMetadata('timestamp', (await app.inject({ method: 'GET', url: tufPath(pub.gun, 'timestamp.json') })).rawPayload);
    assert.equal(first.signed.version, 1);
    assert.equal(first.signed.expires.epochMs - now < 14 * DAY + 1000, true);
    now += 15 * DAY;
    const res = await app.inject({ method: 'GET', url: tufPath(pub.gun, 'timestamp.json') });
    assert.equal(res.statusCode, 200, res.body);
    const second = parseMetadata('timestamp', res.rawPayload);
    assert.equal(second.signed.version, 2);
    assert.ok(second.signed.expires.epochMs > now + 13 * DAY);
    assert.deepEqual(second.signed.meta.get('snapshot')?.hashes, first.signed.meta.get('snapshot')?.hashes);
    const again = parseMetadata('timestamp', (await app.inject({ method: 'GET', url: tufPath(pub.gun, 'timestamp.json') })).rawPayload);
    assert.equal(again.signed.version, 2, 'a fresh timestamp is served as stored');
  });

  void test('concurrent GETs of an expired timestamp sign it once', async () => {
    let now = Date.now();
    const clock = () => new Date(now);
    const app = testApp({ now: clock });
    const pub = new Publisher(app, 'example.com/lazy2', { now: clock });
    await pub.init();
    now += 15 * DAY;
    const all = await Promise.all(Array.from({ length: 20 }, () => app.inject({ method: 'GET', url: tufPath(pub.gun, 'timestamp.json') })));
    assert.deepEqual(new Set(all.map((r) => r.statusCode)), new Set([200]));
    assert.equal(new Set(all.map((r) => r.body)).size, 1);
    assert.equal((await app.store.getLatest(pub.gun, 'timestamp'))?.version, 2);
  });

  void test('an expired server-held snapshot is re-signed; a client-held one makes GET fail with 500 UNKNOWN', async () => {
    let now = Date.now();
    const clock = () => new Date(now);
    const app = testApp({ now: clock });
    const server = new Publisher(app, 'example.com/server-snap', { now: clock, serverSnapshot: true });
    await server.init();
    const client = new Publisher(app, 'example.com/client-snap', { now: clock });
    await client.init();
    now += 4 * 365 * DAY;
    const snap = await app.inject({ method: 'GET', url: tufPath(server.gun, 'snapshot.json') });
    assert.equal(snap.statusCode, 200, snap.body);
    const snapshot = parseMetadata('snapshot', snap.rawPayload);
    assert.equal(snapshot.signed.version, 2);
    assert.ok(snapshot.signed.expires.epochMs > now);
    const ts = parseMetadata('timestamp', (await app.inject({ method: 'GET', url: tufPath(server.gun, 'timestamp.json') })).rawPayload);
    assert.equal(ts.signed.version, 2);
    assert.deepEqual(ts.signed.meta.get('snapshot')?.length, snap.rawPayload.length);
    const failed = await app.inject({ method: 'GET', url: tufPath(client.gun, 'timestamp.json') });
    assert.equal(failed.statusCode, 500);
    assert.equal(failed.body, '{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}\n');
  });

  void test('an upload without a snapshot when the server lacks the snapshot key is ErrBadHierarchy', async () => {
    const app = testApp();
    const pub = new Publisher(app, 'example.com/hier');
    const files = await pub.initFiles();
    files.delete('snapshot');
    const res = await pub.post(files);
    assert.equal(res.statusCode, 400);
    assert.equal(res.body, '{"errors":[{"code":"INVALID_UPDATE","message":"Update sent by the client is invalid.","detail":{"Name":"ErrBadHierarchy","Error":{"Missing":"snapshot","Msg":"no snapshot was included in update and server does not hold current snapshot key for repository"}}}]}\n');
  });

  void test('no stored root and none uploaded is ErrValidation', async () => {
    const app = testApp();
    const pub = new Publisher(app, 'example.com/noroot');
    const files = await pub.initFiles();
    files.delete('root');
    const res = await pub.post(files);
    assert.equal(res.body, '{"errors":[{"code":"INVALID_UPDATE","message":"Update sent by the client is invalid.","detail":{"Name":"ErrValidation","Error":{"Msg":"no pre-existing root and no root provided in update."}}}]}\n');
  });
});

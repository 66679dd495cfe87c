// Token auth (docs/formats.md §7, docs/compatibility.md §4 "Auth bypass"): the challenge, scopes per
// route, every forged or misused token refused with 401, and the real notary client completing
// the token flow against a token endpoint.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from '../helpers/keys.ts';
import { readFileSync } from 'node:fs';

import { TokenAuth, libtrustKeyId } from '../../src/server/auth.ts';
import { startTrustServer } from '../../src/server/server.ts';
import { openMemorySigningService } from '../../src/signer/embedded.ts';
import { MemoryMetaStore } from '../../src/server/store.ts';
import { notaryPeersUnavailableReason } from '../helpers/notary-harness.ts';
import { startVouchHarness, type VouchHarness } from './harness.ts';
import { Publisher, testApp, tufPath, type TestApp } from './publisher.ts';
import { ISSUER, SERVICE, startTokenServer, tokenIssuer, type TokenIssuer } from './tokens.ts';

const REALM = 'https://auth.example.com/token';

function authApp(issuer: TokenIssuer): TestApp {
  return testApp({ auth: new TokenAuth({ realm: REALM, service: SERVICE, issuer: ISSUER, rootCertBundle: issuer.bundle }) });
}

const grant = (name: string, ...actions: string[]) => [{ type: 'repository', name, actions }];

void describe('token auth', () => {
  const issuer = tokenIssuer();
  const app = authApp(issuer);
  const get = (url: string, token?: string, method: 'GET' | 'POST' | 'DELETE' = 'GET') =>
    app.inject({ method, url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, ...(method === 'POST' ? { payload: 'x', headers: { 'content-type': 'text/plain', ...(token ? { authorization: `Bearer ${token}` } : {}) } } : {}) });

  void test('no token: 401 with the challenge and the access records as detail', async () => {
    const res = await get(tufPath('a/b', 'root.json'));
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], `Bearer realm="${REALM}",service="${SERVICE}",scope="repository:a/b:pull"`);
    assert.equal(res.body, '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Class":"","Name":"a/b","Action":"pull"}]}]}\n');
    const post = await get(tufPath('a/b', ''), undefined, 'POST');
    assert.equal(post.headers['www-authenticate'], `Bearer realm="${REALM}",service="${SERVICE}",scope="repository:a/b:push,pull"`);
    const ping = await get('/v2/');
    assert.equal(ping.statusCode, 401);
    assert.equal(ping.headers['www-authenticate'], `Bearer realm="${REALM}",service="${SERVICE}",scope="registry:catalog:*"`);
    const other = await get('/nothing/here');
    assert.equal(other.statusCode, 401, 'the catch-all needs the catalog scope before it says 404');
  });

  void test('health and metrics need no token', async () => {
    assert.equal((await get('/_notary_server/health')).statusCode, 200);
    assert.equal((await get('/metrics')).statusCode, 200);
  });

  void test('a valid token grants exactly its actions; * grants all', async () => {
    const pull = issuer.token({ access: grant('a/b', 'pull') });
    assert.equal((await get(tufPath('a/b', 'root.json'), pull)).statusCode, 404, 'authorized, and nothing is stored');
    const push = await get(tufPath('a/b', ''), pull, 'POST');
    assert.equal(push.statusCode, 401);
    assert.match(String(push.headers['www-authenticate']), /,error="insufficient_scope"$/);
    const pushPull = issuer.token({ access: grant('a/b', 'push', 'pull') });
    assert.equal((await get(tufPath('a/b', ''), pushPull, 'DELETE')).statusCode, 401, 'DELETE needs *');
    assert.equal((await get(tufPath('a/b', 'snapshot.key'), pushPull)).statusCode, 200);
    assert.equal((await get(tufPath('a/b', 'snapshot.key'), pushPull, 'POST')).statusCode, 401, 'key rotation needs *');
    const star = issuer.token({ access: grant('a/b', '*') });
    assert.equal((await get(tufPath('a/b', ''), star, 'DELETE')).statusCode, 200);
    assert.equal((await get(tufPath('a/b', 'snapshot.key'), star, 'POST')).statusCode, 200);
  });

  void test('a token for one GUN does not open another', async () => {
    const token = issuer.token({ access: grant('a/b', '*') });
    for (const gun of ['a/bc', 'A/B', 'a/b/c', 'a']) {
      assert.equal((await get(tufPath(gun, 'root.json'), token)).statusCode, 401, gun);
    }
  });

  void test('forged, expired, premature and misaddressed tokens are refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const access = grant('a/b', '*');
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const cases: Record<string, string> = {
      'unknown signing key': issuer.token({ access }, undefined, stranger),
      'alg none': issuer.token({ access }, { typ: 'JWT', alg: 'none', x5c: [issuer.leafDer.toString('base64')] }),
      'HMAC alg': issuer.token({ access }, { typ: 'JWT', alg: 'HS256', x5c: [issuer.leafDer.toString('base64')] }),
      'alg __proto__': issuer.token({ access }, { typ: 'JWT', alg: '__proto__', x5c: [issuer.leafDer.toString('base64')] }),
      'alg constructor': issuer.token({ access }, { typ: 'JWT', alg: 'constructor', x5c: [issuer.leafDer.toString('base64')] }),
      'expired (beyond 60 s leeway)': issuer.token({ access, exp: now - 120 }),
      'not yet valid': issuer.token({ access, nbf: now + 120 }),
      'wrong audience': issuer.token({ access, aud: 'other' }),
      'wrong issuer': issuer.token({ access, iss: 'other' }),
      'no chain, no key': issuer.token({ access }, { typ: 'JWT', alg: 'ES256' }),
      'garbage': 'a.b.c',
    };
    for (const [what, token] of Object.entries(cases)) {
      const res = await get(tufPath('a/b', 'root.json'), token);
      assert.equal(res.statusCode, 401, what);
      assert.match(String(res.headers['www-authenticate']), /,error="invalid_token"$/, what);
    }
    const lenient = issuer.token({ access, exp: now - 30 });
    assert.equal((await get(tufPath('a/b', 'root.json'), lenient)).statusCode, 404, 'within the 60 s leeway');
  });

  void test('kid and jwk headers naming a root-bundle key are accepted', async () => {
    const access = grant('a/b', 'pull');
    const kid = issuer.token({ access }, { typ: 'JWT', alg: 'ES256', kid: libtrustKeyId(issuer.caCert.publicKey) }, issuer.caKey);
    assert.equal((await get(tufPath('a/b', 'root.json'), kid)).statusCode, 404);
    const jwk = issuer.token({ access }, { typ: 'JWT', alg: 'ES256', jwk: issuer.caCert.publicKey.export({ format: 'jwk' }) }, issuer.caKey);
    assert.equal((await get(tufPath('a/b', 'root.json'), jwk)).statusCode, 404);
    const leafJwk = issuer.token({ access }, { typ: 'JWT', alg: 'ES256', jwk: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) });
    assert.equal((await get(tufPath('a/b', 'root.json'), leafJwk)).statusCode, 401, 'a jwk outside the bundle is not trusted');
  });

  void test('the global changefeed needs registry:catalog:*', async () => {
    assert.equal((await get('/v2/_trust/changefeed?records=10', issuer.token({ access: grant('a/b', '*') }))).statusCode, 401);
    const catalog = issuer.token({ access: [{ type: 'registry', name: 'catalog', actions: ['*'] }] });
    assert.equal((await get('/v2/_trust/changefeed?records=10', catalog)).statusCode, 200);
  });

  void test('a publisher with a push,pull token publishes', async () => {
    const a = authApp(issuer);
    const token = issuer.token({ access: grant('example.com/authed', 'push', 'pull') });
    const inject = a.inject;
    (a as { inject: unknown }).inject = (o: Record<string, unknown>) => inject({ ...o, headers: { ...(o['headers'] as object), authorization: `Bearer ${token}` } } as never);
    const pub = new Publisher(a, 'example.com/authed');
    await pub.init();
    await pub.addTarget('with a token');
  });
});

const missing = notaryPeersUnavailableReason();

void describe('the notary client through token auth', { skip: missing === undefined ? false : `notary client unavailable: ${missing}` }, () => {
  let h: VouchHarness;
  let tokens: Awaited<ReturnType<typeof startTokenServer>>;
  const issuer = tokenIssuer();
  before(async () => {
    h = await startVouchHarness({
      start: async (pki, _workDir, logger) => {
        tokens = await startTokenServer(issuer, { cert: readFileSync(pki.server.certFile), key: readFileSync(pki.server.keyFile) });
        return startTrustServer({
          store: new MemoryMetaStore(), signer: openMemorySigningService(), logger, host: '127.0.0.1', port: 0,
          tls: { cert: readFileSync(pki.server.certFile), key: readFileSync(pki.server.keyFile) },
          auth: new TokenAuth({ realm: tokens.url, service: SERVICE, issuer: ISSUER, rootCertBundle: issuer.bundle }),
        });
      },
    });
  });
  after(async () => {
    await h?.stop();
    tokens?.server.close();
  });

  void test('init, publish and list with NOTARY_AUTH; a stranger gets nothing', async () => {
    const gun = 'example.com/token/flow';
    const alice = { env: { NOTARY_AUTH: Buffer.from('alice:secret').toString('base64') } };
    await h.notary(['init', gun, '-p'], { ...alice, expectCode: 0 });
    await h.notary(['addhash', gun, 'x', '1', '--sha256', 'd'.repeat(64), '-p'], { ...alice, expectCode: 0 });
    const list = await h.notary(['list', gun], { ...alice, expectCode: 0 });
    assert.match(list.stdout, /^x /m);
    assert.ok(tokens.requests.some((q) => q.includes(`scope=repository%3A${encodeURIComponent(gun)}%3Apush%2Cpull`) || q.includes(`scope=repository%3A${encodeURIComponent(gun)}%3Apull%2Cpush`)), tokens.requests.join('\n'));
    const stranger = await h.notary(['list', gun], { env: { NOTARY_AUTH: Buffer.from('mallory:x').toString('base64') }, trustDir: h.newDir('mallory') });
    assert.notEqual(stranger.code, 0);
  });
});

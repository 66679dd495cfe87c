/**
 * The HTTPS transport and token auth against a scripted server: TLS failures name what failed
 * (unknown authority, name mismatch) instead of notary's `client is offline`; size caps; notary's
 * status mapping; the docker/distribution token flow (anonymous first, then credentials from
 * NOTARY_AUTH or docker's config.json) with notary's scope per operation.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { parseChallenge, TokenAuthenticator } from '../../src/client/auth.ts';
import { dockerConfigSource, notaryAuthSource } from '../../src/client/credentials.ts';
import { recordingLogger } from '../../src/client/log.ts';
import { rejectionError, RemoteStore } from '../../src/client/remote.ts';
import { HttpTransport } from '../../src/client/transport.ts';
import { generateTestPki, type TestPki } from '../helpers/tls.ts';
import { startFakeServer, type FakeServer } from './fake-server.ts';

let scratch: string;
let pki: TestPki;
let fake: FakeServer;
const GUN = 'example.com/auth/repo';
before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'vouch-transport-'));
  pki = generateTestPki(join(scratch, 'pki'));
  fake = await startFakeServer(pki);
});
after(async () => {
  await fake.close();
  rmSync(scratch, { recursive: true, force: true });
});

const ca = () => readFileSync(pki.caFile, 'utf8');

test('an unknown certificate authority is named, with the flag that fixes it', async () => {
  const t = new HttpTransport({ baseUrl: fake.url });
  const remote = new RemoteStore(t, GUN);
  const host = new URL(fake.url).host;
  await assert.rejects(remote.getRole('root'), {
    code: 'TLS',
    message: `could not reach ${fake.url}: TLS: the certificate of ${host} is signed by an unknown authority (UNABLE_TO_VERIFY_LEAF_SIGNATURE); trust its CA with --tlscacert or remote_server.root_ca`,
  });
  // The transport now fails fast with the same error instead of retrying every request.
  await assert.rejects(remote.getRole('timestamp'), { code: 'TLS' });
  await t.close();
});

test('a certificate for another name is named as such', async () => {
  const server: Server = createServer({ cert: readFileSync(pki.server.certFile), key: readFileSync(pki.server.keyFile) }, (_q, s) => s.end('{}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
  const url = `https://127.0.0.2:${(server.address() as AddressInfo).port}`;
  const t = new HttpTransport({ baseUrl: url, tls: { ca: ca() } });
  await assert.rejects(new RemoteStore(t, GUN).getRole('root'), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'TLS');
    assert.match(e.message, new RegExp(`^could not reach ${url}: TLS: the certificate of 127\\.0\\.0\\.2:\\d+ is not valid for that name \\(.*127\\.0\\.0\\.2.*\\)$`));
    return true;
  });
  await t.close();
  await new Promise((r) => server.close(r));
});

test('client certificates: sent when configured; a server that requires one says so', async () => {
  const server: Server = createServer({
    cert: readFileSync(pki.server.certFile), key: readFileSync(pki.server.keyFile),
    ca: readFileSync(pki.caFile), requestCert: true, rejectUnauthorized: true,
  }, (q, s) => s.end(JSON.stringify({ cn: (q.socket as TLSSocket).getPeerCertificate().subject?.CN })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const withCert = new HttpTransport({ baseUrl: url, tls: { ca: ca(), cert: readFileSync(pki.client.certFile, 'utf8'), key: readFileSync(pki.client.keyFile, 'utf8') } });
  const res = await withCert.request({ method: 'GET', url: 'v2/', maxBytes: 1024 });
  assert.deepEqual(JSON.parse(res.body.toString()), { cn: 'notary-server' });
  await withCert.close();
  const without = new HttpTransport({ baseUrl: url, tls: { ca: ca() } });
  const host = new URL(url).host;
  await assert.rejects(without.request({ method: 'GET', url: 'v2/', maxBytes: 1024 }), {
    code: 'TLS',
    message: `could not reach ${url}: TLS: ${host} requires a client certificate; give one with --tlscert and --tlskey (or remote_server.tls_client_cert and tls_client_key)`,
  });
  await without.close();
  assert.throws(() => new HttpTransport({ baseUrl: url, tls: { cert: 'x' } }), { message: 'either pass both client key and cert, or neither' });
  await new Promise((r) => server.close(r));
});

test('notary status mapping and size caps', async () => {
  const t = new HttpTransport({ baseUrl: fake.url, tls: { ca: ca() } });
  const remote = new RemoteStore(t, 'example.com/status/map');
  await assert.rejects(remote.getRole('snapshot', { checksum: 'a'.repeat(64) }), {
    code: 'METADATA_NOT_FOUND', message: `snapshot.${'a'.repeat(64)} trust data unavailable.  Has a notary repository been initialized?`,
  });
  fake.put('example.com/status/map', 'timestamp.json', new Uint8Array(2 << 20));
  await assert.rejects(remote.getRole('timestamp'), { code: 'BAD_RESPONSE', message: /^trust server returned a bad response\. \(.*announced 2097152 bytes, more than the 1048576 allowed\)$/ });
  fake.hook((req, res) => {
    if (!(req.url ?? '').includes('/status/map/_trust/tuf/') || req.method !== 'POST') return false;
    res.writeHead(400, { 'content-type': 'application/json; charset=utf-8' });
    res.end('{"errors":[{"code":"INVALID_UPDATE","message":"Update sent by the client is invalid.","detail":{"Name":"ErrBadRoot","Error":{"Msg":"Root modifications must increment the version. Current 2, new 1"}}}]}\n');
    return true;
  });
  await assert.rejects(remote.publish(new Map([['root', new Uint8Array([1])]])), {
    code: 'SERVER_REJECTED', message: 'The root metadata is invalid: Root modifications must increment the version. Current 2, new 1',
  });
  await t.close();
});

test('a detail Name that is an Object.prototype member is not a known validation error', () => {
  const res = (name: string) => ({ status: 400, headers: {}, body: Buffer.from(`{"errors":[{"code":"INVALID_UPDATE","message":"Update sent by the client is invalid.","detail":{"Name":"${name}","Error":{"Msg":"m"}}}]}`) });
  for (const name of ['__proto__', 'constructor', 'toString']) {
    assert.equal(rejectionError(res(name)).message, 'trust server rejected operation: Update sent by the client is invalid. (INVALID_UPDATE)');
  }
  assert.equal(rejectionError(res('ErrBadRoot')).message, 'The root metadata is invalid: m');
});

test('WWW-Authenticate challenges parse like docker/distribution\'s', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.example.com/token",service="notary",scope="repository:a/b:pull,push",error="insufficient_scope"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example.com/token', service: 'notary', scope: 'repository:a/b:pull,push', error: 'insufficient_scope' },
  });
  assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: 'basic', params: { realm: 'x' } });
});

/** A token service that gives anonymous callers nothing useful, and alice push+pull. */
function installTokenService(f: FakeServer, gun: string): { tokenRequests: { scope: string; account: string | null; auth: string | undefined }[] } {
  const tokenRequests: { scope: string; account: string | null; auth: string | undefined }[] = [];
  const alice = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
  f.hook((req, res) => {
    const url = new URL(req.url ?? '/', f.url);
    if (url.pathname === '/token') {
      const scope = url.searchParams.get('scope') ?? '';
      tokenRequests.push({ scope, account: url.searchParams.get('account'), auth: req.headers.authorization });
      if (req.headers.authorization !== alice) {
        res.writeHead(200).end(JSON.stringify({ token: 'anonymous' }));
      } else {
        res.writeHead(200).end(JSON.stringify({ token: scope.endsWith(':push,pull') ? 'alice-push' : 'alice-pull', expires_in: 300 }));
      }
      return true;
    }
    if (!url.pathname.startsWith(`/v2/${gun}/`)) return false;
    const need = req.method === 'GET' ? ['Bearer alice-pull', 'Bearer alice-push'] : ['Bearer alice-push'];
    if (need.includes(req.headers.authorization ?? '')) return false;
    res.writeHead(401, {
      'www-authenticate': `Bearer realm="${f.url}/token",service="notary-server",scope="repository:${gun}:${req.method === 'GET' ? 'pull' : 'push,pull'}"`,
      'content-type': 'application/json; charset=utf-8',
    }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n');
    return true;
  });
  return { tokenRequests };
}

test('token auth: anonymous first, then NOTARY_AUTH credentials, with notary\'s scopes', async () => {
  const gun = 'example.com/auth/notary-auth';
  const { tokenRequests } = installTokenService(fake, gun);
  fake.put(gun, 'root.json', new Uint8Array(Buffer.from('{}')));
  const log = recordingLogger();
  const auth = new TokenAuthenticator({ gun, credentials: [notaryAuthSource(Buffer.from('alice:s3cret').toString('base64'), log)] });
  const t = new HttpTransport({ baseUrl: fake.url, tls: { ca: ca() }, authenticator: auth });
  const remote = new RemoteStore(t, gun);
  assert.equal(Buffer.from(await remote.getRole('root')).toString(), '{}');
  await assert.rejects(remote.publish(new Map([['targets', new Uint8Array([1])]])), { code: 'METADATA_NOT_FOUND' }); // authorized, then the fake's 404
  assert.deepEqual(tokenRequests, [
    { scope: `repository:${gun}:pull`, account: null, auth: undefined },
    { scope: `repository:${gun}:pull`, account: 'alice', auth: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` },
    { scope: `repository:${gun}:push,pull`, account: null, auth: undefined },
    { scope: `repository:${gun}:push,pull`, account: 'alice', auth: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` },
  ]);
  // The pull token is cached: a second read sends it up front, with no new token request.
  await remote.getRole('root');
  assert.equal(tokenRequests.length, 4);
  await t.close();
});

test('token auth: credentials from docker\'s config.json; without any, the 401 is reported', async () => {
  const gun = 'example.com/auth/docker-config';
  installTokenService(fake, gun);
  fake.put(gun, 'root.json', new Uint8Array(Buffer.from('{}')));
  const log = recordingLogger();
  const cfg = join(scratch, 'docker-config.json');
  writeFileSync(cfg, JSON.stringify({ auths: { [new URL(fake.url).host]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }));
  const withCreds = new HttpTransport({ baseUrl: fake.url, tls: { ca: ca() }, authenticator: new TokenAuthenticator({ gun, credentials: [dockerConfigSource(cfg, log)] }) });
  assert.equal(Buffer.from(await new RemoteStore(withCreds, gun).getRole('root')).toString(), '{}');
  await withCreds.close();
  const none = new HttpTransport({ baseUrl: fake.url, tls: { ca: ca() }, authenticator: new TokenAuthenticator({ gun, credentials: [notaryAuthSource(undefined, log)] }) });
  await assert.rejects(new RemoteStore(none, gun).getRole('root'), { code: 'UNAUTHORIZED', message: 'you are not authorized to perform this operation: server returned 401.' });
  await none.close();
});

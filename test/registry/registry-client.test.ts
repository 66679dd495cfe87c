/**
 * The Registry API v2 client: against the Debian docker-registry 2.8.2 (HTTPS with a private CA,
 * and plain HTTP on loopback) for every manifest media type, and against a stub registry for
 * token auth, lying digests, errors and size caps.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient, RegistryError } from '../../src/client/registry/client.ts';
import { generateTestPki, type TestPki } from '../helpers/tls.ts';
import { DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, OCI_INDEX, OCI_MANIFEST, pushImage, pushIndex, registryUnavailableReason, startRegistry, type RegistryPeer } from './registry.ts';

const skip = registryUnavailableReason();
let work: string;
let pki: TestPki;
let tlsRegistry: RegistryPeer;
let plainRegistry: RegistryPeer;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'vouch-registry-'));
  if (skip !== undefined) return;
  pki = generateTestPki(join(work, 'pki'));
  tlsRegistry = await startRegistry({ workDir: work, tls: { ...pki.server, caFile: pki.caFile } });
  plainRegistry = await startRegistry({ workDir: work });
});
after(async () => {
  await tlsRegistry?.stop();
  await plainRegistry?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('manifests of every media type: digest and size of the exact bytes served', { skip }, async () => {
  const client = new RegistryClient({ host: tlsRegistry.host, tls: { ca: readFileSync(pki.caFile, 'utf8') } });
  const docker = await pushImage(tlsRegistry, 'team/app', 'docker', { layers: 2 });
  const oci = await pushImage(tlsRegistry, 'team/app', 'oci', { mediaType: OCI_MANIFEST });
  const { index, images } = await pushIndex(tlsRegistry, 'team/app', 'multi', ['amd64', 'arm64']);
  const { index: list } = await pushIndex(tlsRegistry, 'team/app', 'list', ['amd64'], 'docker');
  for (const [tag, pushed, type] of [['docker', docker, DOCKER_MANIFEST_V2], ['oci', oci, OCI_MANIFEST], ['multi', index, OCI_INDEX], ['list', list, DOCKER_MANIFEST_LIST]] as const) {
    const got = await client.getManifest('team/app', tag, `x:${tag}`);
    assert.deepEqual([got.digest, got.size, got.mediaType], [pushed.digest, pushed.size, type], tag);
    assert.ok(got.bytes.equals(pushed.bytes));
    const byDigest = await client.getManifest('team/app', pushed.digest, 'x');
    assert.equal(byDigest.digest, pushed.digest);
  }
  const multi = await client.getManifest('team/app', 'multi', 'x');
  assert.deepEqual(multi.manifests?.map((m) => [m.digest, m.size, m.platform?.architecture]), images.map((m, i) => [m.digest, m.size, ['amd64', 'arm64'][i]]));
});

test('unknown tags and repositories: the registry\'s messages', { skip }, async () => {
  const client = new RegistryClient({ host: tlsRegistry.host, tls: { ca: readFileSync(pki.caFile, 'utf8') } });
  await pushImage(tlsRegistry, 'team/known', 'v1');
  await assert.rejects(client.getManifest('team/known', 'nope', `${tlsRegistry.host}/team/known:nope`), (e: unknown) =>
    e instanceof RegistryError && e.code === 'MANIFEST_UNKNOWN' && e.message === `manifest for ${tlsRegistry.host}/team/known:nope not found: manifest unknown: manifest unknown`);
  // 2.8.2 answers MANIFEST_UNKNOWN for a repository it has never seen, too.
  await assert.rejects(client.getManifest('team/unknown', 'v1', 'team/unknown:v1'), (e: unknown) =>
    e instanceof RegistryError && e.code === 'MANIFEST_UNKNOWN' && e.message === 'manifest for team/unknown:v1 not found: manifest unknown: manifest unknown');
});

test('TLS: an unknown CA is named; loopback falls back to plain HTTP only when allowed', { skip }, async () => {
  const untrusted = new RegistryClient({ host: tlsRegistry.host, caHint: '/cfg/tls/x/ca.crt' });
  await assert.rejects(untrusted.getManifest('team/app', 'docker', 'x'), (e: unknown) =>
    e instanceof RegistryError && e.code === 'UNREACHABLE' && /unknown authority/.test(e.message) && e.message.endsWith("(trust the registry's CA by putting it in /cfg/tls/x/ca.crt)"));
  const pushed = await pushImage(plainRegistry, 'team/plain', 'v1');
  const strict = new RegistryClient({ host: plainRegistry.host });
  await assert.rejects(strict.getManifest('team/plain', 'v1', 'x'), (e: unknown) => e instanceof RegistryError && e.code === 'UNREACHABLE');
  const loopback = new RegistryClient({ host: plainRegistry.host, allowHttp: true });
  assert.equal((await loopback.getManifest('team/plain', 'v1', 'x')).digest, pushed.digest);
});

// --- a stub registry for what the real one cannot be made to do ---

interface Stub {
  readonly host: string;
  readonly requests: { url: string; authorization: string | undefined }[];
  close(): Promise<void>;
}

function startStub(handler: (req: IncomingMessage, res: ServerResponse, host: string) => void): Promise<Stub> {
  const requests: Stub['requests'] = [];
  let host = '';
  const server: Server = createServer((req, res) => {
    requests.push({ url: req.url ?? '', authorization: req.headers.authorization });
    handler(req, res, host);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    host = `127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
    resolve({ host, requests, close: () => new Promise((r) => server.close(() => r())) });
  }));
}

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST_V2, config: { mediaType: 'x', size: 1, digest: `sha256:${'0'.repeat(64)}` }, layers: [] }));
const DIGEST = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;

test('token auth: anonymous first, then the registry login, scope repository:<path>:pull', async () => {
  const stub = await startStub((req, res, host) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    if (url.pathname === '/token') {
      const ok = req.headers.authorization === `Basic ${Buffer.from('ann:s3cret').toString('base64')}`;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(ok ? '{"token":"tok-1","expires_in":300}' : '{}');
      return;
    }
    if (req.headers.authorization !== 'Bearer tok-1') {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="stub-registry",scope="repository:team/app:pull"` }).end();
      return;
    }
    res.writeHead(200, { 'content-type': DOCKER_MANIFEST_V2, 'docker-content-digest': DIGEST }).end(MANIFEST);
  });
  try {
    const client = new RegistryClient({
      host: stub.host, allowHttp: true,
      credentials: [{ get: () => Promise.resolve({ kind: 'basic', username: 'ann', password: 's3cret' }) }],
    });
    const got = await client.getManifest('team/app', 'v1', 'x');
    assert.deepEqual([got.digest, got.size], [DIGEST, MANIFEST.length]);
    const tokenUrls = stub.requests.filter((r) => r.url.startsWith('/token')).map((r) => new URL(r.url, 'http://x'));
    assert.deepEqual(tokenUrls.map((u) => [u.searchParams.get('scope'), u.searchParams.get('service'), u.searchParams.get('account')]),
      [['repository:team/app:pull', 'stub-registry', null], ['repository:team/app:pull', 'stub-registry', 'ann']]);
    const none = new RegistryClient({ host: stub.host, allowHttp: true });
    await assert.rejects(none.getManifest('team/app', 'v1', 'x'), (e: unknown) => e instanceof RegistryError && e.code === 'UNAUTHORIZED' && e.message === 'unauthorized: authentication required');
  } finally {
    await stub.close();
  }
});

test('a registry that lies about digests, sends schema 1 or too much is refused', async () => {
  let mode = '';
  const stub = await startStub((_req, res) => {
    if (mode === 'header') res.writeHead(200, { 'content-type': DOCKER_MANIFEST_V2, 'docker-content-digest': `sha256:${'1'.repeat(64)}` }).end(MANIFEST);
    else if (mode === 'schema1') res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' }).end('{"schemaVersion":1}');
    else if (mode === 'huge') res.writeHead(200, { 'content-type': DOCKER_MANIFEST_V2, 'content-length': String(5 * 1024 * 1024) }).end();
    else res.writeHead(200, { 'content-type': DOCKER_MANIFEST_V2 }).end(MANIFEST);
  });
  try {
    const client = new RegistryClient({ host: stub.host, allowHttp: true });
    mode = 'header';
    await assert.rejects(client.getManifest('a', 'v1', 'a:v1'), (e: unknown) => e instanceof RegistryError && e.code === 'DIGEST_MISMATCH' &&
      e.message === `the registry announced digest sha256:${'1'.repeat(64)} for a:v1 but sent a manifest whose digest is ${DIGEST}`);
    mode = 'plain';
    await assert.rejects(client.getManifest('a', `sha256:${'2'.repeat(64)}`, 'a'), (e: unknown) => e instanceof RegistryError && e.code === 'DIGEST_MISMATCH');
    assert.equal((await client.getManifest('a', DIGEST, 'a')).digest, DIGEST);
    mode = 'schema1';
    await assert.rejects(client.getManifest('a', 'v1', 'a:v1'), (e: unknown) => e instanceof Error && (e as { code?: string }).code === 'BAD_RESPONSE' &&
      e.message === 'the registry returned an invalid manifest for a:v1: unsupported media type "application/vnd.docker.distribution.manifest.v1+prettyjws" (schema 1 manifests cannot be signed)');
    mode = 'huge';
    await assert.rejects(client.getManifest('a', 'v1', 'a:v1'), (e: unknown) => e instanceof RegistryError && e.code === 'BAD_RESPONSE' && /announced 5242880 bytes/.test(e.message));
  } finally {
    await stub.close();
  }
});

/**
 * The CA-file fast path (src/client/tls-anchors.ts, the anchored agent in src/client/wire.ts): it
 * accepts only chains it can check completely and leaves everything else to OpenSSL, which then
 * accepts or refuses with the standard error. Certificates are made by /usr/bin/openssl.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePemBlocks } from '../../src/crypto/pem.ts';
import { chainCertificates, chainTrusted, type ChainCertificate } from '../../src/client/tls-anchors.ts';
import { DEFAULT_TIMEOUTS, HttpTransport } from '../../src/client/transport.ts';
import { nodeWire, type ConnectionPath } from '../../src/client/wire.ts';
import { OPENSSL } from '../helpers/tls.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vouch-anchors-'));
  mkdirSync(dir, { recursive: true });
});
after(() => rmSync(dir, { recursive: true, force: true }));

function openssl(args: readonly string[]): void {
  const r = spawnSync(OPENSSL, args, { cwd: dir, encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

interface Made {
  readonly cert: string;
  readonly key: string;
}

let serial = 0;
/** A CA (self-signed) or a certificate issued by `issuer`, with the given extension lines. */
function make(name: string, ext: readonly string[], issuer?: Made, opts: { key?: string; digest?: string; days?: string } = {}): Made {
  const made = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const keyArgs = (opts.key ?? 'ec').startsWith('rsa') ? ['-newkey', opts.key ?? 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, `${ext.join('\n')}\n`);
  const digest = `-${opts.digest ?? 'sha256'}`;
  if (issuer === undefined) {
    openssl(['req', '-x509', ...keyArgs, '-nodes', '-keyout', made.key, '-out', made.cert, '-days', opts.days ?? '2', digest,
      '-subj', `/CN=${name}`, '-extensions', 'v3', '-config', writeConfig(name, ext)]);
  } else {
    const csr = join(dir, `${name}.csr`);
    openssl(['req', '-new', ...keyArgs, '-nodes', '-keyout', made.key, '-subj', `/CN=${name}`, '-out', csr]);
    openssl(['x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, '-set_serial', String(++serial + 1000),
      '-days', opts.days ?? '2', digest, '-extfile', extFile, '-out', made.cert]);
  }
  return made;
}

function writeConfig(name: string, ext: readonly string[]): string {
  const file = join(dir, `${name}.cnf`);
  writeFileSync(file, `[req]\ndistinguished_name = dn\n[dn]\n[v3]\n${ext.join('\n')}\n`);
  return file;
}

const CA_EXT = ['basicConstraints = critical, CA:TRUE', 'keyUsage = critical, keyCertSign, cRLSign', 'subjectKeyIdentifier = hash'];
const LEAF_EXT = ['basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature', 'extendedKeyUsage = serverAuth',
  'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid', 'subjectAltName = DNS:localhost, IP:127.0.0.1'];

function certs(...files: string[]): ChainCertificate[] {
  const ders = files.flatMap((f) => decodePemBlocks(readFileSync(f, 'utf8')).map((b) => b.bytes));
  const parsed = chainCertificates(ders);
  assert.ok(parsed !== undefined);
  return parsed;
}

/** Certificates are dated by the second they are made, so "now" is read at each check. */
const now = (): Date => new Date();

test('a leaf issued by the CA, or through an intermediate the server sends, is trusted', () => {
  const ca = make('ca', CA_EXT);
  const leaf = make('leaf', LEAF_EXT, ca);
  assert.equal(chainTrusted(certs(leaf.cert), certs(ca.cert), now()), true);
  // The server may also send the CA itself.
  assert.equal(chainTrusted(certs(leaf.cert, ca.cert), certs(ca.cert), now()), true);
  const inter = make('inter', [...CA_EXT, 'authorityKeyIdentifier = keyid'], ca);
  const deep = make('deep', LEAF_EXT, inter);
  assert.equal(chainTrusted(certs(deep.cert, inter.cert), certs(ca.cert), now()), true);
  // Without the intermediate, or against another CA: not for the fast path.
  assert.equal(chainTrusted(certs(deep.cert), certs(ca.cert), now()), false);
  const other = make('other-ca', CA_EXT);
  assert.equal(chainTrusted(certs(leaf.cert), certs(other.cert), now()), false);
});

test('validity is checked for every certificate in the path', () => {
  const ca = make('v-ca', CA_EXT, undefined, { days: '30' });
  const leaf = make('v-leaf', LEAF_EXT, ca, { days: '1' });
  const afterLeaf = new Date(Date.now() + 3 * 86_400_000);
  const beforeAll = new Date(Date.now() - 86_400_000);
  assert.equal(chainTrusted(certs(leaf.cert), certs(ca.cert), now()), true);
  assert.equal(chainTrusted(certs(leaf.cert), certs(ca.cert), afterLeaf), false);
  assert.equal(chainTrusted(certs(leaf.cert), certs(ca.cert), beforeAll), false);
  const shortCa = make('v-short-ca', CA_EXT, undefined, { days: '1' });
  const longLeaf = make('v-long-leaf', LEAF_EXT, shortCa, { days: '30' });
  assert.equal(chainTrusted(certs(longLeaf.cert), certs(shortCa.cert), afterLeaf), false);
});

test('anything outside the checked subset is left to OpenSSL', () => {
  const ca = make('s-ca', CA_EXT);
  const cases: [string, Made][] = [
    ['client-auth-only leaf', make('s-client', LEAF_EXT.map((l) => (l.startsWith('extendedKeyUsage') ? 'extendedKeyUsage = clientAuth' : l)), ca)],
    ['leaf with keyCertSign only', make('s-ku', LEAF_EXT.map((l) => (l.startsWith('keyUsage') ? 'keyUsage = critical, keyCertSign' : l)), ca)],
    ['CA leaf', make('s-caleaf', LEAF_EXT.map((l) => (l.startsWith('basicConstraints') ? 'basicConstraints = critical, CA:TRUE' : l)), ca)],
    ['SHA-1 signature', make('s-sha1', LEAF_EXT, ca, { digest: 'sha1' })],
    ['1024-bit RSA key', make('s-rsa1024', LEAF_EXT, ca, { key: 'rsa:1024' })],
    ['unknown critical extension', make('s-crit', [...LEAF_EXT, '1.2.3.4 = critical, ASN1:NULL'], ca)],
  ];
  for (const [what, leaf] of cases) assert.equal(chainTrusted(certs(leaf.cert), certs(ca.cert), now()), false, what);
  assert.equal(chainTrusted(certs(make('s-rsa', LEAF_EXT, ca, { key: 'rsa:2048' }).cert), certs(ca.cert), now()), true);

  // Intermediates: not a CA, name constraints, a path length.
  const notCa = make('s-notca', ['basicConstraints = critical, CA:FALSE', 'keyUsage = critical, keyCertSign', 'subjectKeyIdentifier = hash'], ca);
  assert.equal(chainTrusted(certs(make('s-under-notca', LEAF_EXT, notCa).cert, notCa.cert), certs(ca.cert), now()), false);
  const constrained = make('s-nc', [...CA_EXT, 'nameConstraints = critical, permitted;DNS:localhost, permitted;IP:127.0.0.1/255.255.255.255'], ca);
  assert.equal(chainTrusted(certs(make('s-under-nc', LEAF_EXT, constrained).cert, constrained.cert), certs(ca.cert), now()), false);
  const pathLen = make('s-pl', [...CA_EXT.map((l) => (l.startsWith('basicConstraints') ? 'basicConstraints = critical, CA:TRUE, pathlen:0' : l))], ca);
  assert.equal(chainTrusted(certs(make('s-under-pl', LEAF_EXT, pathLen).cert, pathLen.cert), certs(ca.cert), now()), false);
});

async function serve(leaf: Made, chain: readonly string[] = []): Promise<{ url: string; close: () => Promise<void> }> {
  const cert = [leaf.cert, ...chain].map((f) => readFileSync(f, 'utf8')).join('');
  const server: Server = createServer({ cert, key: readFileSync(leaf.key) }, (_q, s) => s.end('{"ok":true}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise((r) => server.close(() => r())) };
}

async function fetchWith(url: string, caFile: string): Promise<{ paths: ConnectionPath[]; result: unknown }> {
  const paths: ConnectionPath[] = [];
  const wire = nodeWire({ ca: readFileSync(caFile, 'utf8') }, DEFAULT_TIMEOUTS, (p) => paths.push(p));
  const t = new HttpTransport({ baseUrl: url, wire });
  try {
    const res = await t.request({ method: 'GET', url: 'v2/', maxBytes: 1024 });
    return { paths, result: JSON.parse(res.body.toString()) };
  } catch (e) {
    return { paths, result: e };
  } finally {
    await t.close();
  }
}

test('over the wire: a checkable chain takes the fast path; a constrained one is accepted by OpenSSL', async () => {
  const ca = make('w-ca', CA_EXT);
  const plain = await serve(make('w-leaf', LEAF_EXT, ca));
  try {
    assert.deepEqual(await fetchWith(plain.url, ca.cert), { paths: ['anchored'], result: { ok: true } });
  } finally {
    await plain.close();
  }
  const constrained = make('w-nc', [...CA_EXT, 'authorityKeyIdentifier = keyid', 'nameConstraints = critical, permitted;IP:127.0.0.0/255.0.0.0, permitted;DNS:localhost'], ca);
  const server = await serve(make('w-under-nc', LEAF_EXT, constrained), [constrained.cert]);
  try {
    assert.deepEqual(await fetchWith(server.url, ca.cert), { paths: ['standard'], result: { ok: true } });
  } finally {
    await server.close();
  }
});

test('over the wire: parallel connections to one server are all checked, the repeated chain from the first verdict', async () => {
  const ca = make('p-ca', CA_EXT);
  const server = await serve(make('p-leaf', LEAF_EXT, ca));
  const paths: ConnectionPath[] = [];
  const t = new HttpTransport({ baseUrl: server.url, wire: nodeWire({ ca: readFileSync(ca.cert, 'utf8') }, DEFAULT_TIMEOUTS, (p) => paths.push(p)) });
  try {
    const bodies = await Promise.all([1, 2, 3, 4].map(() => t.request({ method: 'GET', url: 'v2/', maxBytes: 1024 }).then((r) => r.body.toString())));
    assert.deepEqual(bodies, Array(4).fill('{"ok":true}'));
    assert.deepEqual(paths, Array(4).fill('anchored'));
  } finally {
    await t.close();
    await server.close();
  }
});

test('over the wire: a chain OpenSSL refuses fails with the standard error after the fallback', async () => {
  const ca = make('f-ca', CA_EXT);
  const other = make('f-other', CA_EXT);
  const server = await serve(make('f-leaf', LEAF_EXT, other));
  try {
    const { paths, result } = await fetchWith(server.url, ca.cert);
    assert.deepEqual(paths, ['standard']);
    assert.ok(result instanceof Error);
    assert.equal((result as Error & { code?: string }).code, 'TLS');
    assert.match(result.message, /signed by an unknown authority \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/);
  } finally {
    await server.close();
  }
});

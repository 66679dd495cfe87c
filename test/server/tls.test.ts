// The wire below HTTP (docs/compatibility.md §4 "TLS", "Path traversal", bad uploads): TLS 1.2 as the
// floor, client certificates when a client CA is configured, raw request paths that a URL library
// would have cleaned, and a body that contradicts its Content-Length.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type ConnectionOptions } from 'node:tls';

import { startTrustServer } from '../../src/server/server.ts';
import { MemoryMetaStore } from '../../src/server/store.ts';
import { startVouchHarness, type VouchHarness } from './harness.ts';

/** Sends raw bytes over TLS and returns everything the server wrote before closing (or 2 s). */
function raw(h: VouchHarness, request: string, opts: ConnectionOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: h.server.port, ca: readFileSync(h.caFile), servername: 'localhost', ...opts }, () => {
      socket.write(request);
    });
    let out = '';
    const timer = setTimeout(() => socket.destroy(), 2_000);
    socket.on('data', (c: Buffer) => { out += c.toString('latin1'); });
    socket.on('error', (e: Error) => { clearTimeout(timer); reject(e); });
    socket.on('close', () => { clearTimeout(timer); resolve(out); });
  });
}

const statuses = (response: string): number[] => [...response.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));

void describe('TLS and raw requests', () => {
  let h: VouchHarness;
  before(async () => {
    h = await startVouchHarness();
  });
  after(async () => {
    await h?.stop();
  });

  void test('TLS 1.2 and 1.3 connect; TLS 1.1 is refused', async () => {
    for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
      const r = await raw(h, 'GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { minVersion: v, maxVersion: v });
      assert.deepEqual(statuses(r), [200], v);
    }
    await assert.rejects(raw(h, 'GET /v2/ HTTP/1.1\r\n\r\n', { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }));
  });

  void test('dot segments and empty segments in raw GUN paths are 400 INVALID_GUN', async () => {
    for (const path of ['/v2/a/../b/_trust/tuf/root.json', '/v2/a/./b/_trust/tuf/root.json', '/v2/../_trust/tuf/root.json', '/v2/a//b/_trust/tuf/root.json', '/v2/a/%2e%2e/b/_trust/tuf/']) {
      const method = path.endsWith('/') ? 'DELETE' : 'GET';
      const r = await raw(h, `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.deepEqual(statuses(r), [400], path);
      assert.match(r, /"code":"INVALID_GUN"/, path);
    }
  });

  void test('a body behind Content-Length: 0 is answered 400, never parsed as metadata', async () => {
    const r = await raw(h, 'POST /v2/a/b/_trust/tuf/ HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 0\r\n\r\n--b\r\nContent-Disposition: form-data; filename="root"\r\n\r\n{}\r\n--b--\r\n');
    const codes = statuses(r);
    assert.ok(codes.length >= 1 && codes.every((c) => c === 400), `${codes.join(',')}\n${r}`);
    assert.equal(await h.store.getLatest('a/b', 'root'), undefined);
  });
});

void describe('client certificates', () => {
  let h: VouchHarness;
  before(async () => {
    h = await startVouchHarness({
      start: async (pki, _dir, logger) => {
        return startTrustServer({
          store: new MemoryMetaStore(), logger, host: '127.0.0.1', port: 0,
          tls: { cert: readFileSync(pki.server.certFile), key: readFileSync(pki.server.keyFile), clientCa: readFileSync(pki.caFile) },
        });
      },
    });
  });
  after(async () => {
    await h?.stop();
  });

  void test('with server.client_ca_file a client without a certificate is refused', async () => {
    const noCert = await raw(h, 'GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').catch((e: Error) => `refused: ${e.message}`);
    assert.doesNotMatch(noCert, /^HTTP\/1\.1 200/m);
    const withCert = await raw(h, 'GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', {
      cert: readFileSync(h.pki.client.certFile), key: readFileSync(h.pki.client.keyFile),
    });
    assert.deepEqual(statuses(withCert), [200]);
  });
});

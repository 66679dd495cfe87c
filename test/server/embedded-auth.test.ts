// The embedded default is never an open server by accident (issue 13, holes 1 and 7): a listen
// address beyond loopback needs --htpasswd or an explicit --insecure-no-auth; the banner says
// whether auth is on; HTTP basic auth against a file written by the real `htpasswd -B` guards
// DELETE, POST and the changefeed (the real notary client publishes with NOTARY_AUTH); and the
// signer's passphrase is kept outside the data directory, where the banner says.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { runNotary } from '../helpers/notary-cli.ts';
import { notaryPeersUnavailableReason } from '../helpers/notary-harness.ts';
import { startServerProcess, stopServerProcess } from './cli-process.ts';

const HTPASSWD = '/usr/bin/htpasswd';
const missing = notaryPeersUnavailableReason() ?? (existsSync(HTPASSWD) ? undefined : `${HTPASSWD} (apache2-utils) is not installed`);

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function call(method: string, url: string, caFile: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca: readFileSync(caFile), agent: false, timeout: 10_000, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timeout`)));
    req.on('error', reject);
    req.end(body);
  });
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

void describe('embedded server: auth beyond loopback, basic auth, passphrase outside the data dir', { skip: missing ?? false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-embedded-auth-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  void test('a non-loopback --listen without auth is refused; --insecure-no-auth starts and says auth is OFF', async () => {
    const dataDir = join(dir, 'open');
    await assert.rejects(startServerProcess(['--data-dir', dataDir, '--listen', '0.0.0.0:0'], { HOME: dir }),
      /server exited 1:\nvouch server: refusing to listen on 0\.0\.0\.0:0 without auth: .*Pass --htpasswd FILE/);
    const s = await startServerProcess(['--data-dir', dataDir, '--listen', '0.0.0.0:0', '--insecure-no-auth'], { HOME: dir });
    try {
      assert.match(s.banner, /^ {2}auth: +OFF \(anyone who reaches the port may publish and delete\)$/m);
    } finally {
      assert.equal(await stopServerProcess(s), 0);
    }
  });

  void test('basic auth from an htpasswd -B file guards DELETE, POST, key routes and the changefeeds (reads stay anonymous); notary publishes with NOTARY_AUTH', async () => {
    const dataDir = join(dir, 'basic');
    const htpasswd = join(dir, 'htpasswd');
    execFileSync(HTPASSWD, ['-cbB', htpasswd, 'alice', 'correct horse']);
    const s = await startServerProcess(['--data-dir', dataDir, '--listen', '127.0.0.1:0', '--htpasswd', htpasswd], { HOME: dir });
    try {
      assert.match(s.banner, new RegExp(`^ {2}auth: +on \\(HTTP basic, users in ${htpasswd.replace(/[/.]/g, '\\$&')}\\)$`, 'm'));
      const caFile = join(dataDir, 'tls', 'ca.crt');
      const gun = 'example.com/guarded';
      const tuf = `${s.url}/v2/${gun}/_trust/tuf/`;
      for (const [method, url] of [['DELETE', tuf], ['POST', tuf], ['GET', `${s.url}/v2/_trust/changefeed`], ['GET', `${s.url}/v2/${gun}/_trust/changefeed`], ['GET', `${tuf}timestamp.key`], ['POST', `${tuf}timestamp.key`]] as const) {
        const variants: Record<string, string>[] = [{}, { authorization: basic('alice', 'wrong') }, { authorization: basic('mallory', 'correct horse') }, { authorization: 'Bearer x.y.z' }];
        for (const headers of variants) {
          const a = await call(method, url, caFile, headers, method === 'POST' ? Buffer.from('x') : undefined);
          assert.equal(a.status, 401, `${method} ${url} with ${JSON.stringify(headers)}`);
          assert.match(a.body, /"code":"UNAUTHORIZED"/);
          assert.equal(a.headers['www-authenticate'], 'Basic realm="vouch", charset="UTF-8"');
        }
      }
      const health = await call('GET', `${s.url}/_notary_server/health`, caFile);
      assert.equal(health.status, 200, 'health needs no auth');

      const trustDir = join(dir, 'trust');
      const auth = { NOTARY_AUTH: Buffer.from('alice:correct horse').toString('base64') };
      const denied = await runNotary(['init', gun, '-p'], { trustDir, serverUrl: s.url, caFile });
      assert.notEqual(denied.code, 0, 'notary without credentials cannot publish');
      await runNotary(['init', gun, '-p'], { trustDir, serverUrl: s.url, caFile, env: auth, expectCode: 0 });
      await runNotary(['addhash', gun, 'one', '3', '--sha256', 'a'.repeat(64), '-p'], { trustDir, serverUrl: s.url, caFile, env: auth, expectCode: 0 });

      // Reads of signed metadata stay anonymous (notary and docker send no password for reads).
      for (const role of ['timestamp', 'snapshot', 'targets', 'root']) {
        const r = await call('GET', `${tuf}${role}.json`, caFile);
        assert.equal(r.status, 200, `${role}.json without credentials`);
      }
      assert.match((await call('GET', `${tuf}targets.json`, caFile)).body, /"one"/);
      const feed = await call('GET', `${s.url}/v2/_trust/changefeed?change_id=0&records=10`, caFile, { authorization: basic('alice', 'correct horse') });
      assert.equal(feed.status, 200);
      assert.match(feed.body, /example\.com\/guarded/);
      const del = await call('DELETE', tuf, caFile, { authorization: basic('alice', 'correct horse') });
      assert.equal(del.status, 200);
      assert.equal((await call('GET', `${tuf}root.json`, caFile)).status, 404);
    } finally {
      assert.equal(await stopServerProcess(s), 0);
    }
  });

  void test('an htpasswd file with a non-bcrypt hash does not load', async () => {
    const htpasswd = join(dir, 'htpasswd-md5');
    execFileSync(HTPASSWD, ['-cbm', htpasswd, 'bob', 'pw']);
    await assert.rejects(startServerProcess(['--data-dir', join(dir, 'md5'), '--listen', '127.0.0.1:0', '--htpasswd', htpasswd], { HOME: dir }),
      /server exited 1:\nvouch server: .*htpasswd-md5 line 1: the hash of user "bob" is not bcrypt; write it with htpasswd -B/);
  });

  void test('the signer passphrase lives outside the data directory; an old one is moved out; one inside is refused', async () => {
    const home = join(dir, 'home');
    const dataDir = join(dir, 'legacy');
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dataDir, 'signer-passphrase'), 'old-passphrase-value\n', { mode: 0o600 });
    const s = await startServerProcess(['--data-dir', dataDir, '--listen', '127.0.0.1:0'], { HOME: home });
    const moved = join(home, '.config', 'vouch', 'server-signer-passphrase');
    try {
      assert.match(s.banner, new RegExp(`passphrase of the signer keys: ${moved.replace(/[/.]/g, '\\$&')} \\(moved out of `));
      assert.equal(existsSync(join(dataDir, 'signer-passphrase')), false, 'no passphrase left beside the keys');
      assert.equal(readFileSync(moved, 'utf8'), 'old-passphrase-value\n');
      assert.equal(statSync(moved).mode & 0o777, 0o600);
    } finally {
      assert.equal(await stopServerProcess(s), 0);
    }
    await assert.rejects(startServerProcess(['--data-dir', dataDir, '--listen', '127.0.0.1:0', '--passphrase-file', join(dataDir, 'pp')], { HOME: home }),
      /vouch server: the signer passphrase file \S+\/pp is inside the data directory/);
  });
});

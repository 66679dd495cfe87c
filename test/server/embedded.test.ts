// `vouch server` with no config (README command (1)): a child process creates its data directory,
// CA and keys, prints how to reach it, serves the real notary client, shuts down cleanly on
// SIGTERM, and after a restart keeps its CA, its metadata and its timestamp key.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { runNotary } from '../helpers/notary-cli.ts';
import { notaryPeersUnavailableReason } from '../helpers/notary-harness.ts';
import { startServerProcess, stopServerProcess, type ServerProcess } from './cli-process.ts';

const missing = notaryPeersUnavailableReason();

const startServer = (dataDir: string): Promise<ServerProcess> => startServerProcess(['--data-dir', dataDir, '--listen', '127.0.0.1:0'], { HOME: join(dataDir, '..') });
const stopServer = stopServerProcess;

void describe('vouch server, embedded default', { skip: missing === undefined ? false : `notary client unavailable: ${missing}` }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-embedded-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  void test('first start, notary publishes through it, restart keeps CA, data and keys', async () => {
    const dataDir = join(dir, 'data');
    const trustDir = join(dir, 'trust');
    const caFile = join(dataDir, 'tls', 'ca.crt');
    const first = await startServer(dataDir);
    assert.match(first.banner, new RegExp(`TLS: +certificate issued by a CA generated for this server \\(created now\\):\\n +${caFile.replace(/\//g, '\\/')}\\n`));
    assert.match(first.banner, /notary -s https:\/\/127\.0\.0\.1:\d+ --tlscacert \S+ca\.crt <command>/);
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    for (const f of ['server.db', 'signer.db', 'tls/ca.key', 'tls/server.key']) assert.equal(statSync(join(dataDir, f)).mode & 0o777, 0o600, f);
    assert.equal(statSync(join(dir, '.config', 'vouch', 'server-signer-passphrase')).mode & 0o777, 0o600, 'the passphrase is kept outside the data directory');
    const ca = readFileSync(caFile, 'utf8');
    const notary = (url: string, args: string[]) => runNotary(args, { trustDir, serverUrl: url, caFile, expectCode: 0 });
    const gun = 'example.com/embedded';
    await notary(first.url, ['init', gun, '-p']);
    await notary(first.url, ['addhash', gun, 'one', '3', '--sha256', 'a'.repeat(64), '-p']);
    assert.equal(await stopServer(first), 0);

    const second = await startServer(dataDir);
    try {
      assert.doesNotMatch(second.banner, /created now/);
      assert.equal(readFileSync(caFile, 'utf8'), ca, 'the CA survives restarts');
      await notary(second.url, ['addhash', gun, 'two', '3', '--sha256', 'b'.repeat(64), '-p']);
      const list = await notary(second.url, ['list', gun]);
      assert.match(list.stdout, /^one /m);
      assert.match(list.stdout, /^two /m);
    } finally {
      assert.equal(await stopServer(second), 0);
    }
  });

  void test('a broken TLS key stops the start (fail closed)', async () => {
    const dataDir = join(dir, 'broken');
    const s = await startServer(dataDir);
    await stopServer(s);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dataDir, 'tls', 'server.key'), 'not a key\n');
    await assert.rejects(startServer(dataDir), /server exited 1:\nvouch server: TLS certificate \S+server.crt and key \S+server.key cannot be used: /);
  });
});

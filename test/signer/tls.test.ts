// Transport security and fail-closed start-up of `vouch signer` (docs/compatibility.md §4 TLS;
// docs/compatibility.md §3: notary-signer starts without the alias passphrase, Vouch refuses). Handshakes
// without a client certificate, with one from another CA, with an expired one, over TLS 1.1 and
// in plain text are all refused; a valid client certificate is served.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, credentials } from '@grpc/grpc-js';

import { parseSignerConfig } from '../../src/signer/config.ts';
import { startSigner } from '../../src/signer/daemon.ts';
import type { RunningSigner } from '../../src/signer/daemon.ts';
import { SignerError } from '../../src/signer/errors.ts';
import { HealthClient } from '../../src/signer/generated/grpc_health_v1.ts';
import { SILENT_LOG } from '../../src/signer/log.ts';
import { grpcHealthServing } from '../helpers/grpc-health.ts';
import { DEFAULT_SIGNER_PASSPHRASE } from '../helpers/notary-peers.ts';
import { generateTestPki } from '../helpers/tls.ts';
import type { CertPair, TestPki } from '../helpers/tls.ts';
import { issueClientCert } from './helpers/certs.ts';
import { aliasEnv, runVouchSigner, signerConfig } from './helpers/vouch-signer.ts';
import type { VouchSignerOptions } from './helpers/vouch-signer.ts';

const ENV = aliasEnv({ vouchtest: DEFAULT_SIGNER_PASSPHRASE });
const DAY = 24 * 3600 * 1000;

function configOf(opts: VouchSignerOptions, env = ENV, overrides: Record<string, unknown> = {}) {
  const json = { ...signerConfig(opts, 0), ...overrides };
  return parseSignerConfig(JSON.stringify(json), join(opts.workDir, 'signer.json'), env);
}

function refusedWith(code: string, message: string | RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof SignerError, String(e));
    assert.equal(e.code, code, e.message);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  };
}

void describe('signer TLS', () => {
  let dir: string;
  let pki: TestPki;
  let otherPki: TestPki;
  let expired: CertPair;
  let notYetValid: CertPair;
  let running: RunningSigner;

  const health = (pair: CertPair | undefined, caFile = pki.caFile) => grpcHealthServing({
    host: '127.0.0.1', port: running.port, caFile, service: '', timeoutMs: 3_000,
    ...(pair !== undefined ? { certFile: pair.certFile, keyFile: pair.keyFile } : {}),
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vouch-signer-tls-'));
    pki = generateTestPki(join(dir, 'pki'));
    otherPki = generateTestPki(join(dir, 'other-pki'));
    const now = Date.now();
    expired = await issueClientCert(pki, dir, { name: 'expired-client', notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) });
    notYetValid = await issueClientCert(pki, dir, { name: 'future-client', notBefore: new Date(now + DAY), notAfter: new Date(now + 10 * DAY) });
    running = await startSigner(configOf({ pki, workDir: dir }), ENV, SILENT_LOG);
  });
  after(async () => {
    await running?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  void test('a client certificate from the configured CA is served', async () => {
    assert.deepEqual(await health(pki.client), { serving: true });
  });

  void test('refused: no client certificate, another CA, expired, not yet valid', async () => {
    for (const [what, pair] of [['none', undefined], ['other CA', otherPki.client], ['expired', expired], ['not yet valid', notYetValid]] as const) {
      const r = await health(pair);
      assert.equal(r.serving, false, what);
      assert.ok(r.lastError !== undefined && r.lastError !== '', `${what}: ${JSON.stringify(r)}`);
    }
  });

  void test('refused: a client that only speaks TLS 1.1', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: running.port, ca: readFileSync(pki.caFile), cert: readFileSync(pki.client.certFile),
        key: readFileSync(pki.client.keyFile), minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0', ALPNProtocols: ['h2'] });
      socket.once('secureConnect', () => { socket.destroy(); resolve('connected'); });
      socket.once('error', (e) => resolve(e.message));
      socket.setTimeout(3_000, () => { socket.destroy(); resolve('timeout'); });
    });
    assert.notEqual(outcome, 'connected');
    assert.match(outcome, /version|protocol/i);
  });

  void test('refused: plain-text gRPC', async () => {
    const client = new HealthClient(`127.0.0.1:${running.port}`, credentials.createInsecure());
    const err = await new Promise<{ code?: number }>((resolve) => {
      client.check({ service: '' }, new Metadata(), { deadline: new Date(Date.now() + 3_000) }, (e) => resolve(e ?? {}));
    });
    client.close();
    assert.ok(err.code === 14 || err.code === 4, `UNAVAILABLE or DEADLINE_EXCEEDED, got ${String(err.code)}`);
  });

  void test('TLS 1.3 and 1.2 clients with a valid certificate both connect', async () => {
    for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
      const proto = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: running.port, ca: readFileSync(pki.caFile), cert: readFileSync(pki.client.certFile),
          key: readFileSync(pki.client.keyFile), minVersion: v, maxVersion: v, ALPNProtocols: ['h2'], servername: 'localhost' });
        socket.once('secureConnect', () => { const p = socket.getProtocol() ?? ''; socket.destroy(); resolve(p); });
        socket.once('error', reject);
      });
      assert.equal(proto, v);
    }
  });
});

void describe('signer start-up refusals', () => {
  let dir: string;
  let pki: TestPki;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vouch-signer-start-'));
    pki = generateTestPki(join(dir, 'pki'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  void test('no TLS certificate or key → refuses to start', async () => {
    const noTls = configOf({ pki, workDir: dir }, ENV, { server: { grpc_addr: '127.0.0.1:0' } });
    await assert.rejects(startSigner(noTls, ENV, SILENT_LOG), refusedWith('SIGNER_CONFIG_INVALID',
      'unable to set up TLS: server.tls_cert_file and server.tls_key_file are required: the signer never serves without TLS'));
    const mismatched = configOf({ pki, workDir: dir }, ENV, { server: { grpc_addr: '127.0.0.1:0',
      tls_cert_file: pki.signer.certFile, tls_key_file: pki.client.keyFile } });
    await assert.rejects(startSigner(mismatched, ENV, SILENT_LOG), refusedWith('SIGNER_CONFIG_INVALID', /^unable to set up TLS: the certificate, key or client CA is unusable/));
    const missing = configOf({ pki, workDir: dir }, ENV, { server: { grpc_addr: '127.0.0.1:0',
      tls_cert_file: join(dir, 'nope.crt'), tls_key_file: pki.signer.keyFile } });
    await assert.rejects(startSigner(missing, ENV, SILENT_LOG), refusedWith('SIGNER_CONFIG_INVALID', /^unable to set up TLS: cannot read certificate .*nope\.crt/));
  });

  void test('no default alias, or no passphrase for it → refuses to start with the variable to set', async () => {
    const noAlias = { ...configOf({ pki, workDir: dir }), defaultAlias: undefined };
    await assert.rejects(startSigner(noAlias, ENV, SILENT_LOG), refusedWith('SIGNER_CONFIG_INVALID', 'must provide a default alias for the key DB'));
    await assert.rejects(startSigner(configOf({ pki, workDir: dir }, {}), {}, SILENT_LOG), refusedWith('PASSPHRASE_UNAVAILABLE',
      'the passphrase for the default alias "vouchtest" is not set: export NOTARY_SIGNER_VOUCHTEST'));
  });

  void test('a default-alias passphrase that does not decrypt the stored keys → refuses to start', async () => {
    const workDir = mkdtempSync(join(dir, 'wrong-'));
    const first = await startSigner(configOf({ pki, workDir }), ENV, SILENT_LOG);
    await first.service.createKey({ algorithm: 'ecdsa', gun: 'g', role: 'timestamp' });
    await first.close();
    const wrong = aliasEnv({ vouchtest: 'not-the-passphrase' });
    await assert.rejects(startSigner(configOf({ pki, workDir }, wrong), wrong, SILENT_LOG),
      refusedWith('KEY_UNDECRYPTABLE', /^the passphrase of the default alias "vouchtest" does not decrypt its keys: key [0-9a-f]{64} .*JWE decryption failed/));
  });

  void test('the CLI reports a refused start on one line and exits 1, never with a stack trace', () => {
    const configFile = join(dir, 'cli-signer.json');
    writeFileSync(configFile, JSON.stringify(signerConfig({ pki, workDir: dir }, 0)));
    const r = runVouchSigner(['--config', configFile], {});
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, 'vouch signer: the passphrase for the default alias "vouchtest" is not set: export NOTARY_SIGNER_VOUCHTEST\n');
    const noConfig = runVouchSigner([], {});
    assert.equal(noConfig.code, 1);
    assert.equal(noConfig.stderr, 'vouch signer: --config FILE is required (a notary-signer JSON configuration)\n');
  });
});

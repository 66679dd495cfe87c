/**
 * PKCS#11 settings for the CLI (flag > environment > config > notary's Yubikey paths) and the
 * token-first key chain built from them: where new keys go, which copy signs, and what happens
 * when the token is absent with and without an explicit module.
 */
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { hasCode } from '../../src/errors.ts';
import {
  loadPkcs11Section, openTokenStore, parsePkcs11Section, parseTokenSelector, resolvePkcs11Settings, terminalPinSource, tokenFirstKeys,
} from '../../src/cli/pkcs11.ts';
import type { LineReader } from '../../src/cli/passphrase.ts';
import { KeyFileStore } from '../../src/keystore/file-store.ts';
import { constantRetriever } from '../../src/keystore/passphrase.ts';
import { makePublicKey, verifySignature } from '../../src/tuf/keys.ts';
import { createSoftHsm, SKIP_REASON, SOFTHSM_MODULE } from './softhsm.ts';
import type { SoftHsm } from './softhsm.ts';

const MESSAGE = new TextEncoder().encode('snapshot.json canonical bytes');

function throwsCode(f: () => unknown, code: string, message?: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(hasCode(e, code), `expected ${code}, got ${String(e)}`);
    if (message !== undefined) assert.equal((e as Error).message, message);
    return true;
  });
}

describe('PKCS#11 CLI settings', () => {
  test('flag beats environment beats config; relative paths resolve against cwd or the config file', () => {
    const config = parsePkcs11Section({ Module: 'lib/softhsm.so', TOKEN: 'from-config', roles: ['root', 'targets'], touch_timeout_seconds: 15 }, '/etc/vouch/config.json');
    assert.deepEqual(config, { module: '/etc/vouch/lib/softhsm.so', token: 'from-config', roles: ['root', 'targets'], touchTimeoutSeconds: 15 });
    const env = { VOUCH_PKCS11_MODULE: 'env.so', VOUCH_PKCS11_TOKEN: 'serial:abc123', VOUCH_PKCS11_PIN: '4321' };
    assert.deepEqual(resolvePkcs11Settings({ flags: { pkcs11Module: 'flag.so', pkcs11Token: 'flag-token' }, env, config, cwd: '/work' }), {
      module: { path: '/work/flag.so', source: 'flag' }, token: { label: 'flag-token' }, userPin: '4321', soPin: undefined,
      roles: ['root', 'targets'], touchTimeoutMs: 15000,
    });
    assert.deepEqual(resolvePkcs11Settings({ flags: {}, env, config, cwd: '/work' }).module, { path: '/work/env.so', source: 'env' });
    assert.deepEqual(resolvePkcs11Settings({ flags: {}, env, config, cwd: '/work' }).token, { serial: 'abc123' });
    const fromConfig = resolvePkcs11Settings({ flags: {}, env: {}, config, cwd: '/work' });
    assert.deepEqual([fromConfig.module, fromConfig.token, fromConfig.userPin], [{ path: '/etc/vouch/lib/softhsm.so', source: 'config' }, { label: 'from-config' }, undefined]);
    const none = resolvePkcs11Settings({ flags: {}, env: {}, config: {} });
    assert.deepEqual([none.module, none.token, none.roles, none.touchTimeoutMs], [undefined, {}, ['root'], undefined]);
  });

  test('bad settings are refused with the setting named', () => {
    const where = '/home/u/.notary/config.json';
    throwsCode(() => parsePkcs11Section('x', where), 'INVALID_CONFIG', `invalid config file ${where}: pkcs11 must be an object`);
    throwsCode(() => parsePkcs11Section({ module: 3 }, where), 'INVALID_CONFIG', `invalid config file ${where}: pkcs11.module must be a non-empty string`);
    throwsCode(() => parsePkcs11Section({ roles: ['root', 'Bad Role'] }, where), 'INVALID_CONFIG', `invalid config file ${where}: pkcs11.roles must be a non-empty list of role names`);
    throwsCode(() => parsePkcs11Section({ touch_timeout_seconds: 0 }, where), 'INVALID_CONFIG',
      `invalid config file ${where}: pkcs11.touch_timeout_seconds must be a whole number from 1 to 600`);
    throwsCode(() => parseTokenSelector('serial:'), 'INVALID_CONFIG', 'a token given as serial:… needs the serial number after the colon');
    assert.deepEqual(parseTokenSelector(undefined, 'S1'), { serial: 'S1' });
  });

  test('the config file: the pkcs11 member only, other members ignored', () => {
    const hsm = createSoftHsm();
    try {
      const file = join(hsm.dir, 'config.json');
      writeFileSync(file, JSON.stringify({ trust_dir: '~/.notary', pkcs11: { module: './p11.so', token: 'yk' } }));
      assert.deepEqual(loadPkcs11Section(file), { module: join(hsm.dir, 'p11.so'), token: 'yk' });
      writeFileSync(file, '{"pkcs11": ');
      throwsCode(() => loadPkcs11Section(file), 'INVALID_CONFIG');
      assert.deepEqual(loadPkcs11Section(undefined), {});
    } finally {
      hsm.cleanup();
    }
  });

  test('no module configured and no Yubico library: no token store; a configured module that is missing is an error', () => {
    const settings = resolvePkcs11Settings({ flags: {}, env: {}, config: {} });
    assert.equal(openTokenStore(settings, { exists: () => false }), undefined);
    const found = openTokenStore(settings, { exists: (p) => p === '/usr/local/lib/libykcs11.so', platform: 'linux' });
    assert.equal(found?.modulePath, '/usr/local/lib/libykcs11.so');
    throwsCode(() => openTokenStore(resolvePkcs11Settings({ flags: { pkcs11Module: '/no/such.so' }, env: {}, config: {} })), 'MODULE_NOT_FOUND',
      'PKCS#11 module /no/such.so (from --pkcs11-module) does not exist');
  });

  test('the PIN prompt reads without echo and says when a retry follows', async () => {
    const out = new PassThrough();
    let written = '';
    out.on('data', (c: Buffer) => { written += c.toString(); });
    const asked: { prompt: string; echo: boolean | undefined }[] = [];
    const answers = [' 1234 \n'.trim(), null];
    const reader: LineReader = { question: (prompt, opts) => { asked.push({ prompt, echo: opts?.echo }); return Promise.resolve(answers.shift() ?? null); }, close: () => undefined };
    const source = terminalPinSource(reader, out);
    const req = { user: 'user' as const, token: 'PIV', isYubikey: true, prompt: 'Enter the User Pin for the attached Yubikey: ' };
    assert.equal(await source({ ...req, attempt: 0 }), '1234');
    assert.equal(await source({ ...req, attempt: 1 }), undefined);
    assert.deepEqual(asked, [{ prompt: req.prompt, echo: false }, { prompt: req.prompt, echo: false }]);
    assert.equal(written, 'PIN incorrect. Please retry.\n');
  });
});

describe('token first, then files (SoftHSM2)', { skip: SKIP_REASON }, () => {
  let hsm: SoftHsm;
  let files: KeyFileStore;
  beforeEach(() => {
    hsm = createSoftHsm();
    hsm.initToken('chain', '5555');
    files = KeyFileStore.open(join(hsm.dir, 'trust'), { retriever: constantRetriever('file store passphrase'), iterations: 2048 });
  });
  afterEach(() => hsm.cleanup());

  const settings = (extra: Record<string, string> = {}, roles?: string[]) => resolvePkcs11Settings({
    flags: {}, env: { VOUCH_PKCS11_MODULE: SOFTHSM_MODULE, VOUCH_PKCS11_TOKEN: 'chain', VOUCH_PKCS11_PIN: '5555', ...extra },
    config: roles !== undefined ? { roles } : {},
  });

  test('root keys go on the token with a file backup; other roles go to files; the token copy signs', async () => {
    const keys = tokenFirstKeys(files, settings());
    const root = await keys.createKey('root', undefined);
    const targets = await keys.createKey('targets', 'example.com/chain');
    const tokenKeys = await keys.tokenKeys();
    assert.deepEqual(tokenKeys?.map((k) => [k.keyId, k.role]), [[root.keyId, 'root']]);
    assert.deepEqual(files.list().keys.map((k) => [k.keyId, k.role, k.gun]).sort(), [[root.keyId, 'root', ''], [targets.keyId, 'targets', 'example.com/chain']].sort());
    assert.deepEqual(await keys.rootKeyIds(), [root.keyId]);
    assert.deepEqual([...(await keys.heldKeyIds())].sort(), [root.keyId, targets.keyId].sort());
    const signer = await keys.signer(root.keyId, 'root');
    assert.equal((signer as { location?: string }).location, 'pkcs11:chain');
    assert.ok(verifySignature(signer.publicKey, 'ecdsa', (await signer.sign(MESSAGE)).sig, MESSAGE));
    const listed = await keys.listKeys();
    assert.deepEqual(listed.map((k) => [k.role, k.location === 'pkcs11:chain' ? 'token' : 'file']).sort(), [['root', 'file'], ['root', 'token'], ['targets', 'file']]);
    const cert = await keys.rootCertificateKey(root.keyId, 'example.com/chain', new Date('2025-01-01T00:00:00Z'));
    assert.equal(cert.keyType, 'ecdsa-x509');
    // The backup is exportable; a key that lives only on the token is not.
    await keys.checkExportable(root.keyId);
    const onlyToken = await tokenFirstKeys(files, settings({}, ['root', 'targets/releases'])).createKey('targets/releases', undefined);
    await assert.rejects(tokenFirstKeys(files, settings()).checkExportable(onlyToken.keyId), (e: unknown) => hasCode(e, 'EXPORT_REFUSED'));
    assert.ok(verifySignature(makePublicKey('ecdsa', onlyToken.publicKey.publicBytes), 'ecdsa', (await onlyToken.sign(MESSAGE)).sig, MESSAGE));
  });

  test('an absent token: required (module configured) is an error; a default Yubikey path is "no token"', async () => {
    const required = tokenFirstKeys(files, settings({ VOUCH_PKCS11_TOKEN: 'not-plugged-in' }));
    await assert.rejects(required.createKey('root', undefined), (e: unknown) => hasCode(e, 'TOKEN_NOT_FOUND'));
    assert.deepEqual(files.list().keys, []);
    // Nothing configured and a Yubico library on notary's path that finds no Yubikey: the root key goes to the file store.
    const auto = tokenFirstKeys(files, resolvePkcs11Settings({ flags: {}, env: {}, config: {} }),
      { exists: (p) => p === '/usr/lib/libykcs11.so', platform: 'linux' });
    assert.equal(auto.token?.modulePath, '/usr/lib/libykcs11.so');
    const root = await auto.createKey('root', undefined);
    assert.deepEqual(files.list().keys.map((k) => k.keyId), [root.keyId]);
  });
});

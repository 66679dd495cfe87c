/**
 * Failure paths on SoftHSM2: wrong PINs, missing or wrong modules, a token removed before or in
 * the middle of an operation, a touch nobody gives, a token that returns bad signatures. Each
 * ends in a typed error with a clear message, no key is lost, and neither the token nor the file
 * store is left half-written.
 */
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { hasCode } from '../../src/errors.ts';
import { findModule } from '../../src/keystore/pkcs11/module-path.ts';
import type { PinRequest } from '../../src/keystore/pkcs11/login.ts';
import { CK, loadPkcs11Module } from '../../src/keystore/pkcs11/port.ts';
import { YUBIKEY_TOUCH_PROMPT } from '../../src/keystore/pkcs11/signer.ts';
import { Pkcs11KeyStore } from '../../src/keystore/pkcs11/store.ts';
import type { Pkcs11StoreOptions } from '../../src/keystore/pkcs11/store.ts';
import type { PortHooks } from './softhsm.ts';
import { makePublicKey, verifySignature } from '../../src/tuf/keys.ts';
import { fileBackupWriter, readBackup } from './backup-writer.ts';
import { asYubikey, ckrError, createSoftHsm, hookedPort, SKIP_REASON, SOFTHSM_MODULE } from './softhsm.ts';
import type { SoftHsm } from './softhsm.ts';

const PIN = '135790';
const MESSAGE = new TextEncoder().encode('targets.json canonical bytes');
const OPENSC = '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so';

function store(extra: Partial<Pkcs11StoreOptions> = {}, hooks?: PortHooks): Pkcs11KeyStore {
  return new Pkcs11KeyStore({
    module: { path: SOFTHSM_MODULE, token: { label: 'vouch' }, ...(hooks !== undefined ? { openPort: hookedPort(hooks) } : {}) },
    pins: { userPin: PIN, userPinSource: 'VOUCH_PKCS11_PIN' },
    ...extra,
  });
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp | string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(hasCode(e, code), `expected ${code}, got ${e instanceof Error ? `${(e as { code?: string }).code}: ${e.message}` : String(e)}`);
    if (typeof message === 'string') assert.equal((e as Error).message, message);
    else if (message !== undefined) assert.match((e as Error).message, message);
    return true;
  });
}

describe('PKCS#11 failures on SoftHSM2', { skip: SKIP_REASON }, () => {
  let hsm: SoftHsm;
  let trust: string;
  beforeEach(() => {
    hsm = createSoftHsm();
    hsm.initToken('vouch', PIN);
    trust = join(hsm.dir, 'trust');
  });
  afterEach(() => hsm.cleanup());

  test('a wrong PIN from VOUCH_PKCS11_PIN fails at once and loses nothing', async () => {
    const made = await store().createKey({ role: 'root' }, fileBackupWriter(trust));
    const wrong = new Pkcs11KeyStore({ module: { path: SOFTHSM_MODULE, token: { label: 'vouch' } }, pins: { userPin: '000000', userPinSource: 'VOUCH_PKCS11_PIN' } });
    await rejectsWith((await wrong.getSigner(made.info.keyId)).sign(MESSAGE), 'PIN_INCORRECT',
      'password invalid, operation has failed. (the PIN from VOUCH_PKCS11_PIN was rejected for token "vouch" (libsofthsm2.so))');
    await rejectsWith(wrong.createKey({ role: 'targets', gun: 'example.com/x' }), 'PIN_INCORRECT');
    // Nothing was written and the key still signs with the right PIN.
    assert.deepEqual((await store().listKeys()).map((k) => k.keyId), [made.info.keyId]);
    const sig = await (await store().getSigner(made.info.keyId)).sign(MESSAGE);
    assert.ok(verifySignature(makePublicKey('ecdsa', made.info.spki), 'ecdsa', sig.sig, MESSAGE));
    assert.deepEqual(readdirSync(join(trust, 'private')), [`${made.info.keyId}.key`]);
  });

  test('prompted PINs: three attempts, then maximum number of passphrase attempts exceeded', async () => {
    const made = await store().createKey({ role: 'targets', gun: 'example.com/x' });
    const asked: PinRequest[] = [];
    const prompting = store({ pins: { source: (r) => { asked.push(r); return Promise.resolve('wrong'); } } });
    await rejectsWith((await prompting.getSigner(made.info.keyId)).sign(MESSAGE), 'ATTEMPTS_EXCEEDED',
      'maximum number of passphrase attempts exceeded (3 wrong PINs for token "vouch" (libsofthsm2.so))');
    assert.deepEqual(asked.map((r) => [r.attempt, r.prompt]), [0, 1, 2].map((a) => [a, 'Enter the User Pin for token "vouch": ']));

    let answers = ['nope', PIN];
    const second = store({ pins: { source: () => Promise.resolve(answers.shift()) } });
    await (await second.getSigner(made.info.keyId)).sign(MESSAGE);
    answers = [];
    // The PIN that worked is kept for this store: no second prompt.
    await (await second.getSigner(made.info.keyId)).sign(MESSAGE);

    await rejectsWith((await store({ pins: {} }).getSigner(made.info.keyId)).sign(MESSAGE), 'NO_PIN_INPUT',
      'a PIN is needed for token "vouch" (libsofthsm2.so): set VOUCH_PKCS11_PIN or run on a terminal to be prompted');
  });

  test('a locked PIN is reported without trying any PIN', async () => {
    let logins = 0;
    const locked = store({}, {
      tokenInfo: (real, slot) => ({ ...real.tokenInfo(slot), flags: real.tokenInfo(slot).flags | CK.CKF_USER_PIN_LOCKED }),
      login: (real, ...args) => { logins++; real.login(...args); },
    });
    await rejectsWith(locked.createKey({ role: 'root' }), 'PIN_LOCKED',
      'the PIN of token "vouch" (libsofthsm2.so) is locked after too many wrong attempts; unlock it with the token\'s own tools (SO PIN / PUK)');
    assert.equal(logins, 0);
  });

  test('a missing module, a file that is no module, a module without the token', async () => {
    await rejectsWith(Promise.resolve().then(() => findModule({ path: '/nonexistent/libfoo.so', source: 'env' }, 'linux', existsSync)),
      'MODULE_NOT_FOUND', 'PKCS#11 module /nonexistent/libfoo.so (from VOUCH_PKCS11_MODULE) does not exist');
    assert.equal(findModule(undefined, 'linux', () => false), undefined);
    assert.deepEqual(findModule(undefined, 'linux', (p) => p === '/usr/lib64/libykcs11.so.1'), { path: '/usr/lib64/libykcs11.so.1', source: 'default' });
    assert.equal(findModule(undefined, 'win32', () => true), undefined);

    const made = await store().createKey({ role: 'root' }, fileBackupWriter(trust));
    const missing = new Pkcs11KeyStore({ module: { path: join(hsm.dir, 'gone.so'), token: {} } });
    await rejectsWith(missing.listKeys(), 'MODULE_LOAD_FAILED', new RegExp(`^failed to load library ${join(hsm.dir, 'gone.so')}: `));
    const notAModule = new Pkcs11KeyStore({ module: { path: '/usr/lib/x86_64-linux-gnu/libz.so.1', token: {} } });
    await rejectsWith(notAModule.listKeys(), 'MODULE_LOAD_FAILED', /^failed to load library \/usr\/lib\/x86_64-linux-gnu\/libz\.so\.1: /);
    if (existsSync(OPENSC)) {
      // The module pointed elsewhere: the token is not there, the key is not lost.
      const elsewhere = new Pkcs11KeyStore({ module: { path: OPENSC, token: { label: 'vouch' } }, pins: { userPin: PIN } });
      await rejectsWith(elsewhere.getSigner(made.info.keyId), 'TOKEN_NOT_FOUND',
        `no PKCS#11 token labelled "vouch" in module ${OPENSC}: no initialised token is attached`);
    }
    assert.equal((await (await store().getSigner(made.info.keyId)).sign(MESSAGE)).sig.length, 64);
    assert.ok(readBackup(made.backup!).key);
  });

  test('a token removed between operations: TOKEN_NOT_FOUND, the backup copy still decrypts', async () => {
    const made = await store().createKey({ role: 'root' }, fileBackupWriter(trust));
    const signer = await store().getSigner(made.info.keyId);
    for (const d of readdirSync(hsm.tokenDir)) rmSync(join(hsm.tokenDir, d), { recursive: true });
    await rejectsWith(signer.sign(MESSAGE), 'TOKEN_NOT_FOUND',
      `no PKCS#11 token labelled "vouch" in module ${SOFTHSM_MODULE}: no initialised token is attached`);
    await rejectsWith(store().createKey({ role: 'root' }, fileBackupWriter(trust)), 'TOKEN_NOT_FOUND');
    assert.deepEqual(readdirSync(join(trust, 'private')), [`${made.info.keyId}.key`]);
    assert.ok(readBackup(made.backup!).key);
  });

  test('a token pulled in the middle of a write: nothing half-written on the token, nothing in the file store', async () => {
    const kept = await store().createKey({ role: 'targets', gun: 'example.com/x' });
    let creates = 0;
    const pulled = store({}, {
      createObject: (real, session, template) => {
        if (++creates === 2) throw ckrError('CKR_DEVICE_REMOVED');
        return real.createObject(session, template);
      },
    });
    const writer = fileBackupWriter(trust);
    await rejectsWith(pulled.createKey({ role: 'root' }, writer), 'TOKEN_UNAVAILABLE',
      'token "vouch" (libsofthsm2.so) became unavailable while trying to store a key (CKR_DEVICE_REMOVED); was it removed? Nothing was changed in the file key store');
    assert.equal(writer.calls, 0);
    assert.equal(existsSync(join(trust, 'private')), false);
    // Only the key that was there before: the new private-key object was destroyed again.
    const objects = await store().listKeys();
    assert.deepEqual(objects.map((k) => k.keyId), [kept.info.keyId]);
    const port = loadPkcs11Module(SOFTHSM_MODULE);
    try {
      const slot = port.slotsWithTokens().find((s) => port.tokenInfo(s).label === 'vouch')!;
      const session = port.openSession(slot, false);
      port.login(session, 'user', PIN);
      assert.equal(port.findObjects(session, [{ type: CK.CKA_TOKEN, value: true }]).length, 2);
    } finally {
      port.close();
    }
  });

  test('a token whose files vanish in the middle of signing: TOKEN_UNAVAILABLE', async () => {
    const made = await store().createKey({ role: 'root' }, fileBackupWriter(trust));
    const vanishing = store({}, {
      signEcdsa: (real, ...args) => {
        rmSync(hsm.tokenDir, { recursive: true });
        return real.signEcdsa(...args);
      },
    });
    await rejectsWith((await vanishing.getSigner(made.info.keyId)).sign(MESSAGE), 'TOKEN_UNAVAILABLE',
      /^token "vouch" \(libsofthsm2\.so\) became unavailable while trying to sign \(CKR_[A-Z_]+\); was it removed\?/);
    assert.ok(readBackup(made.backup!).key);
  });

  test('no touch within the timeout: notary\'s prompt, then TOUCH_TIMEOUT; the token is usable afterwards', async () => {
    const made = await store().createKey({ role: 'root' });
    const notes: string[] = [];
    let release!: () => void;
    const touched = new Promise<void>((resolve) => { release = resolve; });
    const slow = store({ touch: { timeoutMs: 150, notify: (m) => notes.push(m) } }, {
      tokenInfo: (real, slot) => asYubikey(real.tokenInfo(slot)),
      signEcdsa: async (real, ...args) => {
        await touched;
        return real.signEcdsa(...args);
      },
    });
    // Posing as a Yubikey would list Yubikey-layout keys only, so the signer is made from the listing.
    const signer = slow.signerFor({ ...made.info, location: 'yubikey' });
    const started = Date.now();
    await rejectsWith(signer.sign(MESSAGE), 'TOUCH_TIMEOUT',
      'the attached Yubikey was not touched within 150 ms: signing was cancelled (touch the token when asked, or raise pkcs11.touch_timeout_seconds in the client config)');
    assert.ok(Date.now() - started < 2000);
    assert.deepEqual(notes, [YUBIKEY_TOUCH_PROMPT]);
    // The next operation waits for the abandoned signature to finish, then works.
    const listing = store().listKeys();
    release();
    assert.deepEqual((await listing).map((k) => k.keyId), [made.info.keyId]);
  });

  test('signatures that never verify: five attempts, then an error', async () => {
    const made = await store().createKey({ role: 'root' });
    let attempts = 0;
    const broken = store({}, {
      signEcdsa: async (real, ...args) => {
        attempts++;
        const sig = await real.signEcdsa(...args);
        sig[10] = (sig[10] ?? 0) ^ 0xff;
        return sig;
      },
    });
    await rejectsWith((await broken.getSigner(made.info.keyId)).sign(MESSAGE), 'SIGN_FAILED',
      'Failed to generate a valid signature on token "vouch" (libsofthsm2.so).');
    assert.equal(attempts, 5);
    let failures = 0;
    const flaky = store({}, {
      signEcdsa: async (real, ...args) => {
        const sig = await real.signEcdsa(...args);
        if (failures++ < 2) sig[0] = (sig[0] ?? 0) ^ 1;
        return sig;
      },
    });
    const sig = await (await flaky.getSigner(made.info.keyId)).sign(MESSAGE);
    assert.ok(verifySignature(makePublicKey('ecdsa', made.info.spki), 'ecdsa', sig.sig, MESSAGE));
    assert.equal(failures, 3);
  });
});

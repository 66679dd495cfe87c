/**
 * notary's Yubikey rules, exercised on SoftHSM2 dressed as a Yubikey (its token info says
 * Yubico): factory PIN first, one-byte CKA_IDs in slot order 2, 1, 3, 0, a `CN=<role>`
 * certificate per key, location `yubikey`, the touch prompt, `yubikey has no available slots`.
 * (SoftHSM's SO cannot create private objects, so writes log in as user here, where a real
 * Yubikey takes the SO login with the management key.)
 */
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { hasCode } from '../../src/errors.ts';
import { parseCertificate } from '../../src/crypto/x509.ts';
import { YUBIKEY_DEFAULT_USER_PIN } from '../../src/keystore/pkcs11/login.ts';
import type { PinRequest } from '../../src/keystore/pkcs11/login.ts';
import { CK, loadPkcs11Module } from '../../src/keystore/pkcs11/port.ts';
import { selectToken } from '../../src/keystore/pkcs11/session.ts';
import { YUBIKEY_TOUCH_PROMPT } from '../../src/keystore/pkcs11/signer.ts';
import { Pkcs11KeyStore } from '../../src/keystore/pkcs11/store.ts';
import type { Pkcs11StoreOptions } from '../../src/keystore/pkcs11/store.ts';
import { makePublicKey, verifySignature } from '../../src/tuf/keys.ts';
import { fileBackupWriter } from './backup-writer.ts';
import { asYubikey, createSoftHsm, hookedPort, SKIP_REASON, SOFTHSM_MODULE } from './softhsm.ts';
import type { SoftHsm } from './softhsm.ts';

const MESSAGE = new TextEncoder().encode('root.json canonical bytes');

function yubikey(extra: Partial<Pkcs11StoreOptions> = {}): Pkcs11KeyStore {
  return new Pkcs11KeyStore({
    module: { path: SOFTHSM_MODULE, token: {}, openPort: hookedPort({ tokenInfo: (real, slot) => asYubikey(real.tokenInfo(slot)) }) },
    writeUser: 'user',
    // SoftHSM rejects the PIV key-mode attribute a real Yubikey takes.
    yubikeyKeyMode: null,
    ...extra,
  });
}

/** CKA_IDs (hex) of the certificate objects, and the CN of each. */
function certificates(pin: string): string[] {
  const port = loadPkcs11Module(SOFTHSM_MODULE);
  try {
    const { slot } = selectToken(port, {});
    const session = port.openSession(slot, false);
    port.login(session, 'user', pin);
    return port.findObjects(session, [{ type: CK.CKA_CLASS, value: CK.CKO_CERTIFICATE }]).map((h) => {
      const [id, value] = port.getAttributes(session, h, [CK.CKA_ID, CK.CKA_VALUE]);
      return `${id!.toString('hex')}:${parseCertificate(value!).commonName}`;
    }).sort();
  } finally {
    port.close();
  }
}

describe('Yubikey compatibility (SoftHSM2 posing as a Yubikey)', { skip: SKIP_REASON }, () => {
  let hsm: SoftHsm;
  beforeEach(() => {
    hsm = createSoftHsm();
  });
  afterEach(() => hsm.cleanup());

  test('factory PIN, slot order 9c 9e 9d 9a, CN=<role> certificates, touch prompt, no available slots', async () => {
    hsm.initToken('PIV', YUBIKEY_DEFAULT_USER_PIN);
    const touches: string[] = [];
    const store = yubikey({ touch: { notify: (m) => touches.push(m) } });
    const backup = fileBackupWriter(join(hsm.dir, 'trust'));
    const root = await store.createKey({ role: 'root' }, backup);
    assert.equal(root.info.location, 'yubikey');
    assert.equal(root.info.scheme, 'yubikey');
    assert.deepEqual([...root.info.objectId], [2]);
    // Beyond notary: other roles too (the role is the certificate's CN; a Yubikey keeps no GUN).
    const targets = await store.createKey({ role: 'targets', gun: 'example.com/app' });
    const third = await store.createKey({ role: 'targets/releases' });
    const fourth = await store.createKey({ role: 'root' });
    assert.deepEqual([targets, third, fourth].map((k) => k.info.objectId[0]), [1, 3, 0]);
    assert.deepEqual(certificates(YUBIKEY_DEFAULT_USER_PIN), ['00:root', '01:targets', '02:root', '03:targets/releases']);
    await assert.rejects(store.createKey({ role: 'root' }), (e: unknown) => hasCode(e, 'NO_SLOTS') && (e as Error).message === 'yubikey has no available slots');

    const listed = await store.listKeys();
    assert.deepEqual(listed.map((k) => `${k.objectId[0]}:${k.role}:${k.location}`).sort(), ['0:root:yubikey', '1:targets:yubikey', '2:root:yubikey', '3:targets/releases:yubikey']);

    const sig = await (await store.getSigner(root.info.keyId)).sign(MESSAGE);
    assert.ok(verifySignature(makePublicKey('ecdsa', root.info.spki), 'ecdsa', sig.sig, MESSAGE));
    assert.deepEqual(touches, [YUBIKEY_TOUCH_PROMPT]);
    assert.equal(YUBIKEY_TOUCH_PROMPT, 'Please touch the attached Yubikey to perform signing.');

    // Removing frees the slot, which the next key takes again.
    await store.removeKey(root.info.keyId);
    assert.deepEqual(certificates(YUBIKEY_DEFAULT_USER_PIN), ['00:root', '01:targets', '03:targets/releases']);
    const again = await store.createKey({ role: 'root' });
    assert.deepEqual([...again.info.objectId], [2]);
  });

  test('a slot taken by another application is skipped', async () => {
    hsm.initToken('PIV', YUBIKEY_DEFAULT_USER_PIN);
    const port = loadPkcs11Module(SOFTHSM_MODULE);
    try {
      const { slot } = selectToken(port, {});
      const session = port.openSession(slot, true);
      port.login(session, 'user', YUBIKEY_DEFAULT_USER_PIN);
      port.generateEcKeyPair(session,
        [{ type: CK.CKA_TOKEN, value: true }, { type: CK.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') }, { type: CK.CKA_ID, value: Buffer.of(2) }],
        [{ type: CK.CKA_TOKEN, value: true }, { type: CK.CKA_ID, value: Buffer.of(2) }]);
    } finally {
      port.close();
    }
    const made = await yubikey().createKey({ role: 'root' });
    assert.deepEqual([...made.info.objectId], [1]);
  });

  test('when the factory PIN is wrong the user is asked with notary\'s prompt', async () => {
    hsm.initToken('PIV', '951357');
    const asked: PinRequest[] = [];
    const store = yubikey({ pins: { source: (r) => { asked.push(r); return Promise.resolve('951357'); } } });
    const made = await store.createKey({ role: 'root' });
    await (await store.getSigner(made.info.keyId)).sign(MESSAGE);
    // One prompt: the PIN is then kept for this process.
    assert.deepEqual(asked, [{ user: 'user', token: 'PIV', isYubikey: true, attempt: 0, prompt: 'Enter the User Pin for the attached Yubikey: ' }]);
  });
});

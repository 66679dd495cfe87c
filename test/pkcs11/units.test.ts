/**
 * The pure parts of the PKCS#11 store: constants, EC point ↔ SPKI, the `vouch` label scheme,
 * notary's slot order, token certificates shaped exactly like `createRootCertificate`'s, and
 * importing an encrypted key file (a root backup) onto a token.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import pkcs11js from 'pkcs11js';
import { hasCode } from '../../src/errors.ts';
import { readDerSequence, TAG } from '../../src/crypto/der.ts';
import { generateKey, publicKeySpki } from '../../src/crypto/private-keys.ts';
import { writeEncryptedPrivateKeyPem } from '../../src/crypto/private-key-pem.ts';
import { ecdsaSign } from '../../src/crypto/signatures.ts';
import { createRootCertificate, parseCertificate } from '../../src/crypto/x509.ts';
import { KeyFileStore } from '../../src/keystore/file-store.ts';
import { constantRetriever } from '../../src/keystore/passphrase.ts';
import { createTokenRootCertificate, ecdsaRawToDer } from '../../src/keystore/pkcs11/certificate.ts';
import { fileStoreBackupWriter, importKeyFileToToken } from '../../src/keystore/pkcs11/file-store-link.ts';
import {
  ecPointToSpki, isVouchObjectId, nextYubikeySlot, parseVouchLabel, spkiToEcPoint, vouchLabel, vouchObjectId, yubikeySlotOf,
} from '../../src/keystore/pkcs11/objects.ts';
import { CK } from '../../src/keystore/pkcs11/port.ts';
import { Pkcs11KeyStore } from '../../src/keystore/pkcs11/store.ts';
import { computeKeyId } from '../../src/tuf/keys.ts';
import type { KeyId } from '../../src/tuf/types.ts';
import { createSoftHsm, SKIP_REASON, SOFTHSM_MODULE } from './softhsm.ts';

const KEY_ID = '9f1d8b6a6a2f0b3b5c2e4d6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b' as KeyId;

describe('PKCS#11 building blocks', () => {
  test('the CK constants are the PKCS#11 values the binding uses', () => {
    const binding = pkcs11js as unknown as Record<string, number>;
    for (const [name, value] of Object.entries(CK)) {
      if (name === 'CKK_EC') assert.equal(binding['CKK_EC'], value);
      else assert.equal(binding[name], value, name);
    }
  });

  test('EC points: DER-wrapped or bare, to the SPKI node:crypto exports; P-256 only', () => {
    const spki = publicKeySpki(generateKey('ecdsa'));
    const wrapped = spkiToEcPoint(spki);
    assert.deepEqual([wrapped[0], wrapped[1], wrapped.length], [0x04, 0x41, 67]);
    assert.deepEqual(ecPointToSpki(wrapped), spki);
    assert.deepEqual(ecPointToSpki(wrapped.subarray(2)), spki);
    const p384 = publicKeySpki(generateKey('ecdsa', { curve: 'P-384' }));
    assert.throws(() => spkiToEcPoint(p384), (e: unknown) => hasCode(e, 'UNSUPPORTED_KEY'));
    assert.throws(() => ecPointToSpki(Buffer.from('0403010203', 'hex')), (e: unknown) => hasCode(e, 'UNSUPPORTED_KEY'));
    assert.throws(() => ecPointToSpki(new Uint8Array(65)), (e: unknown) => hasCode(e, 'UNSUPPORTED_KEY'));
  });

  test('vouch labels and IDs round-trip, GUNs with colons included, and nothing else parses', () => {
    assert.equal(vouchLabel({ keyId: KEY_ID, role: 'targets', gun: 'registry:5000/app' }), `vouch:${KEY_ID}:targets:registry:5000/app`);
    assert.deepEqual(parseVouchLabel(`vouch:${KEY_ID}:targets:registry:5000/app`), { keyId: KEY_ID, role: 'targets', gun: 'registry:5000/app' });
    assert.deepEqual(parseVouchLabel(`vouch:${KEY_ID}:root`), { keyId: KEY_ID, role: 'root' });
    for (const other of ['ssh key', `vouch:${KEY_ID}`, `vouch:${KEY_ID.toUpperCase()}:root`, `vouch:${KEY_ID}:Root`, `vouch:${KEY_ID}::gun`, `vouch-new:00:root`]) {
      assert.equal(parseVouchLabel(other), undefined, other);
    }
    fc.assert(fc.property(fc.constantFrom('root', 'targets', 'snapshot', 'targets/releases', 'alice'), fc.option(fc.stringMatching(/^[a-z0-9.:/-]{1,40}$/), { nil: undefined }),
      (role, gun) => {
        const parsed = parseVouchLabel(vouchLabel({ keyId: KEY_ID, role, ...(gun !== undefined ? { gun } : {}) }));
        assert.deepEqual(parsed, gun !== undefined ? { keyId: KEY_ID, role, gun } : { keyId: KEY_ID, role });
      }));
    const id = vouchObjectId(KEY_ID);
    assert.equal(Buffer.from(id).toString('latin1').slice(0, 6), 'vouch:');
    assert.ok(isVouchObjectId(id));
    assert.equal(isVouchObjectId(Uint8Array.of(2)), false);
    assert.equal(yubikeySlotOf(id), undefined);
  });

  test("notary's slot order 2, 1, 3, 0 and the full-token message", () => {
    assert.equal(nextYubikeySlot(new Set()), 2);
    assert.equal(nextYubikeySlot(new Set([2])), 1);
    assert.equal(nextYubikeySlot(new Set([2, 1])), 3);
    assert.equal(nextYubikeySlot(new Set([2, 1, 3, 0x76])), 0);
    assert.throws(() => nextYubikeySlot(new Set([0, 1, 2, 3])), (e: unknown) => hasCode(e, 'NO_SLOTS') && (e as Error).message === 'yubikey has no available slots');
    assert.deepEqual([yubikeySlotOf(Uint8Array.of(3)), yubikeySlotOf(Uint8Array.of(4)), yubikeySlotOf(Uint8Array.of(1, 2))], [3, undefined, undefined]);
  });

  test('a token-signed certificate has exactly the TBS createRootCertificate makes', async () => {
    const key = generateKey('ecdsa');
    const now = new Date('2024-02-29T12:00:00.999Z');
    const reference = createRootCertificate({ gun: 'docker.io/library/busybox', privateKey: key, now, serial: 77n });
    const made = await createTokenRootCertificate({
      commonName: 'docker.io/library/busybox', spki: publicKeySpki(key), now, serial: 77n,
      signRaw: (tbs) => Promise.resolve(ecdsaSign(key, tbs)),
    });
    const tbsOf = (der: Uint8Array) => readDerSequence(der).read(TAG.SEQUENCE).encoded;
    assert.deepEqual(tbsOf(made), tbsOf(reference));
    assert.deepEqual(parseCertificate(made).spki, parseCertificate(reference).spki);
    await assert.rejects(createTokenRootCertificate({
      commonName: 'x', spki: publicKeySpki(key), now, signRaw: () => Promise.resolve(new Uint8Array(64)),
    }), (e: unknown) => hasCode(e, 'SIGN_FAILED'));
    // r and s with high bits get a leading zero; short ones lose their padding.
    assert.deepEqual(Buffer.from(ecdsaRawToDer(Uint8Array.of(0x80, 0x01, 0x00, 0x7f))).toString('hex'), '300802030080010201' + '7f');
  });
});

describe('importing an encrypted key file onto a token (SoftHSM2)', { skip: SKIP_REASON }, () => {
  test('a root backup file restores onto a token; unencrypted and wrongly encrypted files are refused', async () => {
    const hsm = createSoftHsm();
    try {
      hsm.initToken('restore', '2468');
      const files = KeyFileStore.open(join(hsm.dir, 'trust'), { retriever: constantRetriever('backup passphrase'), iterations: 2048 });
      const key = generateKey('ecdsa');
      const stored = await fileStoreBackupWriter(files).backup(key, { keyId: computeKeyId('ecdsa', publicKeySpki(key)), role: 'root' });
      const text = files.readKeyFile(computeKeyId('ecdsa', publicKeySpki(key))).toString('utf8');
      assert.ok(stored.endsWith('.key'));
      const token = new Pkcs11KeyStore({ module: { path: SOFTHSM_MODULE, token: { label: 'restore' } }, pins: { userPin: '2468' } });

      await assert.rejects(importKeyFileToToken(token, text, stored, constantRetriever('wrong passphrase')),
        (e: unknown) => hasCode(e, 'ATTEMPTS_EXCEEDED') && (e as Error).message === 'maximum number of passphrase attempts exceeded');
      const plain = writeEncryptedPrivateKeyPem(key, '', { role: 'root' });
      await assert.rejects(importKeyFileToToken(token, plain, 'plain.key', constantRetriever('x')),
        (e: unknown) => hasCode(e, 'INVALID_BACKUP') && (e as Error).message === 'only encrypted root keys may be imported');
      assert.deepEqual(await token.listKeys(), []);

      const added = await importKeyFileToToken(token, text, stored, constantRetriever('backup passphrase'));
      assert.equal(added.added, true);
      assert.equal(added.info.role, 'root');
      assert.equal(added.info.keyId, computeKeyId('ecdsa', publicKeySpki(key)));
      const signer = await token.getSigner(added.info.keyId);
      const message = new TextEncoder().encode('restored');
      const sig = await signer.sign(message);
      assert.ok(verify('sha256', message, { key: createPublicKey(key), dsaEncoding: 'ieee-p1363' }, sig.sig));
    } finally {
      hsm.cleanup();
    }
  });
});

/**
 * The PKCS#11 key store on SoftHSM2: root keys created on a token with notary's backup copy,
 * signatures verified by node:crypto, the backup restored onto a second token, keys generated on
 * the token for other roles, listing, removal and refused export.
 */
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { hasCode } from '../../src/errors.ts';
import { decodeFirstPem } from '../../src/crypto/pem.ts';
import { spkiOf } from '../../src/crypto/signatures.ts';
import { parseCertificate } from '../../src/crypto/x509.ts';
import { Pkcs11KeyStore } from '../../src/keystore/pkcs11/store.ts';
import type { Pkcs11StoreOptions } from '../../src/keystore/pkcs11/store.ts';
import { loadPkcs11Module, CK } from '../../src/keystore/pkcs11/port.ts';
import { selectToken } from '../../src/keystore/pkcs11/session.ts';
import { computeKeyId, makePublicKey, verifySignature } from '../../src/tuf/keys.ts';
import { BACKUP_PASSPHRASE, failingBackupWriter, fileBackupWriter, readBackup } from './backup-writer.ts';
import { createSoftHsm, SKIP_REASON, SOFTHSM_MODULE, tokenObjects as tokenObjectsOn } from './softhsm.ts';
import type { SoftHsm } from './softhsm.ts';

const PIN = '246810';
const MESSAGE = new TextEncoder().encode('{"signed":{"_type":"Root","version":1}}');

function storeFor(label: string, extra: Partial<Pkcs11StoreOptions> = {}): Pkcs11KeyStore {
  return new Pkcs11KeyStore({ module: { path: SOFTHSM_MODULE, token: { label } }, pins: { userPin: PIN, userPinSource: 'VOUCH_PKCS11_PIN' }, ...extra });
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp | string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(hasCode(e, code), `expected ${code}, got ${e instanceof Error ? `${e.name} ${(e as { code?: string }).code}: ${e.message}` : String(e)}`);
    if (typeof message === 'string') assert.equal((e as Error).message, message);
    else if (message !== undefined) assert.match((e as Error).message, message);
    return true;
  });
}

function tokenObjects(label: string): string[] {
  return tokenObjectsOn(label, PIN);
}

describe('PKCS#11 key store on SoftHSM2', { skip: SKIP_REASON }, () => {
  let hsm: SoftHsm;
  beforeEach(() => {
    hsm = createSoftHsm();
    hsm.initToken('vouch-a', PIN);
    hsm.use();
  });
  afterEach(() => hsm.cleanup());

  test('a root key created on the token signs, node:crypto verifies, and the backup signs as the same key', async () => {
    const trust = join(hsm.dir, 'trust');
    const backup = fileBackupWriter(trust);
    const store = storeFor('vouch-a');
    const created = await store.createKey({ role: 'root' }, backup);
    assert.equal(created.added, true);
    assert.equal(backup.calls, 1);
    assert.equal(created.info.location, 'pkcs11:vouch-a');
    assert.equal(created.backup, join(trust, 'private', `${created.info.keyId}.key`));
    assert.equal(created.info.keyId, computeKeyId('ecdsa', created.info.spki));

    const listed = await store.listKeys();
    assert.deepEqual(listed.map((k) => [k.keyId, k.role, k.gun, k.location]), [[created.info.keyId, 'root', undefined, 'pkcs11:vouch-a']]);

    const signer = await store.getSigner(created.info.keyId);
    assert.equal(signer.keyId, created.info.keyId);
    const sig = await signer.sign(MESSAGE);
    assert.equal(sig.method, 'ecdsa');
    assert.equal(sig.sig.length, 64);
    const pub = createPublicKey({ key: Buffer.from(created.info.spki), format: 'der', type: 'spki' });
    assert.ok(nodeVerify('sha256', MESSAGE, { key: pub, dsaEncoding: 'ieee-p1363' }, sig.sig));
    assert.ok(verifySignature(signer.publicKey, 'ecdsa', sig.sig, MESSAGE));

    // The backup decrypts to the very key on the token: same public key, and its signatures verify under the token key.
    const { key, text } = readBackup(created.backup);
    assert.match(text, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: root\n\n/);
    assert.deepEqual(new Uint8Array(spkiOf(createPublicKey(key))), created.info.spki);
    const fromBackup = nodeSign('sha256', MESSAGE, { key, dsaEncoding: 'ieee-p1363' });
    assert.ok(verifySignature(signer.publicKey, 'ecdsa', fromBackup, MESSAGE));

    // The token never gives the private value out.
    const objects = tokenObjects('vouch-a');
    const id = Buffer.concat([Buffer.from('vouch:'), Buffer.from(created.info.keyId, 'hex')]).toString('hex');
    assert.deepEqual(objects, [`2:${id}`, `3:${id}`]);
    await rejectsWith(store.exportKey(created.info.keyId), 'EXPORT_REFUSED',
      `key ${created.info.keyId} is stored on pkcs11:vouch-a and cannot be exported; export its backup copy from the file store instead, if one was made`);
  });

  test('the backup restores onto a second token, which then signs as the same key', async () => {
    const serialB = hsm.initToken('vouch-b', PIN);
    const trust = join(hsm.dir, 'trust');
    const first = await storeFor('vouch-a').createKey({ role: 'root' }, fileBackupWriter(trust));
    const { key } = readBackup(first.backup!);

    // Selected by serial this time.
    const second = new Pkcs11KeyStore({ module: { path: SOFTHSM_MODULE, token: { serial: serialB } }, pins: { userPin: PIN } });
    const restored = await second.importKey(key, { role: 'root' });
    assert.equal(restored.added, true);
    assert.equal(restored.backup, undefined);
    assert.equal(restored.info.keyId, first.info.keyId);
    assert.equal(restored.info.location, 'pkcs11:vouch-b');
    // Importing again changes nothing.
    assert.equal((await second.importKey(key, { role: 'root' })).added, false);

    const sigB = await (await second.getSigner(first.info.keyId)).sign(MESSAGE);
    const sigA = await (await storeFor('vouch-a').getSigner(first.info.keyId)).sign(MESSAGE);
    const pub = makePublicKey('ecdsa', first.info.spki);
    assert.ok(verifySignature(pub, 'ecdsa', sigA.sig, MESSAGE));
    assert.ok(verifySignature(pub, 'ecdsa', sigB.sig, MESSAGE));
    assert.deepEqual(tokenObjects('vouch-a'), tokenObjects('vouch-b'));
  });

  test('a failed backup removes the key from the token again (notary: Failed to backup private key to: …)', async () => {
    const store = storeFor('vouch-a');
    const writer = failingBackupWriter('open /trust/private/x.key: no space left on device');
    await rejectsWith(store.createKey({ role: 'root' }, writer), 'BACKUP_FAILED',
      'Failed to backup private key to: open /trust/private/x.key: no space left on device');
    assert.equal(writer.calls, 1);
    assert.deepEqual(await store.listKeys(), []);
    assert.deepEqual(tokenObjects('vouch-a'), []);
  });

  test('keys for other roles are generated on the token and never exist elsewhere', async () => {
    const store = storeFor('vouch-a');
    const made = await store.createKey({ role: 'targets', gun: 'docker.io/library/alpine' });
    const delegation = await store.createKey({ role: 'targets/releases' });
    const listed = await store.listKeys();
    assert.deepEqual(listed.map((k) => [k.keyId, k.role, k.gun]).sort(), [
      [made.info.keyId, 'targets', 'docker.io/library/alpine'],
      [delegation.info.keyId, 'targets/releases', undefined],
    ].sort());
    const sig = await (await store.getSigner(made.info.keyId)).sign(MESSAGE);
    assert.ok(verifySignature(makePublicKey('ecdsa', made.info.spki), 'ecdsa', sig.sig, MESSAGE));

    // CKA_SENSITIVE and not extractable: reading the value is refused by the token itself.
    const port = loadPkcs11Module(SOFTHSM_MODULE);
    try {
      const { slot } = selectToken(port, { label: 'vouch-a' });
      const session = port.openSession(slot, false);
      port.login(session, 'user', PIN);
      const [priv] = port.findObjects(session, [{ type: CK.CKA_CLASS, value: CK.CKO_PRIVATE_KEY }, { type: CK.CKA_ID, value: Buffer.from(made.info.objectId) }]);
      assert.throws(() => port.getAttributes(session, priv!, [CK.CKA_VALUE]), /CKR_ATTRIBUTE_SENSITIVE/);
      const [extractable] = port.getAttributes(session, priv!, [CK.CKA_EXTRACTABLE]);
      assert.equal(extractable![0], 0);
    } finally {
      port.close();
    }

    const removed = await store.removeKey(made.info.keyId);
    assert.equal(removed.keyId, made.info.keyId);
    assert.deepEqual((await store.listKeys()).map((k) => k.keyId), [delegation.info.keyId]);
    await rejectsWith(store.removeKey(made.info.keyId), 'KEY_NOT_FOUND', `signing key not found: ${made.info.keyId}`);
    await rejectsWith(store.getSigner(made.info.keyId), 'KEY_NOT_FOUND', `signing key not found: ${made.info.keyId}`);
  });

  test('other applications\' objects on the same token are neither listed nor touched', async () => {
    // Another application's EC key with a one-byte ID and its own label.
    const port = loadPkcs11Module(SOFTHSM_MODULE);
    try {
      const { slot } = selectToken(port, { label: 'vouch-a' });
      const session = port.openSession(slot, true);
      port.login(session, 'user', PIN);
      port.generateEcKeyPair(session,
        [{ type: CK.CKA_TOKEN, value: true }, { type: CK.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') }, { type: CK.CKA_ID, value: Buffer.of(2) }, { type: CK.CKA_LABEL, value: 'ssh key' }],
        [{ type: CK.CKA_TOKEN, value: true }, { type: CK.CKA_PRIVATE, value: true }, { type: CK.CKA_SIGN, value: true }, { type: CK.CKA_ID, value: Buffer.of(2) }, { type: CK.CKA_LABEL, value: 'ssh key' }]);
    } finally {
      port.close();
    }
    const store = storeFor('vouch-a');
    assert.deepEqual(await store.listKeys(), []);
    const made = await store.createKey({ role: 'snapshot', gun: 'example.com/a' });
    assert.deepEqual((await store.listKeys()).map((k) => k.keyId), [made.info.keyId]);
    await store.removeKey(made.info.keyId);
    assert.deepEqual(tokenObjects('vouch-a'), ['2:02', '3:02']);
  });

  test('a root certificate for a GUN is made and signed on the token', async () => {
    const store = storeFor('vouch-a');
    const made = await store.createKey({ role: 'root' }, fileBackupWriter(join(hsm.dir, 'trust')));
    const signer = await store.getSigner(made.info.keyId);
    const now = new Date('2024-05-06T07:08:09.500Z');
    const pem = await signer.createCertificate('docker.io/library/alpine', now, 12345n);
    const cert = parseCertificate(decodeFirstPem(pem).bytes);
    assert.equal(cert.commonName, 'docker.io/library/alpine');
    assert.deepEqual(cert.spki, made.info.spki);
    assert.equal(cert.notBefore.toISOString(), '2024-05-06T07:08:09.000Z');
    assert.equal(cert.notAfter.toISOString(), '2034-05-04T07:08:09.000Z');
    // The root role lists the certificate key; a signer for it signs under the certificate key ID.
    const certKey = makePublicKey('ecdsa-x509', Buffer.from(pem, 'utf8'));
    const rootSigner = await store.getSigner(made.info.keyId, certKey);
    assert.equal(rootSigner.keyId, certKey.id);
    assert.equal(rootSigner.canonicalKeyId, made.info.keyId);
    const sig = await rootSigner.sign(MESSAGE);
    assert.ok(verifySignature(certKey, 'ecdsa', sig.sig, MESSAGE));
    assert.deepEqual(readdirSync(join(hsm.dir, 'trust', 'private')), [`${made.info.keyId}.key`]);
    assert.ok(BACKUP_PASSPHRASE.length > 8);
  });

  test('concurrent signatures on one module are serialised and all verify', async () => {
    const store = storeFor('vouch-a');
    const a = await store.createKey({ role: 'targets', gun: 'example.com/a' });
    const b = await store.createKey({ role: 'snapshot', gun: 'example.com/a' });
    const signers = await Promise.all([store.getSigner(a.info.keyId), store.getSigner(b.info.keyId)]);
    const sigs = await Promise.all(Array.from({ length: 8 }, (_, i) => signers[i % 2]!.sign(MESSAGE)));
    for (const [i, sig] of sigs.entries()) assert.ok(verifySignature(signers[i % 2]!.publicKey, 'ecdsa', sig.sig, MESSAGE));
  });
});

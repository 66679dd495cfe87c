import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { generateKeyPairSync } from '../helpers/keys.ts';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { VouchError } from '../../src/errors.ts';
import { encodePem } from '../../src/crypto/pem.ts';
import { spkiOf } from '../../src/crypto/signatures.ts';
import { createRootCertificate } from '../../src/crypto/x509.ts';
import { canonicalBytes } from '../../src/tuf/canonical.ts';
import { ValidationError, VerificationError, type VerificationCode } from '../../src/tuf/errors.ts';
import {
  canonicalKeyId,
  computeKeyId,
  makePublicKey,
  parsePublicKey,
  publicKeyFromPrivate,
  publicKeyJson,
  verifySignature,
  type PublicKey,
} from '../../src/tuf/keys.ts';
import { localSigner } from '../../src/tuf/local-signer.ts';
import { rootCertificateKey } from '../../src/tuf/certs.ts';
import { NOTARY_COMPAT } from '../helpers/fixtures.js';

const META = `${NOTARY_COMPAT}/notary0.3/tuf/docker.com/notary0.3/tst/metadata/`;
const CERT_KEY = '354e203ba09dbe17807b6a9d191bff887167c06d121e738d849446a9c76c2866';
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const VECTOR3_MESSAGE = bytes('{"_type":"Timestamp","expires":"2030-01-01T00:00:00Z","meta":{},"version":1}');

interface Envelope {
  signed: Record<string, unknown>;
  signatures: { keyid: string; method: string; sig: string }[];
}

function load(name: string): Envelope {
  return JSON.parse(readFileSync(META + name, 'utf8')) as Envelope;
}

function keysOf(keys: Record<string, unknown>): Map<string, PublicKey> {
  return new Map(Object.entries(keys).map(([id, v]) => [id, parsePublicKey(v, `keys.${id}`)]));
}

function vector3Key(): KeyObject {
  const seed = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  return createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
}

function throwsVerification(f: () => unknown, code: VerificationCode, message: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof VerificationError, `expected VerificationError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.message, message);
    return true;
  });
}

function throwsInvalidKey(value: unknown, path: string): void {
  assert.throws(() => parsePublicKey(value, 'k'), (e: unknown) => {
    assert.ok(e instanceof ValidationError, String(e));
    assert.equal(e.code, 'INVALID_KEY');
    assert.equal(e.path, path);
    return true;
  });
}

describe('key IDs (vectors 1, 2)', () => {
  it('vector 1: the ID of an ecdsa key', () => {
    const pub = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENgK7kx/HdvmLUG4733JIJd0Bv6FML8SVEmgGynvhl64nCVmWzTLdziS1bMUgb6hlSkqTYtvyOCC5YMY+GrAH+Q==';
    const key = parsePublicKey({ keytype: 'ecdsa', keyval: { private: null, public: pub } }, 'k');
    assert.equal(key.id, '041b64dab281324ef2b62fd2d04f4758269e120ff063b7bc78709272821a0a02');
    assert.equal(computeKeyId('ecdsa', key.publicBytes), key.id);
    assert.deepEqual(publicKeyJson(key), { keytype: 'ecdsa', keyval: { private: null, public: pub } });
    assert.equal(
      Buffer.from(canonicalBytes(publicKeyJson(key))).toString(),
      `{"keytype":"ecdsa","keyval":{"private":null,"public":"${pub}"}}`,
    );
  });

  it('vector 2: every key of the fixture root recomputes to its map key; the certificate key’s canonical ID', () => {
    const keys = keysOf(load('root.json').signed['keys'] as Record<string, unknown>);
    assert.equal(keys.size, 4);
    for (const [id, key] of keys) assert.equal(key.id, id);
    const cert = keys.get(CERT_KEY)!;
    assert.equal(cert.keyType, 'ecdsa-x509');
    assert.equal(canonicalKeyId(cert), 'f4eaf871a74aa3b3a0ff95cef2455a1e4d461639f5625418e76756fc5c948690');
    const plain = keys.get('041b64dab281324ef2b62fd2d04f4758269e120ff063b7bc78709272821a0a02')!;
    assert.equal(canonicalKeyId(plain), plain.id);
  });

  it('canonical IDs of broken certificate keys are an INVALID_KEY error', () => {
    const broken = makePublicKey('ecdsa-x509', bytes('not a certificate'));
    assert.throws(() => canonicalKeyId(broken), { code: 'INVALID_KEY' });
  });
});

describe('fixture signatures (vector 8)', () => {
  const root = load('root.json');
  const rootKeys = keysOf(root.signed['keys'] as Record<string, unknown>);
  const targets = load('targets.json');
  const delegations = targets.signed['delegations'] as { keys: Record<string, unknown> };
  const delegationKeys = keysOf(delegations.keys);

  for (const [file, keys, method] of [
    ['root.json', rootKeys, 'ecdsa'],
    ['targets.json', rootKeys, 'ecdsa'],
    ['snapshot.json', rootKeys, 'ecdsa'],
    ['timestamp.json', rootKeys, 'ecdsa'],
    ['targets/releases.json', delegationKeys, 'rsapss'],
  ] as const) {
    it(`${file}: its ${method} signature verifies over the re-canonicalised signed object`, () => {
      const env = load(file);
      assert.equal(env.signatures.length, 1);
      const s = env.signatures[0]!;
      assert.equal(s.method, method);
      const key = keys.get(s.keyid);
      assert.ok(key !== undefined, s.keyid);
      const sig = new Uint8Array(Buffer.from(s.sig, 'base64'));
      const message = canonicalBytes(env.signed);
      assert.equal(verifySignature(key, s.method, sig, message), true);
      const tampered = canonicalBytes({ ...env.signed, version: 99 });
      assert.equal(verifySignature(key, s.method, sig, tampered), false);
    });
  }

  it('the releases key is the rsa-x509 key 68243a1f…7d73', () => {
    const key = delegationKeys.get('68243a1f948be7841403f65fc8f24d5eda9050c337e727e2eacc3d3cb5227d73')!;
    assert.equal(key.keyType, 'rsa-x509');
    assert.equal(key.id, '68243a1f948be7841403f65fc8f24d5eda9050c337e727e2eacc3d3cb5227d73');
  });
});

describe('verifySignature dispatch (vector 20)', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecKey = publicKeyFromPrivate(ec.privateKey);
  const msg = bytes('payload');
  const rawSig = sign('sha256', msg, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });

  it('accepts raw r‖s, any case of the method; rejects DER and 63 bytes', () => {
    assert.equal(verifySignature(ecKey, 'ecdsa', rawSig, msg), true);
    assert.equal(verifySignature(ecKey, 'ECDSA', rawSig, msg), true);
    const der = sign('sha256', msg, { key: ec.privateKey, dsaEncoding: 'der' });
    assert.equal(verifySignature(ecKey, 'ecdsa', der, msg), false);
    assert.equal(verifySignature(ecKey, 'ecdsa', rawSig.subarray(1), msg), false);
  });

  it('the method must suit the trusted key’s type', () => {
    const mismatch = 'key type is not valid for signature';
    throwsVerification(() => verifySignature(ecKey, 'eddsa', rawSig, msg), 'KEY_TYPE_MISMATCH', mismatch);
    throwsVerification(() => verifySignature(ecKey, 'rsapss', rawSig, msg), 'KEY_TYPE_MISMATCH', mismatch);
    const ed = publicKeyFromPrivate(vector3Key());
    throwsVerification(() => verifySignature(ed, 'ecdsa', rawSig, msg), 'KEY_TYPE_MISMATCH', mismatch);
    const unknown = makePublicKey('gpg', bytes('whatever'));
    throwsVerification(() => verifySignature(unknown, 'ecdsa', rawSig, msg), 'KEY_TYPE_MISMATCH', mismatch);
    throwsVerification(() => verifySignature(ecKey, 'Foo', rawSig, msg), 'UNSUPPORTED_METHOD', 'signing method is not supported: foo');
    // Names of Object.prototype members are methods like any other (a mutation test found `__proto__`).
    for (const m of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      throwsVerification(() => verifySignature(ecKey, m, rawSig, msg), 'UNSUPPORTED_METHOD', `signing method is not supported: ${m.toLowerCase()}`);
    }
  });

  it('RSA keys below 2048 bits are refused with notary’s message', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const key = publicKeyFromPrivate(small.privateKey);
    assert.equal(key.keyType, 'rsa');
    const sig = sign('sha256', msg, { key: small.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    const text = 'key length is not supported: RSA key must be at least 2048 bits.';
    throwsVerification(() => verifySignature(key, 'rsapss', sig, msg), 'KEY_TOO_SHORT', text);
    throwsVerification(() => verifySignature(key, 'rsapkcs1v15', sig, msg), 'KEY_TOO_SHORT', text);
  });

  it('RSA: rsapss, rsapkcs1v15, and the legacy PyCrypto method over a PEM public key', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const key = publicKeyFromPrivate(rsa.privateKey);
    const pss = sign('sha256', msg, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    const v15 = sign('sha256', msg, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PADDING });
    assert.equal(verifySignature(key, 'rsapss', pss, msg), true);
    assert.equal(verifySignature(key, 'rsapkcs1v15', v15, msg), true);
    assert.equal(verifySignature(key, 'rsapss', v15, msg), false);
    const pemKey = makePublicKey('rsa', bytes(encodePem({ type: 'PUBLIC KEY', bytes: spkiOf(rsa.publicKey) })));
    assert.equal(verifySignature(pemKey, 'pycrypto-pkcs#1 pss', pss, msg), true);
    assert.equal(verifySignature(pemKey, 'rsapss', pss, msg), false, 'PEM bytes are not a DER rsa key');
    assert.equal(verifySignature(key, 'pycrypto-pkcs#1 pss', pss, msg), false, 'DER bytes are not PEM');
    const certKey = rootCertificateKey(createRootCertificate({ gun: 'g', privateKey: rsa.privateKey, now: new Date(0) }));
    assert.equal(certKey.keyType, 'rsa-x509');
    assert.equal(verifySignature(certKey, 'rsapss', pss, msg), true);
    throwsVerification(() => verifySignature(certKey, 'pycrypto-pkcs#1 pss', pss, msg), 'KEY_TYPE_MISMATCH', 'key type is not valid for signature');
  });

  it('x509 keys verify with the certificate’s key; a certificate of the wrong algorithm never verifies', () => {
    const certKey = rootCertificateKey(createRootCertificate({ gun: 'g', privateKey: ec.privateKey, now: new Date(0) }));
    assert.equal(verifySignature(certKey, 'ecdsa', rawSig, msg), true);
    assert.equal(canonicalKeyId(certKey), ecKey.id);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaCert = rootCertificateKey(createRootCertificate({ gun: 'g', privateKey: rsa.privateKey, now: new Date(0) }));
    const lying = makePublicKey('ecdsa-x509', rsaCert.publicBytes);
    assert.equal(verifySignature(lying, 'ecdsa', rawSig, msg), false);
  });
});

describe('Ed25519 (vector 3) and local signers', () => {
  it('public key, key ID and the deterministic eddsa signature', async () => {
    const priv = vector3Key();
    const key = publicKeyFromPrivate(priv);
    assert.equal(b64(key.publicBytes), 'A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=');
    assert.equal(key.id, 'b9fe8d4b54e73abb584e2015aaa447047e53282f491dcc70c40d2474d3096a21');
    const signer = localSigner(priv);
    assert.equal(signer.keyId, key.id);
    const { method, sig } = await signer.sign(VECTOR3_MESSAGE);
    assert.equal(method, 'eddsa');
    assert.equal(b64(sig), 'ng1OoulBV8Aa0YFUQtrvhTGuPdl+uyxlbXIixJf25bxJXMzOO8hdDASYUXCbpy3uJZubgi/jthAyfxInM4I1CQ==');
    assert.equal(verifySignature(key, 'eddsa', sig, VECTOR3_MESSAGE), true);
    assert.equal(verifySignature(makePublicKey('ed25519', new Uint8Array(31)), 'eddsa', sig, VECTOR3_MESSAGE), false);
  });

  it('ecdsa and rsapss signers; root signers sign under the certificate key ID', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const plain = localSigner(ec.privateKey);
    const s1 = await plain.sign(VECTOR3_MESSAGE);
    assert.equal(s1.method, 'ecdsa');
    assert.equal(s1.sig.length, 64);
    assert.equal(verifySignature(plain.publicKey, s1.method, s1.sig, VECTOR3_MESSAGE), true);

    const certKey = rootCertificateKey(createRootCertificate({ gun: 'g', privateKey: ec.privateKey, now: new Date(0) }));
    const root = localSigner(ec.privateKey, certKey);
    assert.equal(root.keyId, certKey.id);
    assert.notEqual(root.keyId, plain.keyId);
    assert.equal(canonicalKeyId(root.publicKey), plain.keyId);
    const s2 = await root.sign(VECTOR3_MESSAGE);
    assert.equal(verifySignature(certKey, s2.method, s2.sig, VECTOR3_MESSAGE), true);

    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const r = await localSigner(rsa.privateKey).sign(VECTOR3_MESSAGE);
    assert.equal(r.method, 'rsapss');
    assert.equal(r.sig.length, 256);

    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.throws(() => localSigner(other.privateKey, certKey), { code: 'INVALID_KEY', message: `public key ${certKey.id} does not match the private key` });
    assert.throws(() => localSigner(other.privateKey, plain.publicKey), { code: 'INVALID_KEY' });
    assert.throws(() => localSigner(ec.publicKey), { code: 'INVALID_KEY' });
  });
});

describe('parsePublicKey', () => {
  const pub = b64(spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey));

  it('accepts either member order, an absent private, extra members and line-wrapped base64 (vector 17)', () => {
    const a = parsePublicKey({ keyval: { public: pub, private: null }, keytype: 'ecdsa' }, 'k');
    const b = parsePublicKey({ keytype: 'ecdsa', keyval: { public: pub }, extra: 1 }, 'k');
    const c = parsePublicKey({ keytype: 'ecdsa', keyval: { public: pub.slice(0, 40) + '\n' + pub.slice(40), private: null } }, 'k');
    assert.equal(a.id, b.id);
    assert.equal(a.id, c.id);
    const unknown = parsePublicKey({ keytype: 'x-new', keyval: { public: 'AAEC', private: null } }, 'k');
    assert.equal(unknown.keyType, 'x-new');
    assert.deepEqual([...unknown.publicBytes], [0, 1, 2]);
  });

  it('refuses malformed keys with INVALID_KEY and the offending path', () => {
    throwsInvalidKey(null, 'k');
    throwsInvalidKey([], 'k');
    throwsInvalidKey({ keyval: { public: pub } }, 'k.keytype');
    throwsInvalidKey({ keytype: 7, keyval: { public: pub } }, 'k.keytype');
    throwsInvalidKey({ keytype: 'a\tb', keyval: { public: pub } }, 'k.keytype');
    throwsInvalidKey({ keytype: 'ecdsa' }, 'k.keyval');
    throwsInvalidKey({ keytype: 'ecdsa', keyval: { public: pub, private: 'AAAA' } }, 'k.keyval.private');
    throwsInvalidKey({ keytype: 'ecdsa', keyval: { public: 12 } }, 'k.keyval.public');
    throwsInvalidKey({ keytype: 'ecdsa', keyval: { public: 'AA' } }, 'k.keyval.public');
    throwsInvalidKey({ keytype: 'ecdsa', keyval: { public: 'AA-_' } }, 'k.keyval.public');
    throwsInvalidKey({ keytype: 'ecdsa', keyval: { public: 'A'.repeat(90_000) } }, 'k.keyval.public');
  });

  it('property: arbitrary values and mutated keys never raise anything but VouchError', () => {
    const sample = { keytype: 'ecdsa', keyval: { private: null, public: pub } };
    fc.assert(
      fc.property(fc.jsonValue(), fc.string(), fc.uint8Array({ maxLength: 200 }), fc.constantFrom('ecdsa', 'ecdsa-x509', 'rsa', 'rsa-x509', 'ed25519', 'other'),
        fc.constantFrom('ecdsa', 'eddsa', 'rsapss', 'rsapkcs1v15', 'pycrypto-pkcs#1 pss', 'nope'), (json, s, junk, keyType, method) => {
          for (const v of [json, { ...sample, keytype: s }, { ...sample, keyval: { public: s } }, { keytype: keyType, keyval: { public: b64(junk) } }]) {
            try {
              const key = parsePublicKey(v, 'k');
              verifySignature(key, method, junk, junk);
              canonicalKeyId(key);
            } catch (e) {
              assert.ok(e instanceof VouchError, String(e));
            }
          }
        }),
      { numRuns: 300 },
    );
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign, constants, type KeyObject } from 'node:crypto';
import { generateKeyPairSync } from '../helpers/keys.ts';
import fc from 'fast-check';
import { VouchError } from '../../src/errors.ts';
import {
  CryptoError,
  ecdsaSign,
  ecdsaVerify,
  ed25519RawPublic,
  ed25519Sign,
  ed25519Verify,
  importEd25519Raw,
  importSpki,
  rsaPkcs1v15Verify,
  rsaPssSign,
  rsaPssVerify,
  spkiOf,
  type CryptoErrorCode,
} from '../../src/crypto/signatures.ts';

const msg = new Uint8Array(Buffer.from('{"_type":"Timestamp","expires":"2030-01-01T00:00:00Z","meta":{},"version":1}'));
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

function throwsCrypto(f: () => unknown, code: CryptoErrorCode, message?: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof CryptoError, `expected CryptoError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message !== undefined) assert.equal(e.message, message);
    return true;
  });
}

/** Vector 3's key: seed 0x00…0x1f, imported through PKCS#8 (prefix for an Ed25519 seed). */
function vector3Key(): KeyObject {
  const seed = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  return createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
}

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });

describe('ECDSA raw r‖s', () => {
  for (const [name, pair, len] of [['P-256', p256, 64], ['P-384', p384, 96]] as const) {
    it(`${name}: signs ${len} bytes that verify; DER and short forms are refused`, () => {
      const sig = ecdsaSign(pair.privateKey, msg);
      assert.equal(sig.length, len);
      assert.equal(ecdsaVerify(pair.publicKey, msg, sig), true);
      assert.equal(ecdsaVerify(pair.publicKey, new Uint8Array(Buffer.from('other')), sig), false);
      const der = sign('sha256', msg, { key: pair.privateKey, dsaEncoding: 'der' });
      assert.equal(ecdsaVerify(pair.publicKey, msg, der), false);
      assert.equal(ecdsaVerify(pair.publicKey, msg, sig.subarray(1)), false);
      assert.equal(ecdsaVerify(pair.publicKey, msg, new Uint8Array([...sig, 0])), false);
    });
  }

  it('uses SHA-256 for P-384 as notary does', () => {
    const sig = sign('sha256', msg, { key: p384.privateKey, dsaEncoding: 'ieee-p1363' });
    assert.equal(ecdsaVerify(p384.publicKey, msg, sig), true);
    const sha384 = sign('sha384', msg, { key: p384.privateKey, dsaEncoding: 'ieee-p1363' });
    assert.equal(ecdsaVerify(p384.publicKey, msg, sha384), false);
  });

  it('vector 20: an r with a leading zero byte must stay padded to 32 bytes', () => {
    let found: { m: Uint8Array; sig: Uint8Array } | undefined;
    for (let i = 0; i < 5000 && found === undefined; i++) {
      const m = new Uint8Array(Buffer.from(`message ${i}`));
      const sig = ecdsaSign(p256.privateKey, m);
      if (sig[0] === 0) found = { m, sig };
    }
    assert.ok(found !== undefined, 'no signature with a leading zero found');
    assert.equal(found.sig.length, 64);
    assert.equal(ecdsaVerify(p256.publicKey, found.m, found.sig), true);
    assert.equal(ecdsaVerify(p256.publicKey, found.m, found.sig.subarray(1)), false, '63-byte r‖s must be refused');
  });

  it('refuses keys of the wrong algorithm', () => {
    throwsCrypto(() => ecdsaVerify(rsa.publicKey, msg, new Uint8Array(64)), 'UNSUPPORTED_KEY');
    throwsCrypto(() => ecdsaSign(p256.publicKey, msg), 'UNSUPPORTED_KEY');
  });
});

describe('RSA', () => {
  it('RSASSA-PSS with SHA-256 and a salt of exactly 32 bytes', () => {
    const sig = rsaPssSign(rsa.privateKey, msg);
    assert.equal(sig.length, 256);
    assert.equal(rsaPssVerify(rsa.publicKey, msg, sig), true);
    for (const saltLength of [20, 31, 33, 222]) {
      const other = sign('sha256', msg, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
      assert.equal(rsaPssVerify(rsa.publicKey, msg, other), false, `salt ${saltLength}`);
    }
    assert.equal(rsaPkcs1v15Verify(rsa.publicKey, msg, sig), false);
    assert.equal(rsaPssVerify(rsa.publicKey, msg, sig.subarray(0, 255)), false);
  });

  it('PKCS#1 v1.5 with SHA-256 verifies', () => {
    const sig = sign('sha256', msg, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PADDING });
    assert.equal(rsaPkcs1v15Verify(rsa.publicKey, msg, sig), true);
    assert.equal(rsaPssVerify(rsa.publicKey, msg, sig), false);
  });

  it('refuses RSA keys below 2048 bits', () => {
    const sig = sign('sha256', msg, { key: rsa1024.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    const text = 'RSA key must be at least 2048 bits.';
    throwsCrypto(() => rsaPssVerify(rsa1024.publicKey, msg, sig), 'KEY_TOO_SHORT', text);
    throwsCrypto(() => rsaPkcs1v15Verify(rsa1024.publicKey, msg, sig), 'KEY_TOO_SHORT', text);
    throwsCrypto(() => rsaPssSign(rsa1024.privateKey, msg), 'KEY_TOO_SHORT', text);
  });
});

describe('Ed25519', () => {
  it('vector 3: public key and the deterministic eddsa signature', () => {
    const key = vector3Key();
    assert.equal(b64(ed25519RawPublic(key)), 'A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=');
    const sig = ed25519Sign(key, msg);
    assert.equal(b64(sig), 'ng1OoulBV8Aa0YFUQtrvhTGuPdl+uyxlbXIixJf25bxJXMzOO8hdDASYUXCbpy3uJZubgi/jthAyfxInM4I1CQ==');
    const pub = importEd25519Raw(ed25519RawPublic(key));
    assert.equal(ed25519Verify(pub, msg, sig), true);
    assert.equal(ed25519Verify(pub, msg, sig.subarray(1)), false);
    const flipped = new Uint8Array(sig);
    flipped[10] = (flipped[10] as number) ^ 1;
    assert.equal(ed25519Verify(pub, msg, flipped), false);
  });

  it('raw public keys must be 32 bytes', () => {
    throwsCrypto(() => importEd25519Raw(new Uint8Array(31)), 'INVALID_PUBLIC_KEY', 'ed25519 public key must be 32 bytes, was 31');
  });
});

describe('importSpki', () => {
  it('round-trips ECDSA, RSA and Ed25519 SPKI', () => {
    for (const k of [p256.publicKey, p384.publicKey, rsa.publicKey, createPublicKey(vector3Key())]) {
      const der = spkiOf(k);
      assert.deepEqual(spkiOf(importSpki(der)), der);
    }
  });

  it('refuses trailing data, garbage and curves Go does not know', () => {
    const der = spkiOf(p256.publicKey);
    throwsCrypto(() => importSpki(new Uint8Array([...der, 0])), 'INVALID_PUBLIC_KEY', 'public key is not in canonical DER form');
    throwsCrypto(() => importSpki(new Uint8Array([1, 2, 3])), 'INVALID_PUBLIC_KEY', 'unable to parse ASN.1 encoded public key');
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    throwsCrypto(() => importSpki(spkiOf(k1.publicKey)), 'UNSUPPORTED_KEY', 'unsupported elliptic curve: secp256k1');
    const x25519 = generateKeyPairSync('x25519');
    throwsCrypto(() => importSpki(spkiOf(x25519.publicKey)), 'UNSUPPORTED_KEY', 'unsupported key algorithm: x25519');
  });

  it('property: random bytes and mutated keys only ever raise CryptoError', () => {
    const der = spkiOf(p256.publicKey);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 }), (junk, at, x) => {
        const mutated = new Uint8Array(der);
        mutated[at] = (mutated[at] as number) ^ x;
        for (const input of [junk, mutated]) {
          try {
            importSpki(input);
          } catch (e) {
            assert.ok(e instanceof CryptoError, String(e));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: random signatures never verify and never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (sig) => {
        assert.equal(ecdsaVerify(p256.publicKey, msg, sig), false);
        assert.equal(ed25519Verify(importEd25519Raw(ed25519RawPublic(vector3Key())), msg, sig), false);
        assert.equal(rsaPssVerify(rsa.publicKey, msg, sig), false);
        assert.equal(rsaPkcs1v15Verify(rsa.publicKey, msg, sig), false);
      }),
      { numRuns: 200 },
    );
    assert.ok(new CryptoError('KEY_TOO_SHORT', 'x') instanceof VouchError);
  });
});

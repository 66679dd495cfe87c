import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { generateKeyPairSync } from '../helpers/keys.ts';
import { canonicalBytes } from '../../src/tuf/canonical.ts';
import { DerReader, derExplicit, derInteger, derOctetString, derOid, derSequence, readDerSequence } from '../../src/crypto/der.ts';
import {
  ecCurveOf, ecFromSec1, ed25519FromSeed, ed25519RawPublic, generateKey, notaryKeyType, notaryPublicBytes,
  privateKeyFromNotaryBytes, privateKeyToNotaryBytes, publicKeySpki, type PrivateKeyErrorCode,
} from '../../src/crypto/private-keys.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

function keyId(keytype: string, pub: Uint8Array): string {
  return createHash('sha256').update(canonicalBytes({ keytype, keyval: { private: null, public: b64(pub) } })).digest('hex');
}

function throwsKey(f: () => unknown, code: PrivateKeyErrorCode | 'INVALID_DER', message?: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof Error && 'code' in e, `expected a VouchError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message !== undefined) assert.equal(e.message, message);
    return true;
  });
}

function sameKey(a: KeyObject, b: KeyObject): void {
  assert.deepEqual(a.export({ format: 'jwk' }), b.export({ format: 'jwk' }));
}

const SEED = Uint8Array.from({ length: 32 }, (_, i) => i);

describe('Ed25519 private bytes (vector 3)', () => {
  const key = ed25519FromSeed(SEED);

  it('produces the 96-byte pub‖seed‖pub form of the spec', () => {
    const { keyType, bytes } = privateKeyToNotaryBytes(key);
    assert.equal(keyType, 'ed25519');
    assert.equal(b64(bytes),
      'A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbgAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHwOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4');
  });

  it('has the public key, key ID and deterministic signature of the spec', () => {
    assert.equal(b64(ed25519RawPublic(key)), 'A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=');
    assert.equal(b64(notaryPublicBytes(key)), 'A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=');
    assert.equal(keyId('ed25519', notaryPublicBytes(key)), 'b9fe8d4b54e73abb584e2015aaa447047e53282f491dcc70c40d2474d3096a21');
    const msg = Buffer.from('{"_type":"Timestamp","expires":"2030-01-01T00:00:00Z","meta":{},"version":1}');
    assert.equal(b64(sign(null, msg, key)), 'ng1OoulBV8Aa0YFUQtrvhTGuPdl+uyxlbXIixJf25bxJXMzOO8hdDASYUXCbpy3uJZubgi/jthAyfxInM4I1CQ==');
  });

  it('round-trips through the 96-byte form', () => {
    const back = privateKeyFromNotaryBytes('ed25519', privateKeyToNotaryBytes(key).bytes);
    sameKey(back, key);
  });

  it('refuses a malformed or inconsistent 96-byte form', () => {
    const bytes = privateKeyToNotaryBytes(key).bytes;
    throwsKey(() => privateKeyFromNotaryBytes('ed25519', bytes.subarray(0, 64)), 'INVALID_PRIVATE_KEY', 'malformed ed25519 private key');
    for (const at of [0, 95]) {
      const bad = Uint8Array.from(bytes);
      bad[at] = (bad[at] ?? 0) ^ 1;
      throwsKey(() => privateKeyFromNotaryBytes('ed25519', bad), 'INVALID_PRIVATE_KEY', 'ed25519 private key does not match its public key');
    }
    throwsKey(() => ed25519FromSeed(SEED.subarray(1)), 'INVALID_PRIVATE_KEY', 'ed25519 seed must be 32 bytes');
  });
});

describe('ECDSA private bytes (SEC1)', () => {
  it('writes Go\'s MarshalECPrivateKey layout for P-256 and P-384', () => {
    for (const [curve, size, oidHex] of [['P-256', 32, '06082a8648ce3d030107'], ['P-384', 48, '06052b81040022']] as const) {
      const key = generateKey('ecdsa', { curve });
      assert.equal(ecCurveOf(key).name, curve);
      const { keyType, bytes } = privateKeyToNotaryBytes(key);
      assert.equal(keyType, 'ecdsa');
      const r = readDerSequence(bytes);
      assert.equal(r.integer(), 1n);
      assert.equal(r.octetString().length, size);
      assert.equal(hex(r.read(0xa0).value), oidHex);
      const pub = new DerReader(r.read(0xa1).value).bitString();
      assert.equal(pub.length, 1 + 2 * size);
      assert.equal(pub[0], 4);
      r.end();
      sameKey(privateKeyFromNotaryBytes('ecdsa', bytes), key);
    }
  });

  it('defaults to P-256 with notary\'s SPKI prefix', () => {
    const key = generateKey('ecdsa');
    const spki = publicKeySpki(key);
    assert.equal(spki.length, 91);
    assert.ok(b64(spki).startsWith('MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE'));
    assert.deepEqual(publicKeySpki(createPublicKey(key)), spki);
    assert.deepEqual(notaryPublicBytes(key), spki);
  });

  // The SEC1 key inside vector 10 (docs/formats.md §13 vector 10).
  const VECTOR10_SEC1 = '307702010104207b4feea7d3b9259bbc7c17c2ad77bf01627dfec3c8da0999d6c9350ab4950c2fa00a06082a8648ce3d030107a1440342000470242ef085ee395c3c19b89296f54436398f99d750e3916d6a7c4346d19e9cbc5859db8406f84b51e288001d27ee03057d4cabd16c78b9c81feec8af27f5c49e';

  it('reads vector 10\'s SEC1 key and writes it back byte for byte', () => {
    const key = privateKeyFromNotaryBytes('ecdsa', unhex(VECTOR10_SEC1));
    assert.equal(b64(publicKeySpki(key)),
      'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEcCQu8IXuOVw8GbiSlvVENjmPmddQ45FtanxDRtGenLxYWduEBvhLUeKIAB0n7gMFfUyr0Wx4ucgf7sivJ/XEng==');
    assert.equal(hex(privateKeyToNotaryBytes(key).bytes), VECTOR10_SEC1);
    assert.equal(keyId('ecdsa', publicKeySpki(key)), '05e79ee41c17cc28d3aa3b5c25f3fa12c60bdd0f978539432ddf988c2725915c');
  });

  const P256 = '1.2.840.10045.3.1.7';
  const sec1 = (scalar: string, curve?: string, version = 1): Uint8Array => derSequence(
    derInteger(version), derOctetString(unhex(scalar)), ...(curve === undefined ? [] : [derExplicit(0, derOid(curve))]));

  it('accepts SEC1 without [0] and [1] when the curve is given, and short scalars', () => {
    const bare = sec1('7b4feea7d3b9259bbc7c17c2ad77bf01627dfec3c8da0999d6c9350ab4950c2f');
    assert.equal(hex(privateKeyToNotaryBytes(ecFromSec1(bare, P256)).bytes), VECTOR10_SEC1);
    throwsKey(() => privateKeyFromNotaryBytes('ecdsa', bare), 'INVALID_PRIVATE_KEY', 'EC private key names no curve');
    const small = privateKeyToNotaryBytes(privateKeyFromNotaryBytes('ecdsa', sec1('05', P256))).bytes;
    assert.equal(hex(small).slice(0, 78), '30770201010420' + '00'.repeat(31) + '05');
    const padded = privateKeyToNotaryBytes(privateKeyFromNotaryBytes('ecdsa', sec1('0000' + '11'.repeat(32), P256))).bytes;
    assert.equal(hex(padded).slice(0, 78), '30770201010420' + '11'.repeat(32));
  });

  it('refuses out-of-range scalars, mismatched public keys and curves', () => {
    const n = 'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551';
    for (const scalar of ['00'.repeat(32), '', n, '01' + '00'.repeat(32)]) {
      throwsKey(() => privateKeyFromNotaryBytes('ecdsa', sec1(scalar, P256)), 'INVALID_PRIVATE_KEY', 'invalid elliptic curve private key value');
    }
    const mismatched = unhex(VECTOR10_SEC1.slice(0, -2) + '9f');
    throwsKey(() => privateKeyFromNotaryBytes('ecdsa', mismatched), 'INVALID_PRIVATE_KEY', 'EC private key does not match its public key');
    throwsKey(() => privateKeyFromNotaryBytes('ecdsa', sec1('01', '1.3.132.0.35')), 'UNSUPPORTED_KEY_FORMAT', 'unsupported elliptic curve 1.3.132.0.35');
    throwsKey(() => ecFromSec1(unhex(VECTOR10_SEC1), '1.3.132.0.34'), 'INVALID_PRIVATE_KEY', 'EC private key curve does not match its algorithm parameters');
    throwsKey(() => privateKeyFromNotaryBytes('ecdsa', sec1('01', P256, 2)), 'INVALID_PRIVATE_KEY', 'unknown EC private key version');
    throwsKey(() => privateKeyFromNotaryBytes('ecdsa', unhex(VECTOR10_SEC1).subarray(0, 100)), 'INVALID_DER');
  });
});

describe('RSA private bytes (PKCS#1)', () => {
  const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

  it('round-trips a 2048-bit key through PKCS#1', () => {
    const { keyType, bytes } = privateKeyToNotaryBytes(rsa2048);
    assert.equal(keyType, 'rsa');
    assert.deepEqual(bytes, new Uint8Array(rsa2048.export({ type: 'pkcs1', format: 'der' })));
    sameKey(privateKeyFromNotaryBytes('rsa', bytes), rsa2048);
    assert.equal(b64(notaryPublicBytes(rsa2048)).slice(0, 24), 'MIIBIjANBgkqhkiG9w0BAQEF');
  });

  it('refuses keys under 2048 bits', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const bytes = new Uint8Array(small.export({ type: 'pkcs1', format: 'der' }));
    throwsKey(() => privateKeyFromNotaryBytes('rsa', bytes), 'KEY_TOO_SHORT', 'RSA keys must be at least 2048 bits, this one has 1024');
  });

  it('refuses inconsistent and multi-prime keys', () => {
    const r = readDerSequence(new Uint8Array(rsa2048.export({ type: 'pkcs1', format: 'der' })));
    const fields = Array.from({ length: 9 }, () => r.integer());
    const encode = (f: bigint[]): Uint8Array => derSequence(...f.map((x) => derInteger(x)));
    const badQ = [...fields];
    badQ[5] = (badQ[5] ?? 0n) + 2n;
    throwsKey(() => privateKeyFromNotaryBytes('rsa', encode(badQ)), 'INVALID_PRIVATE_KEY', 'inconsistent RSA private key');
    const multi = [1n, ...fields.slice(1)];
    throwsKey(() => privateKeyFromNotaryBytes('rsa', encode(multi)), 'UNSUPPORTED_KEY_FORMAT', 'only two-prime RSA keys are supported');
    throwsKey(() => privateKeyFromNotaryBytes('rsa', encode(fields.slice(0, 8))), 'INVALID_DER');
  });
});

describe('key generation and types', () => {
  it('generates ecdsa and ed25519, and refuses rsa with notary\'s message', () => {
    assert.equal(notaryKeyType(generateKey('ecdsa')), 'ecdsa');
    assert.equal(generateKey('ecdsa').asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(generateKey('ecdsa', { curve: 'P-384' }).asymmetricKeyDetails?.namedCurve, 'secp384r1');
    const ed = generateKey('ed25519');
    assert.equal(notaryKeyType(ed), 'ed25519');
    assert.equal(privateKeyToNotaryBytes(ed).bytes.length, 96);
    throwsKey(() => generateKey('rsa'), 'UNSUPPORTED_KEY_TYPE', 'rsa keys can only be imported');
  });

  it('refuses key types notary has no form for, and public keys where a private one is needed', () => {
    const x = generateKeyPairSync('x25519').privateKey;
    throwsKey(() => notaryKeyType(x), 'UNSUPPORTED_KEY_TYPE', 'unsupported key type x25519');
    throwsKey(() => privateKeyToNotaryBytes(createPublicKey(generateKey('ecdsa'))), 'UNSUPPORTED_KEY_TYPE', 'a private key is required');
    throwsKey(() => ed25519RawPublic(generateKey('ecdsa')), 'UNSUPPORTED_KEY_TYPE', 'not an ed25519 key');
  });
});

// Compact JWE (PBES2-HS256+A128KW / A256GCM) and AES key wrap: RFC vectors, a row written by the
// real Debian notary-signer 0.7.0 (vector 23), exact header bytes, and every refusal path.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pbkdf2Sync } from 'node:crypto';
import fc from 'fast-check';

import {
  JweError, MAX_P2C, aesKeyUnwrap, aesKeyWrap, decryptPbes2Jwe, decryptPbes2JweAsync, encryptPbes2Jwe,
  parseJweHeader,
} from '../../src/crypto/jwe.ts';
import { privateKeyFromNotaryBytes, publicKeySpki } from '../../src/crypto/private-keys.ts';
import { computeKeyId } from '../../src/tuf/keys.ts';
import { NOTARY_SIGNER_ROW } from '../signer/fixtures/notary-rows.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const b64u = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

function code(c: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof JweError, `expected JweError, got ${String(e)}`);
    assert.equal(e.code, c, e.message);
    return true;
  };
}

void describe('AES key wrap (RFC 3394)', () => {
  void test('§4.1: 128-bit key data with a 128-bit KEK', () => {
    const kek = hex('000102030405060708090A0B0C0D0E0F');
    const wrapped = aesKeyWrap(kek, hex('00112233445566778899AABBCCDDEEFF'));
    assert.equal(Buffer.from(wrapped).toString('hex'), '1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5');
    assert.deepEqual(Buffer.from(aesKeyUnwrap(kek, wrapped)), hex('00112233445566778899AABBCCDDEEFF'));
  });

  void test('§4.6: 256-bit key data with a 256-bit KEK', () => {
    const kek = hex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
    const data = hex('00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F');
    const wrapped = aesKeyWrap(kek, data);
    assert.equal(Buffer.from(wrapped).toString('hex'),
      '28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21');
    assert.deepEqual(Buffer.from(aesKeyUnwrap(kek, wrapped)), data);
  });

  void test('a wrong KEK or a flipped bit fails the integrity check', () => {
    const kek = hex('000102030405060708090A0B0C0D0E0F');
    const wrapped = aesKeyWrap(kek, hex('00112233445566778899AABBCCDDEEFF'));
    assert.throws(() => aesKeyUnwrap(hex('000102030405060708090A0B0C0D0E0E'), wrapped), code('JWE_DECRYPTION_FAILED'));
    const flipped = Uint8Array.from(wrapped);
    flipped[20] = flipped[20]! ^ 1;
    assert.throws(() => aesKeyUnwrap(kek, flipped), code('JWE_DECRYPTION_FAILED'));
    assert.throws(() => aesKeyUnwrap(kek, wrapped.subarray(0, 20)), code('MALFORMED_JWE'));
    assert.throws(() => aesKeyWrap(kek, new Uint8Array(12)), code('MALFORMED_JWE'));
  });

  void test('RFC 7517 appendix C: PBES2-HS256+A128KW key derivation and wrap of the CEK', () => {
    const cek = Uint8Array.from([111, 27, 25, 52, 66, 29, 20, 78, 92, 176, 56, 240, 65, 208, 82, 112,
      161, 131, 36, 55, 202, 236, 185, 172, 129, 23, 153, 194, 195, 48, 253, 182]);
    const salt = Buffer.concat([Buffer.from('PBES2-HS256+A128KW'), Buffer.from([0]),
      Buffer.from('2WCTcJZ1Rvd_CJuJripQ1w', 'base64url')]);
    const kek = pbkdf2Sync('Thus from my lips, by yours, my sin is purged.', salt, 4096, 16, 'sha256');
    assert.equal(b64u(aesKeyWrap(kek, cek)), 'TrqXOwuNUfDV9VPTNbyGvEJ9JMjefAVn-TR1uIxR9p6hsRQh9Tk7BA');
  });
});

void describe('vector 23: a private_keys row written by notary-signer', () => {
  const row = NOTARY_SIGNER_ROW;

  void test('five parts; header is sorted JSON with alg, enc, p2c 8192 and a 12-byte p2s', () => {
    const parts = row.private.split('.');
    assert.equal(parts.length, 5);
    const headerText = Buffer.from(parts[0]!, 'base64url').toString('utf8');
    assert.equal(headerText, '{"alg":"PBES2-HS256+A128KW","enc":"A256GCM","p2c":8192,"p2s":"87rGV6byvdCj9KGe"}');
    const header = parseJweHeader(row.private);
    assert.equal(header.p2c, 8192);
    assert.equal(header.p2s.length, 12);
    assert.deepEqual(parts.slice(1).map((p) => Buffer.from(p, 'base64url').length), [40, 12, 121, 16]);
  });

  void test('decrypts to SEC1 DER whose public key is the public column and whose ID is key_id', async () => {
    for (const plain of [decryptPbes2Jwe(row.private, row.passphrase), await decryptPbes2JweAsync(row.private, row.passphrase)]) {
      assert.equal(Buffer.from(plain.subarray(0, 2)).toString('hex'), '3077');
      const key = privateKeyFromNotaryBytes('ecdsa', plain);
      const spki = publicKeySpki(key);
      assert.equal(Buffer.from(spki).toString('hex'), row.publicHex);
      assert.equal(computeKeyId('ecdsa', spki), row.keyId);
    }
  });

  void test('a wrong passphrase is refused with a stable code', () => {
    assert.throws(() => decryptPbes2Jwe(row.private, 'vouch-signer-passphrasE'), code('JWE_DECRYPTION_FAILED'));
  });

  void test('a tampered ciphertext, tag or header fails authentication', () => {
    const parts = row.private.split('.');
    const flip = (i: number): string => {
      const b = Buffer.from(parts[i]!, 'base64url');
      b[0] = b[0]! ^ 0x01;
      return parts.map((p, j) => (j === i ? b64u(b) : p)).join('.');
    };
    for (const i of [1, 2, 3, 4]) assert.throws(() => decryptPbes2Jwe(flip(i), row.passphrase), code('JWE_DECRYPTION_FAILED'));
    // A header re-encoded with the same meaning changes the AAD.
    const spaced = b64u('{"alg":"PBES2-HS256+A128KW", "enc":"A256GCM","p2c":8192,"p2s":"87rGV6byvdCj9KGe"}');
    assert.throws(() => decryptPbes2Jwe([spaced, ...parts.slice(1)].join('.'), row.passphrase), code('JWE_DECRYPTION_FAILED'));
  });
});

void describe('encryptPbes2Jwe', () => {
  const salt = hex('000102030405060708090a0b');
  const iv = hex('a0a1a2a3a4a5a6a7a8a9aaab');
  const cek = hex('101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f');

  void test('writes jose2go\'s exact header and part sizes, and is deterministic with fixed randomness', () => {
    const a = encryptPbes2Jwe(Buffer.from('secret key bytes'), 'pw', { salt, iv, cek });
    const b = encryptPbes2Jwe(Buffer.from('secret key bytes'), 'pw', { salt, iv, cek });
    assert.equal(a, b);
    const parts = a.split('.');
    assert.equal(Buffer.from(parts[0]!, 'base64url').toString(),
      '{"alg":"PBES2-HS256+A128KW","enc":"A256GCM","p2c":8192,"p2s":"AAECAwQFBgcICQoL"}');
    assert.equal(parts[2], b64u(iv));
    assert.deepEqual(parts.slice(1).map((p) => Buffer.from(p, 'base64url').length), [40, 12, 16, 16]);
    assert.ok(parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p)), 'base64url without padding');
    assert.equal(Buffer.from(decryptPbes2Jwe(a, 'pw')).toString(), 'secret key bytes');
  });

  void test('fresh salt, IV and CEK per call', () => {
    const a = encryptPbes2Jwe(Buffer.from('x'), 'pw').split('.');
    const b = encryptPbes2Jwe(Buffer.from('x'), 'pw').split('.');
    for (const i of [0, 1, 2]) assert.notEqual(a[i], b[i]);
  });

  void test('round-trips arbitrary plaintexts and passphrases', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.string({ maxLength: 40 }), (plain, pass) => {
      const token = encryptPbes2Jwe(plain, pass, { iterations: 1000 });
      assert.deepEqual(Buffer.from(decryptPbes2Jwe(token, pass)), Buffer.from(plain));
    }), { numRuns: 25 });
  });
});

void describe('refusals', () => {
  const good = encryptPbes2Jwe(Buffer.from('k'), 'pw', { iterations: 1000 });
  const parts = good.split('.');
  const withHeader = (h: string): string => [b64u(h), ...parts.slice(1)].join('.');

  void test('p2c above the cap is refused before any key derivation (< 100 ms)', () => {
    const started = performance.now();
    assert.throws(() => decryptPbes2Jwe(withHeader(`{"alg":"PBES2-HS256+A128KW","enc":"A256GCM","p2c":${MAX_P2C + 1},"p2s":"AAECAwQFBgcICQoL"}`), 'pw'),
      code('JWE_PARAMS_OUT_OF_RANGE'));
    assert.throws(() => decryptPbes2Jwe(withHeader('{"alg":"PBES2-HS256+A128KW","enc":"A256GCM","p2c":2147483647000,"p2s":"AAECAwQFBgcICQoL"}'), 'pw'),
      code('JWE_PARAMS_OUT_OF_RANGE'));
    assert.ok(performance.now() - started < 100);
    assert.throws(() => decryptPbes2Jwe(withHeader('{"alg":"PBES2-HS256+A128KW","enc":"A256GCM","p2c":1.5,"p2s":"AAECAwQFBgcICQoL"}'), 'pw'),
      code('JWE_PARAMS_OUT_OF_RANGE'));
    assert.throws(() => decryptPbes2Jwe(withHeader('{"alg":"PBES2-HS256+A128KW","enc":"A256GCM","p2c":10,"p2s":"AAECAwQFBgcICQoL"}'), 'pw'),
      code('JWE_PARAMS_OUT_OF_RANGE'));
    assert.throws(() => encryptPbes2Jwe(Buffer.from('k'), 'pw', { iterations: MAX_P2C + 1 }), code('JWE_PARAMS_OUT_OF_RANGE'));
  });

  void test('other algorithms, compression and broken headers', () => {
    const cases: [string, string][] = [
      ['{"alg":"PBES2-HS512+A256KW","enc":"A256GCM","p2c":8192,"p2s":"AAECAwQFBgcICQoL"}', 'UNSUPPORTED_JWE'],
      ['{"alg":"dir","enc":"A256GCM"}', 'UNSUPPORTED_JWE'],
      ['{"alg":"PBES2-HS256+A128KW","enc":"A128CBC-HS256","p2c":8192,"p2s":"AAECAwQFBgcICQoL"}', 'UNSUPPORTED_JWE'],
      ['{"alg":"PBES2-HS256+A128KW","enc":"A256GCM","zip":"DEF","p2c":8192,"p2s":"AAECAwQFBgcICQoL"}', 'UNSUPPORTED_JWE'],
      ['{"alg":"PBES2-HS256+A128KW","enc":"A256GCM","p2c":"8192","p2s":"AAECAwQFBgcICQoL"}', 'MALFORMED_JWE'],
      ['{"alg":"PBES2-HS256+A128KW","enc":"A256GCM","p2c":8192}', 'MALFORMED_JWE'],
      ['{"alg":"PBES2-HS256+A128KW","enc":"A256GCM","p2c":8192,"p2s":"AAEC"}', 'JWE_PARAMS_OUT_OF_RANGE'],
      ['{"alg":"PBES2-HS256+A128KW","enc":"A256GCM","p2c":8192,"p2s":"AA+C/AQFBgcICQoL"}', 'MALFORMED_JWE'],
      ['[1,2]', 'MALFORMED_JWE'],
      ['not json', 'MALFORMED_JWE'],
    ];
    for (const [header, want] of cases) assert.throws(() => decryptPbes2Jwe(withHeader(header), 'pw'), code(want), header);
  });

  void test('wrong part counts, non-base64url parts, wrong sizes and oversized tokens', () => {
    assert.throws(() => decryptPbes2Jwe(parts.slice(0, 4).join('.'), 'pw'), code('MALFORMED_JWE'));
    assert.throws(() => decryptPbes2Jwe(`${good}.x`, 'pw'), code('MALFORMED_JWE'));
    assert.throws(() => decryptPbes2Jwe(parts.map((p, i) => (i === 3 ? `${p}=` : p)).join('.'), 'pw'), code('MALFORMED_JWE'));
    assert.throws(() => decryptPbes2Jwe(parts.map((p, i) => (i === 2 ? b64u(Buffer.alloc(16)) : p)).join('.'), 'pw'), code('MALFORMED_JWE'));
    assert.throws(() => decryptPbes2Jwe(parts.map((p, i) => (i === 1 ? b64u(Buffer.alloc(32)) : p)).join('.'), 'pw'), code('MALFORMED_JWE'));
    assert.throws(() => decryptPbes2Jwe(parts.map((p, i) => (i === 4 ? b64u(Buffer.alloc(12)) : p)).join('.'), 'pw'), code('MALFORMED_JWE'));
    assert.throws(() => decryptPbes2Jwe('a'.repeat(70_000), 'pw'), code('MALFORMED_JWE'));
    assert.throws(() => decryptPbes2Jwe('', 'pw'), code('MALFORMED_JWE'));
  });
});

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCipheriv, createHash, type KeyObject } from 'node:crypto';
import { generateKeyPairSync } from '../helpers/keys.ts';
import fc from 'fast-check';
import { canonicalBytes } from '../../src/tuf/canonical.ts';
import { VouchError } from '../../src/errors.ts';
import { decodeFirstPem, encodePem, type PemBlock } from '../../src/crypto/pem.ts';
import { derInteger, derNull, derOctetString, derOid, derSequence } from '../../src/crypto/der.ts';
import {
  ed25519FromSeed, generateKey, notaryKeyType, notaryPublicBytes, privateKeyToNotaryBytes, publicKeySpki,
} from '../../src/crypto/private-keys.ts';
import {
  MAX_PBKDF2_ITERATIONS, VOUCH_PBKDF2_ITERATIONS, decryptPkcs8, encryptPkcs8, pkcs8Parameters, privateKeyFromPkcs8,
  privateKeyToPkcs8,
} from '../../src/crypto/pkcs8.ts';
import { isEncryptedPrivateKeyPem, readPrivateKeyPem, writeEncryptedPrivateKeyPem } from '../../src/crypto/private-key-pem.ts';
import { NOTARY_COMPAT } from '../helpers/fixtures.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

function keyId(key: KeyObject): string {
  const body = { keytype: notaryKeyType(key), keyval: { private: null, public: b64(notaryPublicBytes(key)) } };
  return createHash('sha256').update(canonicalBytes(body)).digest('hex');
}

function throwsCode(f: () => unknown, code: string, message?: string | RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof VouchError, `expected a VouchError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message !== undefined) assert.match(e.message, message);
    return true;
  });
}

function sameKey(a: KeyObject, b: KeyObject): void {
  assert.deepEqual(a.export({ format: 'jwk' }), b.export({ format: 'jwk' }));
}

const work = mkdtempSync(join(tmpdir(), 'vouch-pkcs8-'));
after(() => rmSync(work, { recursive: true, force: true }));

function openssl(args: string[], input?: Uint8Array): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync('/usr/bin/openssl', args, { input, maxBuffer: 1 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

const VECTOR10 = `-----BEGIN ENCRYPTED PRIVATE KEY-----
role: root

MIHuMEkGCSqGSIb3DQEFDTA8MBsGCSqGSIb3DQEFDDAOBAjVykn7ahTfewICCAAw
HQYJYIZIAWUDBAEqBBDCjj/jsgOqFIRYZXjyjV0ABIGgoC6jVul3phJNhEbkUXGS
5g6SL8Al0b3LAiYzbwkXRknZWBzAZLE8qXWSMKWMkZGyxb7v8ALoxXrvQTCRmcBv
w6GHRuSRFQnl9WwmNOqDK/Hq0Z5UloSU8dmABafkC6XXfsoKosYKMhIgv2ss++fC
kPdHzjFhjdYtSKYMRlMATCendSpzZF0e/maZjRzs94UzcvOSJRljGHiLtKH+QS+v
aw==
-----END ENCRYPTED PRIVATE KEY-----
`;
const V10_SPKI = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEcCQu8IXuOVw8GbiSlvVENjmPmddQ45FtanxDRtGenLxYWduEBvhLUeKIAB0n7gMFfUyr0Wx4ucgf7sivJ/XEng==';
const v10 = decodeFirstPem(VECTOR10);

describe('vector 10: notary 0.7 encrypted PKCS#8', () => {
  it('reports the encryption parameters', () => {
    const p = pkcs8Parameters(v10.bytes);
    assert.equal(hex(p.salt), 'd5ca49fb6a14df7b');
    assert.equal(p.iterations, 2048);
    assert.equal(hex(p.iv), 'c28e3fe3b203aa1484586578f28d5d00');
    assert.equal(p.cipher, 'aes-256-cbc');
    assert.equal(p.prf, 'sha1');
    assert.equal(p.ciphertext.length, 160);
  });

  it('decrypts to the EC version-1 PrivateKeyInfo with the spec\'s scalar, SPKI and key ID', () => {
    const plain = decryptPkcs8(v10.bytes, 'rootpass123');
    assert.ok(hex(plain).startsWith('308193020101301306072a8648ce3d0201'));
    const key = readPrivateKeyPem(v10, 'rootpass123');
    assert.equal(hex(privateKeyToNotaryBytes(key).bytes).slice(14, 78), '7b4feea7d3b9259bbc7c17c2ad77bf01627dfec3c8da0999d6c9350ab4950c2f');
    assert.equal(b64(publicKeySpki(key)), V10_SPKI);
    assert.equal(keyId(key), '05e79ee41c17cc28d3aa3b5c25f3fa12c60bdd0f978539432ddf988c2725915c');
  });

  it('is reproduced byte for byte by the writer given the same salt, IV and count', () => {
    const key = readPrivateKeyPem(v10, 'rootpass123');
    assert.deepEqual(privateKeyToPkcs8(key), decryptPkcs8(v10.bytes, 'rootpass123'));
    const text = writeEncryptedPrivateKeyPem(key, 'rootpass123', { role: 'root' }, {
      iterations: 2048, salt: unhex('d5ca49fb6a14df7b'), iv: unhex('c28e3fe3b203aa1484586578f28d5d00'),
    });
    assert.equal(text, VECTOR10);
  });

  it('refuses a wrong passphrase with notary\'s message', () => {
    throwsCode(() => readPrivateKeyPem(v10, 'rootpass124'), 'INCORRECT_PASSPHRASE', 'pkcs8: incorrect password');
    throwsCode(() => readPrivateKeyPem(v10, ''), 'INCORRECT_PASSPHRASE', 'pkcs8: incorrect password');
    throwsCode(() => readPrivateKeyPem(v10, undefined), 'PASSPHRASE_REQUIRED');
    assert.equal(isEncryptedPrivateKeyPem(v10), true);
  });
});

const FIXTURES = NOTARY_COMPAT;

function keyFiles(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? keyFiles(p) : p.endsWith('.key') ? [p] : [];
  });
}

describe('vector 11 and the notary 0.1 / 0.3 fixtures: legacy encrypted PEM', () => {
  it('decrypts the notary 0.1 root key to its key ID', () => {
    const block = decodeFirstPem(readFileSync(`${FIXTURES}/notary0.1/private/root_keys/d0c623c8e70c70d42a8a8125c44a8598588b3f6e31d5c21a83cbc338dfde8a68_root.key`, 'utf8'));
    assert.equal(block.type, 'EC PRIVATE KEY');
    assert.equal(isEncryptedPrivateKeyPem(block), true);
    assert.equal(keyId(readPrivateKeyPem(block, 'randompass')), 'd0c623c8e70c70d42a8a8125c44a8598588b3f6e31d5c21a83cbc338dfde8a68');
    throwsCode(() => readPrivateKeyPem(block, 'wrongpass'), 'INCORRECT_PASSPHRASE', 'could not decrypt private key');
  });

  // The notary 0.3 keys are encrypted with "password", not "randompass": upstream's
  // Test0Dot3RepoFormat uses "password", and OpenSSL agrees (the fixture README is wrong).
  const cases = [
    ['notary0.1', 'randompass', 3],
    ['notary0.3', 'password', 4],
  ] as const;
  for (const [dir, passphrase, count] of cases) {
    it(`decrypts every ${dir} key, named by its key ID`, () => {
      const files = keyFiles(`${FIXTURES}/${dir}/private`);
      assert.equal(files.length, count);
      const types = new Set<string>();
      for (const f of files) {
        const key = readPrivateKeyPem(decodeFirstPem(readFileSync(f, 'utf8')), passphrase);
        types.add(notaryKeyType(key));
        const name = f.split('/').pop() ?? '';
        assert.equal(keyId(key), name.slice(0, 64), f);
      }
      assert.deepEqual([...types].sort(), dir === 'notary0.3' ? ['ecdsa', 'rsa'] : ['ecdsa']);
    });
  }

  it('reports a wrong passphrase on the 0.3 RSA key', () => {
    const block = decodeFirstPem(readFileSync(`${FIXTURES}/notary0.3/private/tuf_keys/fa842f66cac2dc898677a8660789dcff0e3b0b93b73f8952491f6493199936d3.key`, 'utf8'));
    assert.equal(block.headers['role'], 'targets/releases');
    throwsCode(() => readPrivateKeyPem(block, 'randompass'), 'INCORRECT_PASSPHRASE', 'could not decrypt private key');
  });
});

describe('writing and reading encrypted PKCS#8', () => {
  const keys: [string, KeyObject][] = [
    ['ecdsa P-256', generateKey('ecdsa')],
    ['ed25519', generateKey('ed25519')],
    ['rsa 2048', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey],
  ];
  for (const [name, key] of keys) {
    it(`round-trips ${name} with the default iteration count`, () => {
      const text = writeEncryptedPrivateKeyPem(key, 'correct horse', { role: 'targets', gun: 'example.com/foo' });
      assert.match(text, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\ngun: example\.com\/foo\nrole: targets\n\n/);
      const block = decodeFirstPem(text);
      const p = pkcs8Parameters(block.bytes);
      assert.equal(p.iterations, VOUCH_PBKDF2_ITERATIONS);
      assert.equal(p.salt.length, 8);
      assert.equal(p.iv.length, 16);
      assert.equal(p.cipher, 'aes-256-cbc');
      sameKey(readPrivateKeyPem(block, 'correct horse'), key);
      throwsCode(() => readPrivateKeyPem(block, 'correct horse!'), 'INCORRECT_PASSPHRASE', 'pkcs8: incorrect password');
    });
  }

  it('writes plaintext exactly as notary: EC v1 with curve, RSA v0 without NULL, Ed25519 v0 with notary\'s OID', () => {
    assert.ok(hex(privateKeyToPkcs8(keys[0]![1])).startsWith('308193020101301306072a8648ce3d020106082a8648ce3d03010704793077'));
    assert.match(hex(privateKeyToPkcs8(keys[2]![1])), /^308204..020100300b06092a864886f70d01010104820/);
    const ed = ed25519FromSeed(Uint8Array.from({ length: 32 }, (_, i) => i));
    assert.equal(hex(privateKeyToPkcs8(ed)), '3072020100300b06092b06010401da470f010460' + hex(privateKeyToNotaryBytes(ed).bytes));
  });

  it('decrypts with OpenSSL, whose asn1parse shows PBES2/PBKDF2/AES-256-CBC and no PRF', () => {
    for (const [name, key] of [keys[0]!, keys[2]!]) {
      const text = writeEncryptedPrivateKeyPem(key, 'pass word', { role: 'root' }, { iterations: 2048 });
      // OpenSSL refuses PEM headers such as notary's `role:`, so hand it the bare block.
      const file = join(work, `${name.replace(/ /g, '-')}.pem`);
      writeFileSync(file, encodePem({ type: 'ENCRYPTED PRIVATE KEY', bytes: decodeFirstPem(text).bytes }));
      const dec = openssl(['pkcs8', '-in', file, '-passin', 'pass:pass word']);
      assert.equal(dec.status, 0, dec.stderr);
      const out8 = decodeFirstPem(dec.stdout.toString());
      assert.equal(out8.type, 'PRIVATE KEY');
      sameKey(privateKeyFromPkcs8(out8.bytes), key);
      const wrong = openssl(['pkcs8', '-in', file, '-passin', 'pass:pass-word']);
      assert.notEqual(wrong.status, 0);
      const asn = openssl(['asn1parse', '-in', file]);
      assert.equal(asn.status, 0, asn.stderr);
      const out = asn.stdout.toString();
      for (const want of [':PBES2', ':PBKDF2', ':aes-256-cbc', 'INTEGER           :0800']) assert.ok(out.includes(want), `${want} in\n${out}`);
      assert.doesNotMatch(out, /hmacWith/);
      assert.equal((out.match(/OBJECT/g) ?? []).length, 3);
    }
  });

  it('is decrypted by an independent PBKDF2-HMAC-SHA1 + AES-256-CBC (OpenSSL kdf/enc) for Ed25519', () => {
    const key = generateKey('ed25519');
    const der = decodeFirstPem(writeEncryptedPrivateKeyPem(key, 'pw', { role: 'targets/releases' }, { iterations: 1000 })).bytes;
    const p = pkcs8Parameters(der);
    const kdf = openssl(['kdf', '-keylen', '32', '-kdfopt', 'digest:SHA1', '-kdfopt', 'pass:pw', '-kdfopt', `hexsalt:${hex(p.salt)}`, '-kdfopt', 'iter:1000', 'PBKDF2']);
    assert.equal(kdf.status, 0, kdf.stderr);
    const aesKey = kdf.stdout.toString().trim().replace(/:/g, '');
    const enc = openssl(['enc', '-d', '-aes-256-cbc', '-K', aesKey, '-iv', hex(p.iv)], p.ciphertext);
    assert.equal(enc.status, 0, enc.stderr);
    assert.deepEqual(new Uint8Array(enc.stdout), privateKeyToPkcs8(key));
  });

  it('writes an unencrypted PRIVATE KEY block for an empty passphrase', () => {
    const key = keys[1]![1];
    const text = writeEncryptedPrivateKeyPem(key, '', { role: 'delegation', gun: '' });
    const block = decodeFirstPem(text);
    assert.equal(block.type, 'PRIVATE KEY');
    assert.deepEqual(block.headers, { role: 'delegation' });
    assert.deepEqual(block.bytes, privateKeyToPkcs8(key));
    assert.equal(isEncryptedPrivateKeyPem(block), false);
    sameKey(readPrivateKeyPem(block, undefined), key);
  });

  it('writes export-bundle headers in Go\'s order and refuses headers that would break the PEM', () => {
    const text = writeEncryptedPrivateKeyPem(keys[0]![1], 'pw', { role: 'root', path: '05e79ee4' }, { iterations: 1 });
    assert.match(text, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\npath: 05e79ee4\nrole: root\n\n/);
    for (const role of ['', 'a\nb', 'x\r', ' root']) {
      throwsCode(() => writeEncryptedPrivateKeyPem(keys[0]![1], 'pw', { role }), 'INVALID_PEM_HEADER');
    }
  });

  it('refuses bad writer options', () => {
    const plain = privateKeyToPkcs8(keys[0]![1]);
    throwsCode(() => encryptPkcs8(plain, 'pw', { iterations: 0 }), 'INVALID_PRIVATE_KEY');
    throwsCode(() => encryptPkcs8(plain, 'pw', { iterations: MAX_PBKDF2_ITERATIONS + 1 }), 'INVALID_PRIVATE_KEY');
    throwsCode(() => encryptPkcs8(plain, 'pw', { salt: new Uint8Array(4) }), 'INVALID_PRIVATE_KEY');
    throwsCode(() => encryptPkcs8(plain, 'pw', { iv: new Uint8Array(8) }), 'INVALID_PRIVATE_KEY');
  });

  it('measures unlocking at the default iteration count (reported, not asserted)', (t) => {
    const block = decodeFirstPem(writeEncryptedPrivateKeyPem(keys[0]![1], 'pw', { role: 'root' }));
    const start = process.hrtime.bigint();
    readPrivateKeyPem(block, 'pw');
    t.diagnostic(`unlock with ${VOUCH_PBKDF2_ITERATIONS} PBKDF2-HMAC-SHA1 iterations: ${Number(process.hrtime.bigint() - start) / 1e6} ms`);
  });
});

describe('reading what other tools write', () => {
  it('reads OpenSSL/Node PBES2 with hmacWithSHA256 and AES-128/192-CBC', () => {
    const key = generateKey('ecdsa');
    for (const cipher of ['aes-128-cbc', 'aes-192-cbc', 'aes-256-cbc'] as const) {
      const pem = key.export({ type: 'pkcs8', format: 'pem', cipher, passphrase: 'pw' });
      const block = decodeFirstPem(pem.toString());
      const p = pkcs8Parameters(block.bytes);
      assert.equal(p.cipher, cipher);
      assert.equal(p.prf, 'sha256');
      sameKey(readPrivateKeyPem(block, 'pw'), key);
      throwsCode(() => readPrivateKeyPem(block, 'wrong'), 'INCORRECT_PASSPHRASE', 'pkcs8: incorrect password');
    }
  });

  it('reads standard unencrypted PKCS#8 for EC, RSA (with NULL) and RFC 8410 Ed25519', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    for (const key of [generateKey('ecdsa', { curve: 'P-384' }), rsa, generateKey('ed25519')]) {
      const block = decodeFirstPem(key.export({ type: 'pkcs8', format: 'pem' }).toString());
      assert.equal(block.type, 'PRIVATE KEY');
      sameKey(readPrivateKeyPem(block, 'ignored'), key);
    }
  });

  it('reads legacy SEC1 / PKCS#1 PEM encrypted with AES-128/192/256-CBC and DES-EDE3-CBC', () => {
    const ec = generateKey('ecdsa');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    for (const cipher of ['aes-128-cbc', 'aes-192-cbc', 'aes-256-cbc', 'des-ede3-cbc']) {
      for (const [key, type] of [[ec, 'sec1'], [rsa, 'pkcs1']] as const) {
        const block = decodeFirstPem(key.export({ type, format: 'pem', cipher, passphrase: 'pw' }).toString());
        assert.equal(block.headers['DEK-Info']?.split(',')[0], cipher.toUpperCase());
        sameKey(readPrivateKeyPem(block, 'pw'), key);
      }
    }
    sameKey(readPrivateKeyPem(decodeFirstPem(ec.export({ type: 'sec1', format: 'pem' }).toString()), undefined), ec);
  });

  it('reads legacy ED25519 PRIVATE KEY blocks, plain and RFC 1423 encrypted', () => {
    const key = generateKey('ed25519');
    const bytes = privateKeyToNotaryBytes(key).bytes;
    sameKey(readPrivateKeyPem({ type: 'ED25519 PRIVATE KEY', headers: { role: 'root' }, bytes }, undefined), key);
    const iv = unhex('00112233445566778899aabbccddeeff');
    const md5 = (...parts: Uint8Array[]): Buffer => createHash('md5').update(Buffer.concat(parts)).digest();
    const d1 = md5(Buffer.from('pw'), iv.subarray(0, 8));
    const aesKey = Buffer.concat([d1, md5(d1, Buffer.from('pw'), iv.subarray(0, 8))]);
    const c = createCipheriv('aes-256-cbc', aesKey, iv);
    const block: PemBlock = {
      type: 'ED25519 PRIVATE KEY',
      headers: { 'Proc-Type': '4,ENCRYPTED', 'DEK-Info': `AES-256-CBC,${hex(iv).toUpperCase()}`, role: 'root' },
      bytes: new Uint8Array(Buffer.concat([c.update(bytes), c.final()])),
    };
    sameKey(readPrivateKeyPem(block, 'pw'), key);
    throwsCode(() => readPrivateKeyPem(block, 'pw2'), 'INCORRECT_PASSPHRASE', 'could not decrypt private key');
    throwsCode(() => readPrivateKeyPem(block, undefined), 'PASSPHRASE_REQUIRED');
  });

  it('refuses unsupported legacy encryption and unknown block types', () => {
    const base = { type: 'EC PRIVATE KEY', bytes: new Uint8Array(16) };
    throwsCode(() => readPrivateKeyPem({ ...base, headers: { 'Proc-Type': '4,ENCRYPTED', 'DEK-Info': 'DES-CBC,0011223344556677' } }, 'pw'),
      'UNSUPPORTED_KEY_FORMAT', 'unsupported PEM cipher "DES-CBC"; supported: AES-128-CBC, AES-192-CBC, AES-256-CBC, DES-EDE3-CBC');
    throwsCode(() => readPrivateKeyPem({ ...base, headers: { 'Proc-Type': '4,ENCRYPTED', 'DEK-Info': '__proto__,0011223344556677' } }, 'pw'),
      'UNSUPPORTED_KEY_FORMAT', 'unsupported PEM cipher "__proto__"; supported: AES-128-CBC, AES-192-CBC, AES-256-CBC, DES-EDE3-CBC');
    throwsCode(() => readPrivateKeyPem({ ...base, headers: { 'Proc-Type': '4,MIC-ONLY', 'DEK-Info': 'AES-256-CBC,00' } }, 'pw'),
      'UNSUPPORTED_KEY_FORMAT', 'unsupported PEM Proc-Type "4,MIC-ONLY"');
    throwsCode(() => readPrivateKeyPem({ ...base, headers: { 'Proc-Type': '4,ENCRYPTED', 'DEK-Info': 'AES-256-CBC,0011' } }, 'pw'),
      'INVALID_PRIVATE_KEY', 'PEM DEK-Info IV must be 16 bytes of hex');
    throwsCode(() => readPrivateKeyPem({ ...base, bytes: new Uint8Array(15), headers: { 'Proc-Type': '4,ENCRYPTED', 'DEK-Info': `AES-256-CBC,${'00'.repeat(16)}` } }, 'pw'),
      'INVALID_PRIVATE_KEY', 'encrypted PEM data is not a whole number of cipher blocks');
    throwsCode(() => readPrivateKeyPem({ type: 'CERTIFICATE', headers: {}, bytes: new Uint8Array(4) }, 'pw'),
      'UNSUPPORTED_KEY_FORMAT', 'unsupported key type "CERTIFICATE"');
    throwsCode(() => readPrivateKeyPem({ type: 'DSA PRIVATE KEY', headers: {}, bytes: new Uint8Array(4) }, 'pw'),
      'UNSUPPORTED_KEY_FORMAT', 'unsupported key type "DSA PRIVATE KEY"');
  });
});

/** An EncryptedPrivateKeyInfo with chosen pieces, for the refusal tests. */
function encrypted(o: { alg?: string; kdf?: string; salt?: Uint8Array; iter?: number; extra?: Uint8Array[]; cipher?: string; iv?: Uint8Array; data?: Uint8Array }): Uint8Array {
  const kdfParams = derSequence(derOctetString(o.salt ?? new Uint8Array(8)), derInteger(o.iter ?? 2048), ...(o.extra ?? []));
  return derSequence(
    derSequence(derOid(o.alg ?? '1.2.840.113549.1.5.13'), derSequence(
      derSequence(derOid(o.kdf ?? '1.2.840.113549.1.5.12'), kdfParams),
      derSequence(derOid(o.cipher ?? '2.16.840.1.101.3.4.1.42'), derOctetString(o.iv ?? new Uint8Array(16))),
    )),
    derOctetString(o.data ?? new Uint8Array(32)),
  );
}

describe('refusing bad encrypted PKCS#8', () => {
  it('names unsupported algorithms', () => {
    throwsCode(() => decryptPkcs8(encrypted({ alg: '1.2.840.113549.1.5.3' }), 'pw'), 'UNSUPPORTED_KEY_FORMAT', 'pkcs8: only PBES2 supported, found algorithm 1.2.840.113549.1.5.3');
    throwsCode(() => decryptPkcs8(encrypted({ kdf: '1.3.6.1.4.1.11591.4.11' }), 'pw'), 'UNSUPPORTED_KEY_FORMAT', 'pkcs8: only PBKDF2 supported, found key derivation 1.3.6.1.4.1.11591.4.11');
    throwsCode(() => decryptPkcs8(encrypted({ cipher: '1.2.840.113549.3.7' }), 'pw'), 'UNSUPPORTED_KEY_FORMAT', 'pkcs8: unsupported cipher 1.2.840.113549.3.7, only AES-128/192/256-CBC');
    throwsCode(() => decryptPkcs8(encrypted({ extra: [derSequence(derOid('1.2.840.113549.2.11'), derNull())] }), 'pw'), 'UNSUPPORTED_KEY_FORMAT', 'pkcs8: unsupported PBKDF2 PRF 1.2.840.113549.2.11');
  });

  it('caps the iteration count before deriving anything', () => {
    const start = process.hrtime.bigint();
    throwsCode(() => decryptPkcs8(encrypted({ iter: MAX_PBKDF2_ITERATIONS + 1 }), 'pw'), 'UNSUPPORTED_KEY_FORMAT', 'pkcs8: PBKDF2 iteration count 10000001 exceeds the limit of 10000000');
    throwsCode(() => decryptPkcs8(encrypted({ iter: 2 ** 62 }), 'pw'), 'UNSUPPORTED_KEY_FORMAT', /exceeds the limit/);
    assert.ok(process.hrtime.bigint() - start < 1_000_000_000n);
    throwsCode(() => decryptPkcs8(encrypted({ iter: 0 }), 'pw'), 'INVALID_PRIVATE_KEY', 'pkcs8: PBKDF2 iteration count must be positive');
  });

  it('refuses wrong salt, IV, key-length and ciphertext sizes', () => {
    throwsCode(() => pkcs8Parameters(encrypted({ salt: new Uint8Array(4) })), 'INVALID_PRIVATE_KEY', 'pkcs8: PBKDF2 salt must be 8 to 64 bytes, found 4');
    throwsCode(() => pkcs8Parameters(encrypted({ salt: new Uint8Array(65) })), 'INVALID_PRIVATE_KEY', 'pkcs8: PBKDF2 salt must be 8 to 64 bytes, found 65');
    throwsCode(() => pkcs8Parameters(encrypted({ iv: new Uint8Array(8) })), 'INVALID_PRIVATE_KEY', 'pkcs8: IV must be 16 bytes, found 8');
    throwsCode(() => pkcs8Parameters(encrypted({ extra: [derInteger(16)] })), 'INVALID_PRIVATE_KEY', 'pkcs8: PBKDF2 key length 16 does not match aes-256-cbc');
    throwsCode(() => pkcs8Parameters(encrypted({ data: new Uint8Array(17) })), 'INVALID_PRIVATE_KEY', 'pkcs8: encrypted data is not a whole number of cipher blocks');
    throwsCode(() => pkcs8Parameters(encrypted({ data: new Uint8Array(0) })), 'INVALID_PRIVATE_KEY', 'pkcs8: encrypted data is not a whole number of cipher blocks');
    assert.equal(pkcs8Parameters(encrypted({ extra: [derInteger(32)] })).iterations, 2048);
  });

  it('refuses truncated, oversized and corrupt input with typed errors', () => {
    throwsCode(() => decryptPkcs8(v10.bytes.subarray(0, v10.bytes.length - 1), 'rootpass123'), 'INVALID_DER');
    throwsCode(() => decryptPkcs8(new Uint8Array(70 * 1024), 'rootpass123'), 'INVALID_DER', 'pkcs8 EncryptedPrivateKeyInfo: 71680 bytes exceeds the 65536-byte limit');
    throwsCode(() => decodeFirstPem(VECTOR10.slice(0, 200)), 'INVALID_PEM');
    throwsCode(() => readPrivateKeyPem({ type: 'PRIVATE KEY', headers: {}, bytes: new Uint8Array([0x30, 0x03, 0x02, 0x01]) }, undefined), 'INVALID_DER');
    const unknownAlg = derSequence(derInteger(0), derSequence(derOid('1.2.840.10040.4.1')), derOctetString(new Uint8Array(4)));
    throwsCode(() => privateKeyFromPkcs8(unknownAlg), 'UNSUPPORTED_KEY_FORMAT', 'pkcs8: unsupported private key algorithm 1.2.840.10040.4.1');
    const v2 = derSequence(derInteger(2), derSequence(derOid('1.3.101.112')), derOctetString(new Uint8Array(34)));
    throwsCode(() => privateKeyFromPkcs8(v2), 'INVALID_DER', 'pkcs8 PrivateKeyInfo: unknown version 2');
  });

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }),
  );
  type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

  function mutate(base: Uint8Array, ms: Mutation[]): Uint8Array {
    let b = Uint8Array.from(base);
    for (const m of ms) {
      const at = m.at % (b.length + 1);
      if (m.kind === 'flip' && at < b.length) b[at] = (b[at] ?? 0) ^ (1 << m.bit);
      else if (m.kind === 'set' && at < b.length) b[at] = m.value;
      else if (m.kind === 'cut') b = b.subarray(0, at);
      else if (m.kind === 'insert') b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
      else if (m.kind === 'delete') b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.n)]);
    }
    return b;
  }

  function keyOrVouchError(block: PemBlock, passphrase: string): void {
    try {
      assert.equal(readPrivateKeyPem(block, passphrase).type, 'private');
    } catch (e) {
      assert.ok(e instanceof VouchError, `not a VouchError: ${String(e)}`);
    }
  }

  it('only ever yields a key or a VouchError for mutated encrypted DER (property)', () => {
    fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
      keyOrVouchError({ type: 'ENCRYPTED PRIVATE KEY', headers: {}, bytes: mutate(v10.bytes, ms) }, 'rootpass123');
    }), { numRuns: 600 });
  });

  it('only ever yields a key or a VouchError for mutated plaintext keys of every kind (property)', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const ec = generateKey('ecdsa');
    const bases: PemBlock[] = [
      { type: 'PRIVATE KEY', headers: {}, bytes: privateKeyToPkcs8(ec) },
      { type: 'PRIVATE KEY', headers: {}, bytes: privateKeyToPkcs8(generateKey('ed25519')) },
      { type: 'PRIVATE KEY', headers: {}, bytes: new Uint8Array(generateKey('ed25519').export({ type: 'pkcs8', format: 'der' })) },
      { type: 'PRIVATE KEY', headers: {}, bytes: privateKeyToPkcs8(rsa) },
      { type: 'EC PRIVATE KEY', headers: {}, bytes: privateKeyToNotaryBytes(ec).bytes },
      { type: 'RSA PRIVATE KEY', headers: {}, bytes: privateKeyToNotaryBytes(rsa).bytes },
    ];
    fc.assert(fc.property(fc.nat(bases.length - 1), fc.array(mutation, { minLength: 1, maxLength: 3 }), (i, ms) => {
      const base = bases[i]!;
      keyOrVouchError({ ...base, bytes: mutate(base.bytes, ms) }, 'unused');
    }), { numRuns: 600 });
  });
});

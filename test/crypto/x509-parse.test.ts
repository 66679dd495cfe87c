// The certificate walk reads what Go's crypto/x509 reads and refuses what it refuses, on
// certificates assembled here element by element (parsing never checks the signature).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from '../helpers/keys.ts';
import {
  TAG, derBitString, derBoolean, derExplicit, derInteger, derOctetString, derOid, derSequence, derSet, derTlv, derUtf8String,
} from '../../src/crypto/der.ts';
import { parseCertificate } from '../../src/crypto/x509.ts';

const ECDSA_SHA256 = derSequence(derOid('1.2.840.10045.4.3.2'));
const SPKI = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
const text = (tag: number, s: string): Uint8Array => derTlv(tag, new Uint8Array(Buffer.from(s, 'latin1')));
const cn = (value: Uint8Array): Uint8Array => derSet(derSequence(derOid('2.5.4.3'), value));
const ext = (oid: string, value: Uint8Array, critical?: boolean): Uint8Array =>
  derSequence(derOid(oid), ...(critical === undefined ? [] : [derBoolean(critical)]), derOctetString(value));

interface Parts {
  readonly subject?: Uint8Array[];
  readonly notBefore?: Uint8Array;
  readonly notAfter?: Uint8Array;
  readonly extensions?: Uint8Array[];
  readonly innerAlgorithm?: Uint8Array;
}

function certificate(p: Parts = {}): Uint8Array {
  const tbs = derSequence(
    derExplicit(0, derInteger(2)),
    derInteger(0x1234),
    p.innerAlgorithm ?? ECDSA_SHA256,
    derSequence(cn(derUtf8String('issuer'))),
    derSequence(p.notBefore ?? text(TAG.UTC_TIME, '240102030405Z'), p.notAfter ?? text(TAG.GENERALIZED_TIME, '20540102030405Z')),
    derSequence(...(p.subject ?? [cn(derUtf8String('subject'))])),
    SPKI,
    ...(p.extensions === undefined ? [] : [derExplicit(3, derSequence(...p.extensions))]),
  );
  return derSequence(tbs, ECDSA_SHA256, derBitString(new Uint8Array(64)));
}

const refused = { code: 'INVALID_CERTIFICATE' };

test('fields: the last CN, both time types, key usage bits, basic constraints, EKU, critical extensions', () => {
  const cert = parseCertificate(certificate({
    subject: [cn(derUtf8String('first')), derSet(derSequence(derOid('2.5.4.10'), derUtf8String('org'))), cn(derUtf8String('last'))],
    extensions: [
      ext('2.5.29.15', derBitString(new Uint8Array([0x86]), 1), true), // digitalSignature, keyCertSign, cRLSign
      ext('2.5.29.19', derSequence(derBoolean(true), derInteger(2)), true),
      ext('2.5.29.37', derSequence(derOid('1.3.6.1.5.5.7.3.1'), derOid('1.2.3.4'))),
      ext('1.2.3.4.5', new Uint8Array([5, 0]), false),
    ],
  }));
  assert.equal(cert.commonName, 'last');
  assert.equal(cert.notBefore.toISOString(), '2024-01-02T03:04:05.000Z');
  assert.equal(cert.notAfter.toISOString(), '2054-01-02T03:04:05.000Z');
  assert.equal(cert.version, 3);
  assert.equal(cert.keyUsage, 1 | 32 | 64);
  assert.deepEqual([cert.basicConstraintsValid, cert.isCa, cert.maxPathLen], [true, true, 2]);
  assert.deepEqual(cert.extKeyUsage, ['1.3.6.1.5.5.7.3.1', '1.2.3.4']);
  assert.equal(cert.hasUnhandledCriticalExtension, false);
  assert.equal(parseCertificate(certificate({ extensions: [ext('1.2.3.4.5', new Uint8Array([5, 0]), true)] })).hasUnhandledCriticalExtension, true);
  const bare = parseCertificate(certificate());
  assert.deepEqual([bare.basicConstraintsValid, bare.maxPathLen, bare.keyUsage, bare.extKeyUsage], [false, -1, 0, undefined]);
});

test('name strings: Go’s PrintableString takes * and &; other string types are checked or refused', () => {
  assert.equal(parseCertificate(certificate({ subject: [cn(text(TAG.PRINTABLE_STRING, 'a.b/*&'))] })).commonName, 'a.b/*&');
  assert.equal(parseCertificate(certificate({ subject: [cn(text(0x16, 'x@y'))] })).commonName, 'x@y'); // IA5String
  assert.equal(parseCertificate(certificate({ subject: [cn(derTlv(0x1e, new Uint8Array([0, 0x41, 0x00, 0xe9, 0, 0])))] })).commonName, 'Aé'); // BMPString
  assert.throws(() => parseCertificate(certificate({ subject: [cn(text(TAG.PRINTABLE_STRING, 'x@y'))] })), refused);
  assert.throws(() => parseCertificate(certificate({ subject: [cn(derTlv(0x1c, new Uint8Array([0, 0, 0, 0x41])))] })), refused); // UniversalString
  assert.throws(() => parseCertificate(certificate({ subject: [cn(derTlv(TAG.UTF8_STRING, new Uint8Array([0xff])))] })), refused);
  // Every attribute must decode, not only the CN.
  assert.throws(() => parseCertificate(certificate({ subject: [cn(derUtf8String('ok')), derSet(derSequence(derOid('2.5.4.10'), derInteger(1)))] })), refused);
});

test('times: minute-precision UTCTime and offsets as Go reads them; out-of-range fields refused', () => {
  const at = (t: Uint8Array) => parseCertificate(certificate({ notBefore: t })).notBefore.toISOString();
  assert.equal(at(text(TAG.UTC_TIME, '2401020304Z')), '2024-01-02T03:04:00.000Z');
  assert.equal(at(text(TAG.UTC_TIME, '240102030405+0130')), '2024-01-02T01:34:05.000Z');
  assert.equal(at(text(TAG.UTC_TIME, '500101000000Z')), '1950-01-01T00:00:00.000Z');
  assert.equal(at(text(TAG.UTC_TIME, '491231235959Z')), '2049-12-31T23:59:59.000Z');
  for (const bad of [
    text(TAG.UTC_TIME, '240102030405+0000'), text(TAG.UTC_TIME, '240230030405Z'), text(TAG.UTC_TIME, '240102240405Z'),
    text(TAG.GENERALIZED_TIME, '20240102030405.5Z'), text(TAG.GENERALIZED_TIME, '202401020304Z'), text(0x13, '240102030405Z'),
  ]) {
    assert.throws(() => at(bad), refused, Buffer.from(bad).toString('latin1'));
  }
});

test('structure: mismatched signature algorithms, duplicate or malformed extensions are refused', () => {
  assert.throws(() => parseCertificate(certificate({ innerAlgorithm: derSequence(derOid('1.2.840.10045.4.3.3')) })), refused);
  const ku = ext('2.5.29.15', derBitString(new Uint8Array([0x80]), 7));
  assert.equal(parseCertificate(certificate({ extensions: [ku] })).keyUsage, 1);
  assert.throws(() => parseCertificate(certificate({ extensions: [ku, ku] })), refused);
  assert.throws(() => parseCertificate(certificate({ extensions: [ext('2.5.29.15', new Uint8Array([3, 2, 7, 0x81]))] })), refused); // padding bit set
  assert.throws(() => parseCertificate(certificate({ extensions: [ext('2.5.29.19', derInteger(1))] })), refused);
  assert.throws(() => parseCertificate(certificate({ extensions: [ext('2.5.29.14', derInteger(1))] })), refused);
  assert.throws(() => parseCertificate(certificate({ extensions: [ext('2.5.29.17', derSequence(derTlv(0x87, new Uint8Array(5))))] })), refused);
});

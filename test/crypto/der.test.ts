/* eslint-disable @typescript-eslint/no-floating-promises -- node:test's describe/it return promises the runner itself awaits */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DER_MAX_BYTES, DerError, DerReader, TAG, derBitString, derExplicit, derInteger, derNull, derOctetString, derOid,
  derSequence, derTlv, derUnsignedInteger, readDerSequence,
} from '../../src/crypto/der.ts';
import { VouchError } from '../../src/errors.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

function throwsDer(f: () => unknown, message: string | RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof DerError, `expected DerError, got ${String(e)}`);
    assert.equal(e.code, 'INVALID_DER');
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

describe('DER writer', () => {
  it('encodes integers minimally in two\'s complement', () => {
    const cases: [bigint | number, string][] = [
      [0, '020100'], [1, '020101'], [127, '02017f'], [128, '02020080'], [255, '020200ff'], [256, '02020100'],
      [2048, '02020800'], [204800, '0203032000'], [-1, '0201ff'], [-128, '020180'], [-129, '0202ff7f'],
      [2n ** 64n, '0209010000000000000000'],
    ];
    for (const [v, want] of cases) assert.equal(hex(derInteger(v)), want, `integer ${v}`);
  });

  it('encodes unsigned magnitudes with a sign byte only when needed', () => {
    assert.equal(hex(derUnsignedInteger(unhex('7f'))), '02017f');
    assert.equal(hex(derUnsignedInteger(unhex('80'))), '02020080');
    assert.equal(hex(derUnsignedInteger(unhex('000001'))), '020101');
    assert.equal(hex(derUnsignedInteger(unhex('00'))), '020100');
    assert.equal(hex(derUnsignedInteger(new Uint8Array(0))), '020100');
  });

  it('encodes the OIDs notary uses', () => {
    assert.equal(hex(derOid('1.2.840.10045.2.1')), '06072a8648ce3d0201');
    assert.equal(hex(derOid('1.2.840.10045.3.1.7')), '06082a8648ce3d030107');
    assert.equal(hex(derOid('2.16.840.1.101.3.4.1.42')), '060960864801650304012a');
    assert.equal(hex(derOid('1.2.840.113549.1.5.13')), '06092a864886f70d01050d');
    assert.equal(hex(derOid('1.3.6.1.4.1.11591.15.1')), '06092b06010401da470f01');
    assert.equal(hex(derOid('1.3.101.112')), '06032b6570');
    assert.equal(hex(derOid('2.999.3')), '0603883703');
  });

  it('refuses malformed OIDs on write', () => {
    for (const bad of ['1', '3.1', '1.40', '1.2.', '1..2', '1.02', 'a.b']) throwsDer(() => derOid(bad), `invalid object identifier ${bad}`);
  });

  it('encodes short and long lengths', () => {
    assert.equal(hex(derOctetString(new Uint8Array(127))).slice(0, 4), '047f');
    assert.equal(hex(derOctetString(new Uint8Array(200))).slice(0, 6), '0481c8');
    assert.equal(hex(derOctetString(new Uint8Array(300))).slice(0, 8), '0482012c');
    assert.equal(hex(derOctetString(new Uint8Array(70000))).slice(0, 10), '0483011170');
  });

  it('encodes sequences, explicit tags, bit strings and NULL', () => {
    const v = derSequence(derInteger(1), derExplicit(0, derOid('1.2.840.10045.3.1.7')), derExplicit(1, derBitString(unhex('04ab'))), derNull());
    assert.equal(hex(v), '3018020101a00a06082a8648ce3d030107a10503030004ab0500');
    assert.equal(hex(derTlv(0x81, unhex('00ff'))), '810200ff');
  });
});

describe('DER reader', () => {
  it('reads back what the writer writes', () => {
    const v = derSequence(
      derInteger(-129), derInteger(2n ** 70n), derOid('1.2.840.113549.1.5.12'), derOctetString(unhex('d5ca49fb6a14df7b')),
      derBitString(unhex('0102')), derNull(), derExplicit(0, derInteger(5)), derUnsignedInteger(unhex('ff00')),
    );
    const r = readDerSequence(v, 'test');
    assert.equal(r.integer(), -129n);
    assert.equal(r.integer(), 2n ** 70n);
    assert.equal(r.oid(), '1.2.840.113549.1.5.12');
    assert.equal(hex(r.octetString()), 'd5ca49fb6a14df7b');
    assert.equal(hex(r.bitString()), '0102');
    r.null();
    assert.equal(r.optionalExplicit(1), undefined);
    const ctx = r.optionalExplicit(0);
    assert.ok(ctx);
    assert.equal(ctx.smallInteger(), 5);
    ctx.end();
    assert.equal(hex(r.unsignedIntegerBytes()), 'ff00');
    assert.equal(r.done, true);
    r.end();
  });

  it('returns the raw encoding of an element', () => {
    const r = new DerReader(unhex('0403aabbcc0500'));
    const el = r.read();
    assert.equal(el.tag, TAG.OCTET_STRING);
    assert.equal(hex(el.value), 'aabbcc');
    assert.equal(hex(el.encoded), '0403aabbcc');
    assert.equal(r.peekTag(), TAG.NULL);
  });

  it('rejects what is not DER, with the structure named', () => {
    throwsDer(() => new DerReader(unhex('0481050102030405'), 'key').octetString(), 'key: length is not minimally encoded');
    throwsDer(() => new DerReader(unhex('048200050102030405')).octetString(), 'DER: length is not minimally encoded');
    throwsDer(() => new DerReader(unhex('30800201010000')).sequence(), 'DER: indefinite lengths are not DER');
    throwsDer(() => new DerReader(unhex('0485ffffffffff')).octetString(), 'DER: length too large');
    throwsDer(() => new DerReader(unhex('0405010203')).octetString(), 'DER: length runs past the end of the data');
    throwsDer(() => new DerReader(unhex('0482ff')).octetString(), 'DER: unexpected end of data in a length');
    throwsDer(() => new DerReader(unhex('04')).octetString(), 'DER: unexpected end of data in a length');
    throwsDer(() => new DerReader(new Uint8Array(0)).octetString(), 'DER: unexpected end of data');
    throwsDer(() => readDerSequence(unhex('30000500')), 'DER: 2 unexpected trailing bytes');
    throwsDer(() => new DerReader(unhex('0500')).octetString(), 'DER: expected tag 0x04, found 0x05');
    throwsDer(() => new DerReader(unhex('1f0100')).read(), 'DER: high tag numbers are not supported');
  });

  it('rejects non-minimal and malformed primitives', () => {
    throwsDer(() => new DerReader(unhex('0202007f')).integer(), 'DER: integer is not minimally encoded');
    throwsDer(() => new DerReader(unhex('0202ff80')).integer(), 'DER: integer is not minimally encoded');
    throwsDer(() => new DerReader(unhex('0200')).integer(), 'DER: empty integer');
    throwsDer(() => new DerReader(unhex('0201ff')).unsignedIntegerBytes(), 'DER: negative integer where an unsigned one was expected');
    throwsDer(() => new DerReader(unhex('0201ff')).smallInteger(), 'DER: negative integer where a count was expected');
    throwsDer(() => new DerReader(unhex('02020100')).smallInteger(255), 'DER: integer 256 exceeds 255');
    throwsDer(() => new DerReader(unhex('0600')).oid(), 'DER: empty object identifier');
    throwsDer(() => new DerReader(unhex('06022a81')).oid(), 'DER: object identifier ends inside an arc');
    throwsDer(() => new DerReader(unhex('06032a8001')).oid(), 'DER: object identifier arc is not minimally encoded');
    throwsDer(() => new DerReader(unhex('060a2affffffffffffffff7f')).oid(), 'DER: object identifier arc too large');
    throwsDer(() => new DerReader(derTlv(6, new Uint8Array(65).fill(1))).oid(), 'DER: object identifier too long');
    throwsDer(() => new DerReader(unhex('03020701')).bitString(), 'DER: bit string with unused bits');
    throwsDer(() => new DerReader(unhex('0300')).bitString(), 'DER: empty bit string');
    throwsDer(() => new DerReader(unhex('050100')).null(), 'DER: NULL with content');
  });

  it('caps the input size', () => {
    const big = new Uint8Array(DER_MAX_BYTES + 1);
    throwsDer(() => readDerSequence(big, 'pkcs8'), `pkcs8: ${DER_MAX_BYTES + 1} bytes exceeds the 65536-byte limit`);
    assert.doesNotThrow(() => new DerReader(new Uint8Array(DER_MAX_BYTES)));
    throwsDer(() => new DerReader(new Uint8Array(11), 'x', 10), 'x: 11 bytes exceeds the 10-byte limit');
  });

  it('round-trips integers and OIDs (property)', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(2n ** 300n), max: 2n ** 300n }), (n) => {
      assert.equal(new DerReader(derInteger(n)).integer(), n);
    }), { numRuns: 300 });
    const oidArb = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 39 }),
      fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { maxLength: 8 }))
      .map(([a, b, rest]) => [a, b, ...rest].join('.'));
    fc.assert(fc.property(oidArb, (oid) => {
      assert.equal(new DerReader(derOid(oid)).oid(), oid);
    }), { numRuns: 300 });
  });

  it('never throws anything but DerError on arbitrary bytes (property)', () => {
    const walk = (r: DerReader, depth: number): void => {
      while (!r.done) {
        const tag = r.peekTag();
        if ((tag === TAG.SEQUENCE || tag === 0xa0) && depth < 8) {
          walk(new DerReader(r.read().value), depth + 1);
        } else if (tag === TAG.INTEGER) r.integer();
        else if (tag === TAG.OID) r.oid();
        else if (tag === TAG.BIT_STRING) r.bitString();
        else if (tag === TAG.NULL) r.null();
        else r.read();
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        walk(new DerReader(bytes), 0);
      } catch (e) {
        assert.ok(e instanceof DerError && e instanceof VouchError, `unexpected ${String(e)}`);
      }
    }), { numRuns: 1000 });
  });
});

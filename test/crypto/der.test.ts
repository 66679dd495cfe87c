import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DER_MAX_BYTES, DerError, DerReader, TAG, derBitString, derBoolean, derDirectoryString, derExplicit, derInteger, derNull,
  derOctetString, derOid, derPrintableString, derSequence, derSet, derTime, derTlv, derUnsignedInteger, derUtf8String,
  readDerSequence,
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

const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
const iso = (s: string): Date => new Date(s);

describe('DER writer: certificate primitives', () => {
  it('encodes BOOLEAN canonically and SET in DER order', () => {
    assert.equal(hex(derBoolean(true)), '0101ff');
    assert.equal(hex(derBoolean(false)), '010100');
    assert.equal(hex(derSet()), '3100');
    assert.equal(hex(derSet(derInteger(2), derInteger(1))), '3106020101020102');
    // Ordered by whole encodings, length octets included: 'ff' sorts before '0000'.
    assert.equal(hex(derSet(derOctetString(unhex('0000')), derOctetString(unhex('ff')))), '31070401ff' + '04020000');
  });

  it('encodes PrintableString, UTF8String and Go\'s choice between them', () => {
    assert.equal(hex(derPrintableString("A-z 0'()+,./:=?")), '130f' + ascii("A-z 0'()+,./:=?"));
    assert.equal(hex(derUtf8String('h\u00e9')), '0c0368c3a9');
    assert.equal(hex(derUtf8String('')), '0c00');
    assert.equal(hex(derDirectoryString('docker.io/library/alpine')), '1318' + ascii('docker.io/library/alpine'));
    assert.equal(hex(derDirectoryString('a_b')), '0c03615f62');
    assert.equal(hex(derDirectoryString('a*b')), '0c03612a62');
    throwsDer(() => derPrintableString('a@b'), '"a@b" is not a PrintableString');
    throwsDer(() => derUtf8String('\ud800'), 'UTF8String with a lone surrogate');
  });

  it('encodes times to the second, UTCTime for 1950-2049 and GeneralizedTime otherwise', () => {
    assert.equal(hex(derTime(iso('2026-03-04T05:06:07.890Z'))), '170d' + ascii('260304050607Z'));
    assert.equal(hex(derTime(iso('1950-01-01T00:00:00Z'))), '170d' + ascii('500101000000Z'));
    assert.equal(hex(derTime(iso('2049-12-31T23:59:59.999Z'))), '170d' + ascii('491231235959Z'));
    assert.equal(hex(derTime(iso('2050-01-01T00:00:00Z'))), '180f' + ascii('20500101000000Z'));
    assert.equal(hex(derTime(iso('1949-12-31T23:59:59Z'))), '180f' + ascii('19491231235959Z'));
    assert.equal(hex(derTime(iso('0000-01-01T00:00:00Z'))), '180f' + ascii('00000101000000Z'));
    assert.equal(hex(derTime(iso('1969-12-31T23:59:59.5Z'))), '170d' + ascii('691231235959Z'));
    assert.equal(hex(derTime(iso('1901-02-03T04:05:06.999Z'))), '180f' + ascii('19010203040506Z'));
    assert.equal(hex(derTime(iso('2026-03-04T05:06:07Z'), TAG.GENERALIZED_TIME)), '180f' + ascii('20260304050607Z'));
  });

  it('refuses times and bit strings DER cannot carry', () => {
    throwsDer(() => derTime(new Date(NaN)), 'tag 0x18 cannot hold the time Invalid Date');
    throwsDer(() => derTime(iso('+010000-01-01T00:00:00Z')), 'tag 0x18 cannot hold the time +010000-01-01T00:00:00.000Z');
    throwsDer(() => derTime(iso('2050-01-01T00:00:00Z'), TAG.UTC_TIME), 'tag 0x17 cannot hold the time 2050-01-01T00:00:00.000Z');
    throwsDer(() => derTime(iso('2026-01-01T00:00:00Z'), TAG.INTEGER), 'tag 0x02 cannot hold the time 2026-01-01T00:00:00.000Z');
    assert.equal(hex(derBitString(unhex('a0'), 5)), '030205a0');
    assert.equal(hex(derBitString(new Uint8Array(0))), '030100');
    throwsDer(() => derBitString(unhex('a1'), 5), 'invalid bit string padding: 5 unused bits');
    throwsDer(() => derBitString(new Uint8Array(0), 1), 'invalid bit string padding: 1 unused bits');
    throwsDer(() => derBitString(unhex('00'), 8), 'invalid bit string padding: 8 unused bits');
    throwsDer(() => derBitString(unhex('00'), -1), 'invalid bit string padding: -1 unused bits');
  });
});

describe('DER reader: certificate primitives', () => {
  it('reads BOOLEAN, SET, strings and times back', () => {
    const v = derSequence(
      derBoolean(true), derBoolean(false), derSet(derInteger(1), derInteger(2)), derPrintableString('CN=x'),
      derUtf8String('\u00e9\u{1f600}'), derTime(iso('2026-03-04T05:06:07Z')), derTime(iso('2050-01-01T00:00:00Z')),
    );
    const r = readDerSequence(v, 'test');
    assert.equal(r.boolean(), true);
    assert.equal(r.boolean(), false);
    const set = r.set();
    assert.deepEqual([set.integer(), set.integer()], [1n, 2n]);
    set.end();
    assert.equal(r.printableString(), 'CN=x');
    assert.equal(r.utf8String(), '\u00e9\u{1f600}');
    assert.equal(r.time().toISOString(), '2026-03-04T05:06:07.000Z');
    assert.equal(r.time().toISOString(), '2050-01-01T00:00:00.000Z');
    r.end();
  });

  it('reads UTCTime years 50-99 as 19xx and 00-49 as 20xx', () => {
    const utc = (s: string): string => new DerReader(derTlv(TAG.UTC_TIME, unhex(ascii(s)))).time().toISOString();
    assert.equal(utc('500101000000Z'), '1950-01-01T00:00:00.000Z');
    assert.equal(utc('991231235959Z'), '1999-12-31T23:59:59.000Z');
    assert.equal(utc('000101000000Z'), '2000-01-01T00:00:00.000Z');
    assert.equal(utc('491231235959Z'), '2049-12-31T23:59:59.000Z');
  });

  it('keeps a SEQUENCE whole and names nested structures', () => {
    const inner = derSequence(derInteger(7));
    const bytes = derSequence(inner, derNull());
    const r = readDerSequence(bytes, 'outer');
    const raw = r.rawSequence('inner');
    assert.equal(hex(raw.encoded), hex(inner));
    assert.equal(raw.contents.integer(), 7n);
    raw.contents.end();
    assert.equal(raw.contents.what, 'inner');
    throwsDer(() => r.sequence('tail'), 'outer: expected tag 0x30, found 0x05');
    throwsDer(() => readDerSequence(derSequence(derNull()), 'outer').sequence('inner').null(), 'outer: expected tag 0x30, found 0x05');
    throwsDer(() => readDerSequence(derSequence(derSequence(derNull())), 'outer').sequence('inner').integer(), 'inner: expected tag 0x02, found 0x05');
    throwsDer(() => readDerSequence(derSequence(derSet(derNull())), 'outer').set('rdn').integer(), 'rdn: expected tag 0x02, found 0x05');
    const ctx = readDerSequence(derSequence(derExplicit(3, derNull())), 'outer').optionalExplicit(3, 'extensions');
    assert.equal(ctx?.what, 'extensions');
  });

  it('reads the remaining elements, each well-formed', () => {
    const r = new DerReader(unhex('020101' + '0500' + '0401aa'));
    r.integer();
    assert.deepEqual(r.remaining().map((e) => hex(e.encoded)), ['0500', '0401aa']);
    assert.equal(r.done, true);
    assert.deepEqual(new DerReader(new Uint8Array(0)).remaining(), []);
    throwsDer(() => new DerReader(unhex('05000402aa'), 'ext').remaining(), 'ext: length runs past the end of the data');
  });

  it('lets nested readers share the outer size cap', () => {
    const big = derSequence(derOctetString(new Uint8Array(DER_MAX_BYTES)));
    throwsDer(() => readDerSequence(big), `DER: ${big.length} bytes exceeds the 65536-byte limit`);
    const r = readDerSequence(derSequence(big), 'cert', 1 << 20).sequence();
    assert.equal(r.octetString().length, DER_MAX_BYTES);
  });

  it('refuses non-canonical BOOLEAN, unsorted SET and bad strings', () => {
    throwsDer(() => new DerReader(unhex('010101')).boolean(), 'DER: BOOLEAN is not 0x00 or 0xff');
    throwsDer(() => new DerReader(unhex('0100')).boolean(), 'DER: BOOLEAN must be one byte');
    throwsDer(() => new DerReader(unhex('01020000')).boolean(), 'DER: BOOLEAN must be one byte');
    throwsDer(() => new DerReader(unhex('3106020102020101'), 'name').set(), 'name: SET elements are not in DER order');
    throwsDer(() => new DerReader(unhex('310402010102')).set(), 'DER: unexpected end of data in a length');
    throwsDer(() => new DerReader(unhex('130140')).printableString(), 'DER: PrintableString contains a character outside its alphabet');
    throwsDer(() => new DerReader(unhex('1301e9')).printableString(), 'DER: PrintableString contains a character outside its alphabet');
    throwsDer(() => new DerReader(unhex('0c01ff')).utf8String(), 'DER: UTF8String is not valid UTF-8');
    throwsDer(() => new DerReader(unhex('0c03eda080')).utf8String(), 'DER: UTF8String is not valid UTF-8');
  });

  it('refuses times that are not whole-second UTC or not real dates', () => {
    const time = (tag: number, s: string): (() => Date) => () => new DerReader(derTlv(tag, unhex(ascii(s))), 'validity').time();
    const U = TAG.UTC_TIME;
    const G = TAG.GENERALIZED_TIME;
    throwsDer(() => new DerReader(derInteger(1)).time(), 'DER: expected a UTCTime or GeneralizedTime, found tag 0x02');
    const malformed: [number, string][] = [
      [U, '2603040506Z'], [U, '260304050607+0100'], [U, '260304050607'], [U, '20260304050607Z'], [G, '260304050607Z'],
      [G, '20260304050607.5Z'], [G, '2026030405060Z7'], [G, '2026030405060xZ'], [G, '2026030405060 Z'], [G, '2'.repeat(40)],
    ];
    for (const [tag, s] of malformed) {
      throwsDer(time(tag, s), `validity: time is not ${tag === U ? 'YYMMDDHHMMSSZ' : 'YYYYMMDDHHMMSSZ'}`);
    }
    const impossible: [number, string][] = [
      [U, '260230000000Z'], [U, '250229000000Z'], [U, '261301000000Z'], [U, '260100000000Z'], [U, '260304240000Z'],
      [G, '20260304056000Z'], [G, '20260304050660Z'],
    ];
    for (const [tag, s] of impossible) throwsDer(time(tag, s), `validity: time ${s} is not a valid date`);
    assert.equal(time(U, '240229000000Z')().toISOString(), '2024-02-29T00:00:00.000Z');
  });

  it('refuses truncated elements and overlong lengths for every new type', () => {
    const readers: [string, (r: DerReader) => unknown][] = [
      ['0101ff', (r) => r.boolean()],
      ['3106020101020102', (r) => r.set()],
      ['130443' + '4e3d78', (r) => r.printableString()],
      ['0c0368c3a9', (r) => r.utf8String()],
      ['170d' + ascii('260304050607Z'), (r) => r.time()],
      ['180f' + ascii('20500101000000Z'), (r) => r.time()],
      ['3003020107', (r) => r.rawSequence()],
      ['a0020500', (r) => r.optionalExplicit(0)],
    ];
    for (const [good, read] of readers) {
      const bytes = unhex(good);
      assert.doesNotThrow(() => read(new DerReader(bytes)), good);
      throwsDer(() => read(new DerReader(bytes.subarray(0, bytes.length - 1))), 'DER: length runs past the end of the data');
      throwsDer(() => read(new DerReader(bytes.subarray(0, 1))), 'DER: unexpected end of data in a length');
      const overlong = new Uint8Array([bytes[0] as number, 0x81, ...bytes.subarray(1)]);
      throwsDer(() => read(new DerReader(overlong)), 'DER: length is not minimally encoded');
      const indefinite = new Uint8Array([bytes[0] as number, 0x80, ...bytes.subarray(2), 0, 0]);
      throwsDer(() => read(new DerReader(indefinite)), 'DER: indefinite lengths are not DER');
    }
  });

  it('round-trips times, strings, booleans and sets (property)', () => {
    const dateArb = fc.date({ min: iso('0000-01-01T00:00:00Z'), max: iso('9999-12-31T23:59:59.999Z'), noInvalidDate: true });
    fc.assert(fc.property(dateArb, (d) => {
      const whole = Math.floor(d.getTime() / 1000) * 1000;
      assert.equal(new DerReader(derTime(d)).time().getTime(), whole);
      assert.equal(new DerReader(derTime(d, TAG.GENERALIZED_TIME)).time().getTime(), whole);
    }), { numRuns: 500 });
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      fc.pre(s.isWellFormed());
      assert.equal(new DerReader(derUtf8String(s)).utf8String(), s);
      const r = new DerReader(derDirectoryString(s));
      assert.equal(r.peekTag() === TAG.PRINTABLE_STRING ? r.printableString() : r.utf8String(), s);
    }), { numRuns: 300 });
    fc.assert(fc.property(fc.array(fc.oneof(fc.boolean().map(derBoolean), fc.bigInt().map(derInteger)), { maxLength: 8 }), (els) => {
      const r = new DerReader(derSet(...els)).set();
      const back = r.remaining().map((e) => hex(e.encoded));
      assert.deepEqual(back, els.map(hex).sort());
    }), { numRuns: 300 });
  });

  it('yields only values or DerError from arbitrary bytes with the new readers (property)', () => {
    const walk = (r: DerReader, depth: number): void => {
      while (!r.done) {
        const tag = r.peekTag();
        if (tag === TAG.SET && depth < 8) walk(r.set(), depth + 1);
        else if (tag === TAG.SEQUENCE && depth < 8) walk(r.rawSequence().contents, depth + 1);
        else if (tag !== undefined && (tag & 0xe0) === 0xa0 && depth < 8) walk(r.optionalExplicit(tag & 0x1f) ?? r, depth + 1);
        else if (tag === TAG.BOOLEAN) assert.equal(typeof r.boolean(), 'boolean');
        else if (tag === TAG.PRINTABLE_STRING) assert.equal(typeof r.printableString(), 'string');
        else if (tag === TAG.UTF8_STRING) assert.equal(typeof r.utf8String(), 'string');
        else if (tag === TAG.UTC_TIME || tag === TAG.GENERALIZED_TIME) assert.ok(!Number.isNaN(r.time().getTime()));
        else r.read();
      }
    };
    const tags = [TAG.BOOLEAN, TAG.SET, TAG.SEQUENCE, TAG.PRINTABLE_STRING, TAG.UTF8_STRING, TAG.UTC_TIME, TAG.GENERALIZED_TIME, 0xa0, 0xa3];
    const element = fc.tuple(fc.constantFrom(...tags), fc.uint8Array({ maxLength: 20 })).map(([t, v]) => derTlv(t, v));
    const structured = fc.array(element, { maxLength: 6 }).map((els) => derSequence(...els));
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), structured), (bytes) => {
      try {
        walk(new DerReader(bytes), 0);
      } catch (e) {
        assert.ok(e instanceof DerError && e instanceof VouchError, `unexpected ${String(e)}`);
      }
    }), { numRuns: 2000 });
  });
});

/**
 * The DER walk of an X.509 certificate, field by field as Go's crypto/x509 parser reads it (the
 * cryptobyte parser of Go 1.17 and later), for the fields notary's rules use: version, raw TBS,
 * signature algorithm and value, raw issuer and subject names with the subject's common name,
 * validity, SubjectPublicKeyInfo, and the extensions (BasicConstraints, KeyUsage and
 * ExtendedKeyUsage decoded, the rest kept as OID + critical flag).
 *
 * Contract: `readCertificateDer(der)` returns those pieces (byte arrays are copies) or throws
 * `DerError` for what Go's `ParseCertificate` refuses among them: malformed DER, a version other
 * than v1–v3, inner and outer signature algorithms that differ, a name attribute that is not one of
 * Go's string types (or not valid in its type), a time Go would not read back identically,
 * duplicate extensions, and malformed BasicConstraints, KeyUsage, ExtendedKeyUsage, key identifier
 * or subject-alternative-name values. Not checked (Go also parses them): name constraints, CRL
 * distribution points, policies, authority info access, and the syntax of SAN URIs. Pure: no I/O,
 * no clock.
 */
import { DerError, DerReader, TAG, readDerSequence } from './der.ts';
import type { DerElement } from './der.ts';

/** Certificates are a few KiB; this only keeps absurd inputs out of the parser. */
const CERT_MAX_BYTES = 1024 * 1024;

const OID_COMMON_NAME = '2.5.4.3';
const OID_KEY_USAGE = '2.5.29.15';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_SUBJECT_KEY_ID = '2.5.29.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_AUTHORITY_KEY_ID = '2.5.29.35';
/** Primitive context tags [1] and [2]: the unique IDs, IMPLICIT BIT STRINGs. */
const IMPLICIT_1 = 0x81;
const IMPLICIT_2 = 0x82;

export interface CertificateExtension {
  readonly oid: string;
  readonly critical: boolean;
}

export interface CertificateDer {
  /** 1-based, as Go reports it. */
  readonly version: number;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  /** Go's `Subject.CommonName`: the last CN attribute, or empty. */
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Uint8Array;
  readonly spkiAlgorithm: string;
  readonly extensions: readonly CertificateExtension[];
  /** undefined when the extension is absent. */
  readonly basicConstraints: { readonly isCa: boolean; readonly maxPathLen: number } | undefined;
  /** Go's `KeyUsage` bits (bit i of the BIT STRING → 1 << i); 0 when absent. */
  readonly keyUsage: number;
  /** undefined when the extension is absent. */
  readonly extKeyUsage: readonly string[] | undefined;
}

const fail = (message: string): never => {
  throw new DerError(message);
};

/** The first element of an AlgorithmIdentifier, whose other elements must still be well-formed. */
function algorithmOid(alg: DerReader): string {
  const oid = alg.oid();
  alg.remaining();
  return oid;
}

/** Go's `isPrintable` for PrintableString, which also lets `*` and `&` through. */
const GO_PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?*&]*$/;
// eslint-disable-next-line no-control-regex -- IA5 is all of 7-bit ASCII, controls included
const IA5 = /^[\x00-\x7f]*$/;
const NUMERIC = /^[0-9 ]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Go's `parseASN1String`: the string types a certificate name may hold, each checked. */
function nameString(el: DerElement): string {
  const latin1 = () => Buffer.from(el.value).toString('latin1');
  switch (el.tag) {
    case 0x14: // T61String: Go keeps the bytes as they are
      return latin1();
    case TAG.PRINTABLE_STRING:
      return GO_PRINTABLE.test(latin1()) ? latin1() : fail('invalid PrintableString');
    case TAG.UTF8_STRING:
      try {
        return utf8.decode(el.value);
      } catch {
        return fail('invalid UTF-8 string');
      }
    case 0x1e: // BMPString: UTF-16BE, an optional terminating NUL dropped
      return bmpString(el.value);
    case 0x16: // IA5String
      return IA5.test(latin1()) ? latin1() : fail('invalid IA5String');
    case 0x12: // NumericString
      return NUMERIC.test(latin1()) ? latin1() : fail('invalid NumericString');
    default:
      return fail(`unsupported string type: ${el.tag}`);
  }
}

function bmpString(value: Uint8Array): string {
  if (value.length % 2 !== 0) fail('invalid BMPString');
  const n = value.length >= 2 && value[value.length - 1] === 0 && value[value.length - 2] === 0 ? value.length - 2 : value.length;
  const units: number[] = [];
  for (let i = 0; i < n; i += 2) units.push(((value[i] as number) << 8) | (value[i + 1] as number));
  return String.fromCharCode(...units).toWellFormed();
}

/** Go's `parseName` (every attribute value must decode) and `FillFromRDNSequence`'s last CN. */
function readName(name: DerReader): string {
  let commonName = '';
  while (!name.done) {
    const rdn = new DerReader(name.read(TAG.SET).value, 'x509 name', CERT_MAX_BYTES);
    while (!rdn.done) {
      const atv = rdn.sequence('x509 name attribute');
      const type = atv.oid();
      const value = nameString(atv.read());
      if (type === OID_COMMON_NAME) commonName = value;
    }
  }
  return commonName;
}

const UTC_TIME = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?(Z|[+-]\d{4})$/;
const GENERALIZED_TIME = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(Z|[+-]\d{4})$/;

/**
 * Go's cryptobyte time readers: UTCTime `YYMMDDHHMM[SS]` (years 50–99 are 19xx) and
 * GeneralizedTime `YYYYMMDDHHMMSS`, each with `Z` or a `±hhmm` offset other than zero, and only
 * when the fields are in range (what Go's "parse, then format back identically" check amounts to).
 */
function readTime(r: DerReader): Date {
  const el = r.read();
  const utc = el.tag === TAG.UTC_TIME;
  if (!utc && el.tag !== TAG.GENERALIZED_TIME) fail('unsupported time format');
  const text = el.value.length <= 19 ? Buffer.from(el.value).toString('latin1') : '';
  const m = (utc ? UTC_TIME : GENERALIZED_TIME).exec(text);
  if (m === null) return fail(utc ? 'malformed UTCTime' : 'malformed GeneralizedTime');
  const [yy = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0] = m.slice(1, 7).map((x) => Number(x ?? '0'));
  const year = !utc ? yy : yy >= 50 ? 1900 + yy : 2000 + yy;
  const zone = m[7] ?? 'Z';
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const [zh, zm] = [Number(zone.slice(1, 3)), Number(zone.slice(3, 5))];
    // Go formats a zero offset back as `Z`, so `+0000` does not survive its round trip.
    if ((zh === 0 && zm === 0) || zh > 24 || zm > 59) fail('malformed time zone offset');
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (zh * 60 + zm);
  }
  const t = new Date(0);
  t.setUTCFullYear(year, mo - 1, d);
  t.setUTCHours(h, mi, s, 0);
  const inRange = t.getUTCFullYear() === year && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d
    && t.getUTCHours() === h && t.getUTCMinutes() === mi && t.getUTCSeconds() === s;
  if (!inRange) fail(`time ${text} is out of range`);
  return new Date(t.getTime() - offsetMinutes * 60_000);
}

/** Go's `ReadASN1BitString`: unused bits (at most 7, all zero) allowed; returns bytes and bit length. */
function readBitString(r: DerReader): { bytes: Uint8Array; bits: number } {
  const v = r.read(TAG.BIT_STRING).value;
  const unused = v[0];
  const bytes = v.subarray(1);
  if (unused === undefined || unused > 7 || (bytes.length === 0 && unused !== 0)) return fail('malformed bit string');
  if (bytes.length > 0 && ((bytes[bytes.length - 1] as number) & ((1 << unused) - 1)) !== 0) fail('malformed bit string');
  return { bytes, bits: bytes.length * 8 - unused };
}

function readKeyUsage(value: Uint8Array): number {
  const { bytes, bits } = readBitString(new DerReader(value, 'x509 key usage'));
  let usage = 0;
  for (let i = 0; i < 9 && i < bits; i++) if ((((bytes[i >> 3] as number) >> (7 - (i & 7))) & 1) === 1) usage |= 1 << i;
  return usage;
}

function readBasicConstraints(value: Uint8Array): { isCa: boolean; maxPathLen: number } {
  const bc = new DerReader(value, 'x509 basic constraints').sequence();
  const isCa = bc.peekTag() === TAG.BOOLEAN ? bc.boolean() : false;
  let maxPathLen = -1;
  if (bc.peekTag() === TAG.INTEGER) {
    const n = bc.integer();
    if (n < -(2n ** 31n) || n >= 2n ** 31n) fail('invalid basic constraints');
    maxPathLen = Number(n);
  }
  return { isCa, maxPathLen };
}

function readExtKeyUsage(value: Uint8Array): string[] {
  const seq = new DerReader(value, 'x509 extended key usage').sequence();
  const oids: string[] = [];
  while (!seq.done) oids.push(seq.oid());
  return oids;
}

/** Go's checks on the identifier and alternative-name extensions it decodes (URIs not parsed here). */
function checkOtherExtension(oid: string, value: Uint8Array): void {
  const r = new DerReader(value, `x509 extension ${oid}`);
  if (oid === OID_SUBJECT_KEY_ID) r.octetString();
  else if (oid === OID_AUTHORITY_KEY_ID) {
    const akid = r.sequence();
    if (akid.peekTag() === 0x80) akid.read();
  } else if (oid === OID_SUBJECT_ALT_NAME) {
    const names = r.sequence();
    while (!names.done) {
      const { tag, value: v } = names.read();
      const kind = tag ^ 0x80; // primitive [n]: rfc822Name 1, dNSName 2, URI 6, iPAddress 7
      if ((kind === 1 || kind === 2 || kind === 6) && !IA5.test(Buffer.from(v).toString('latin1'))) fail('SAN name is malformed');
      if (kind === 7 && v.length !== 4 && v.length !== 16) fail(`cannot parse IP address of length ${v.length}`);
    }
  }
}

interface Extensions {
  readonly extensions: CertificateExtension[];
  readonly basicConstraints: CertificateDer['basicConstraints'];
  readonly keyUsage: number;
  readonly extKeyUsage: string[] | undefined;
}

function readExtensions(list: DerReader | undefined): Extensions {
  const out: Extensions = { extensions: [], basicConstraints: undefined, keyUsage: 0, extKeyUsage: undefined };
  if (list === undefined) return out;
  const seq = list.sequence('x509 extensions');
  const mutable = out as { -readonly [K in keyof Extensions]: Extensions[K] };
  while (!seq.done) {
    const ext = seq.sequence('x509 extension');
    const oid = ext.oid();
    const critical = ext.peekTag() === TAG.BOOLEAN ? ext.boolean() : false;
    const value = ext.octetString();
    if (out.extensions.some((e) => e.oid === oid)) fail(`certificate contains duplicate extension with OID "${oid}"`);
    out.extensions.push({ oid, critical });
    if (oid === OID_KEY_USAGE) mutable.keyUsage = readKeyUsage(value);
    else if (oid === OID_BASIC_CONSTRAINTS) mutable.basicConstraints = readBasicConstraints(value);
    else if (oid === OID_EXT_KEY_USAGE) mutable.extKeyUsage = readExtKeyUsage(value);
    else checkOtherExtension(oid, value);
  }
  return out;
}

function readVersion(tbs: DerReader): number {
  const explicit = tbs.optionalExplicit(0, 'x509 version');
  if (explicit === undefined) return 1;
  const v = explicit.integer();
  explicit.end();
  if (v < 0n) fail('malformed version');
  if (v > 2n) fail('invalid version');
  return Number(v) + 1;
}

/** Walks one DER certificate; see the module contract. */
export function readCertificateDer(der: Uint8Array): CertificateDer {
  const cert = readDerSequence(der, 'x509 certificate', CERT_MAX_BYTES);
  const tbsRaw = cert.rawSequence('x509 tbs certificate');
  const outerAlgorithm = cert.read(TAG.SEQUENCE);
  const signature = cert.bitString().slice();
  cert.end();
  const t = tbsRaw.contents;
  const version = readVersion(t);
  t.integer(); // serialNumber: any sign, as Go tolerates negative serials
  const innerAlgorithm = t.read(TAG.SEQUENCE);
  if (Buffer.compare(innerAlgorithm.encoded, outerAlgorithm.encoded) !== 0) fail("inner and outer signature algorithm identifiers don't match");
  const signatureAlgorithm = algorithmOid(new DerReader(innerAlgorithm.value, 'x509 signature algorithm'));
  const issuer = t.rawSequence('x509 issuer');
  readName(issuer.contents);
  const validity = t.sequence('x509 validity');
  const notBefore = readTime(validity);
  const notAfter = readTime(validity);
  const subject = t.rawSequence('x509 subject');
  const commonName = readName(subject.contents);
  const spki = t.rawSequence('x509 SubjectPublicKeyInfo');
  const spkiAlgorithm = algorithmOid(spki.contents.sequence('x509 public key algorithm'));
  spki.contents.remaining();
  let extensionList: DerReader | undefined;
  if (version > 1) {
    if (t.peekTag() === IMPLICIT_1) t.read(); // issuerUniqueID
    if (t.peekTag() === IMPLICIT_2) t.read(); // subjectUniqueID
    if (version === 3) extensionList = t.optionalExplicit(3, 'x509 extensions');
  }
  t.remaining();
  return {
    version, tbs: tbsRaw.encoded.slice(), signatureAlgorithm, signature,
    issuer: issuer.encoded.slice(), subject: subject.encoded.slice(), commonName, notBefore, notAfter,
    spki: spki.encoded.slice(), spkiAlgorithm, ...readExtensions(extensionList),
  };
}

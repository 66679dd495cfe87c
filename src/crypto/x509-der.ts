/**
 * The little DER that X.509 handling needs beyond @peculiar/x509: a strict reader for the outer
 * certificate structure (the raw TBS, names and SPKI that Go compares byte for byte) and a writer
 * for the fixed shape of notary's root certificate. Not a general ASN.1 library.
 *
 * The reader accepts only definite, minimally encoded lengths and low tag numbers, and requires
 * every structure to end exactly where its length says; it throws `CryptoError` otherwise.
 */
import { CryptoError } from './signatures.ts';

interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

function fail(what: string): never {
  throw new CryptoError('INVALID_CERTIFICATE', `x509: malformed certificate: ${what}`);
}

function readTlv(buf: Uint8Array, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) fail('truncated element');
  const tag = buf[pos] as number;
  if ((tag & 0x1f) === 0x1f) fail('high tag number');
  let len = buf[pos + 1] as number;
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) fail('invalid length');
    if (buf[p] === 0) fail('non-minimal length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[p + i] as number);
    if (len < 0x80) fail('non-minimal length');
    p += n;
  }
  if (p + len > limit) fail('element overruns its container');
  return { tag, start: pos, contentStart: p, end: p + len };
}

function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.contentStart; pos < parent.end; ) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (t === undefined || t.tag !== tag) fail(`expected ${what}`);
  return t;
}

function decodeOid(buf: Uint8Array, t: Tlv): string {
  const arcs: number[] = [];
  let v = 0;
  for (let i = t.contentStart; i < t.end; i++) {
    const b = buf[i] as number;
    if (v === 0 && b === 0x80) fail('non-minimal OID');
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER) fail('OID arc too large');
    if ((b & 0x80) === 0) {
      arcs.push(v);
      v = 0;
    } else if (i === t.end - 1) fail('truncated OID');
  }
  const first = arcs.shift();
  if (first === undefined) fail('empty OID');
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}

export interface CertDer {
  readonly version: number;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  readonly spki: Uint8Array;
  readonly spkiAlgorithm: string;
}

/** Splits a DER certificate into the raw pieces Go keeps (`RawTBSCertificate`, `RawIssuer`, …). */
export function readCertDer(der: Uint8Array): CertDer {
  const outer = expect(readTlv(der, 0, der.length), 0x30, 'Certificate SEQUENCE');
  if (outer.end !== der.length) fail('trailing data');
  const [tbsT, algT, sigT, extra] = children(der, outer);
  if (extra !== undefined) fail('too many elements');
  const tbs = expect(tbsT, 0x30, 'TBSCertificate');
  const alg = children(der, expect(algT, 0x30, 'AlgorithmIdentifier'));
  const sig = expect(sigT, 0x03, 'signature BIT STRING');
  if (sig.end === sig.contentStart || der[sig.contentStart] !== 0) fail('signature has unused bits');
  const parts = children(der, tbs);
  let i = 0;
  let version = 1;
  if (parts[0]?.tag === 0xa0) {
    const [v] = children(der, parts[0]);
    const vt = expect(v, 0x02, 'version INTEGER');
    if (vt.end - vt.contentStart !== 1) fail('invalid version');
    version = (der[vt.contentStart] as number) + 1;
    i = 1;
  }
  expect(parts[i], 0x02, 'serial number');
  expect(parts[i + 1], 0x30, 'TBS signature algorithm');
  const issuer = expect(parts[i + 2], 0x30, 'issuer Name');
  expect(parts[i + 3], 0x30, 'Validity');
  const subject = expect(parts[i + 4], 0x30, 'subject Name');
  const spki = expect(parts[i + 5], 0x30, 'SubjectPublicKeyInfo');
  const spkiAlg = children(der, expect(children(der, spki)[0], 0x30, 'SPKI AlgorithmIdentifier'));
  const slice = (t: Tlv): Uint8Array => der.slice(t.start, t.end);
  return {
    version,
    tbs: slice(tbs),
    signatureAlgorithm: decodeOid(der, expect(alg[0], 0x06, 'signature algorithm OID')),
    signature: der.slice(sig.contentStart + 1, sig.end),
    issuer: slice(issuer),
    subject: slice(subject),
    spki: slice(spki),
    spkiAlgorithm: decodeOid(der, expect(spkiAlg[0], 0x06, 'public key algorithm OID')),
  };
}

// --- writer ---------------------------------------------------------------------------------

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

export function derTlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  return new Uint8Array(Buffer.concat([Buffer.from([tag, ...lengthBytes(body.length)]), body]));
}

export const derSequence = (...parts: Uint8Array[]): Uint8Array => derTlv(0x30, ...parts);
export const derSet = (...parts: Uint8Array[]): Uint8Array => derTlv(0x31, ...parts);
export const derOctetString = (bytes: Uint8Array): Uint8Array => derTlv(0x04, bytes);
export const derBoolean = (v: boolean): Uint8Array => derTlv(0x01, Uint8Array.of(v ? 0xff : 0));
export const derNull = (): Uint8Array => Uint8Array.of(0x05, 0x00);
export const derExplicit = (n: number, inner: Uint8Array): Uint8Array => derTlv(0xa0 | n, inner);

export function derBitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  return derTlv(0x03, Uint8Array.of(unusedBits), bytes);
}

/** Minimal two's-complement INTEGER. */
export function derInteger(v: bigint): Uint8Array {
  if (v < 0n) throw new RangeError('negative INTEGER not supported');
  let hex = v.toString(16);
  if (hex.length % 2 === 1) hex = '0' + hex;
  let bytes = Buffer.from(hex, 'hex');
  if ((bytes[0] as number) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return derTlv(0x02, bytes);
}

export function derOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  const [a = 0, b = 0, ...rest] = arcs;
  const out: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return derTlv(0x06, Uint8Array.from(out));
}

/** Go's choice: UTCTime for 1950–2049, GeneralizedTime otherwise; whole seconds, `Z`. */
export function derTime(d: Date): Uint8Array {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = d.getUTCFullYear();
  if (year >= 1950 && year < 2050) return derTlv(0x17, Buffer.from(digits.slice(2) + 'Z', 'latin1'));
  return derTlv(0x18, Buffer.from(digits + 'Z', 'latin1'));
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** Go's default for a name attribute: PrintableString when every character allows it, else UTF8String. */
export function derDirectoryString(s: string): Uint8Array {
  return PRINTABLE.test(s) ? derTlv(0x13, Buffer.from(s, 'latin1')) : derTlv(0x0c, Buffer.from(s, 'utf8'));
}

/**
 * Vouch's only DER reader and writer, for the ASN.1 shapes notary's key and certificate formats
 * use: SEQUENCE, SET, INTEGER, BOOLEAN, OBJECT IDENTIFIER, OCTET STRING, BIT STRING, NULL,
 * PrintableString, UTF8String, UTCTime, GeneralizedTime and context tags, plus the raw bytes of
 * whole elements (what signatures and Go's byte-wise name comparisons cover).
 *
 * Contract: the reader accepts only DER (definite minimal lengths, minimal INTEGER and OID
 * encodings, single-byte tags, canonical BOOLEAN, sorted SET, times to
 * the second with `Z`), never reads outside the buffer it was given, refuses inputs over a size
 * cap, and reports every problem as `DerError` (code `INVALID_DER`) naming what was being read.
 * The writer always produces DER and refuses values DER cannot carry. Non-goals: BER, high tag
 * numbers, fractional seconds and time zones (RFC 5280 forbids them in certificates).
 */
import { VouchError } from '../errors.ts';

export class DerError extends VouchError<'INVALID_DER'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_DER', message, options);
  }
}

/** Largest DER input accepted by default: key files and certificates are far smaller. */
export const DER_MAX_BYTES = 64 * 1024;
/** OIDs longer than this are not ones Vouch knows, so there is no point decoding them. */
const OID_MAX_BYTES = 64;

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** PrintableString's alphabet (X.680 §41.4). */
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** The tag byte of an explicit (constructed) context-specific tag `[n]`. */
export function contextTag(n: number): number {
  return 0xa0 | n;
}

export interface DerElement {
  readonly tag: number;
  /** The content octets. */
  readonly value: Uint8Array;
  /** The whole element, tag and length included. */
  readonly encoded: Uint8Array;
}

/**
 * A cursor over a run of DER elements (a whole input, or the contents of a constructed element).
 * Each `read…` method consumes one element of the named type or throws.
 */
export class DerReader {
  private pos = 0;

  /** @param what names the structure in error messages, e.g. `pkcs8 PrivateKeyInfo`. */
  constructor(
    private readonly bytes: Uint8Array,
    readonly what = 'DER',
    private readonly maxBytes = DER_MAX_BYTES,
  ) {
    if (bytes.length > maxBytes) {
      throw new DerError(`${what}: ${bytes.length} bytes exceeds the ${maxBytes}-byte limit`);
    }
  }

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  /** The tag of the next element, or undefined at the end. */
  peekTag(): number | undefined {
    return this.bytes[this.pos];
  }

  /** Throws if any bytes remain; call it after the last expected element. */
  end(): void {
    if (!this.done) throw this.error(`${this.bytes.length - this.pos} unexpected trailing bytes`);
  }

  /** Reads any element; with `tag`, requires it. */
  read(tag?: number): DerElement {
    const start = this.pos;
    const t = this.bytes[start];
    if (t === undefined) throw this.error('unexpected end of data');
    if ((t & 0x1f) === 0x1f) throw this.error('high tag numbers are not supported');
    if (tag !== undefined && t !== tag) {
      throw this.error(`expected tag 0x${hex2(tag)}, found 0x${hex2(t)}`);
    }
    const { length, headerLength } = this.readLength(start + 1);
    const valueStart = start + 1 + headerLength;
    if (length > this.bytes.length - valueStart) throw this.error('length runs past the end of the data');
    const end = valueStart + length;
    this.pos = end;
    return { tag: t, value: this.bytes.subarray(valueStart, end), encoded: this.bytes.subarray(start, end) };
  }

  /** Reads every element left, each of which must be well-formed; ends the reader. */
  remaining(): DerElement[] {
    const out: DerElement[] = [];
    while (!this.done) out.push(this.read());
    return out;
  }

  /** A reader over a SEQUENCE's contents; `what` renames the structure in its error messages. */
  sequence(what = this.what): DerReader {
    return this.rawSequence(what).contents;
  }

  /** A SEQUENCE kept whole: its full encoding (a view into the input) and a reader over it. */
  rawSequence(what = this.what): { readonly encoded: Uint8Array; readonly contents: DerReader } {
    const el = this.read(TAG.SEQUENCE);
    return { encoded: el.encoded, contents: this.child(el.value, what) };
  }

  /** A reader over a SET's contents, whose elements DER requires in ascending byte order. */
  set(what = this.what): DerReader {
    const value = this.read(TAG.SET).value;
    const encodings = this.child(value, what).remaining().map((e) => e.encoded);
    if (encodings.some((e, i) => i > 0 && compareBytes(encodings[i - 1] as Uint8Array, e) > 0)) {
      throw this.error('SET elements are not in DER order');
    }
    return this.child(value, what);
  }

  /** An optional explicit `[n]`: its contents, or undefined when the next element is not `[n]`. */
  optionalExplicit(n: number, what = this.what): DerReader | undefined {
    if (this.peekTag() !== contextTag(n)) return undefined;
    return this.child(this.read(contextTag(n)).value, what);
  }

  boolean(): boolean {
    const v = this.read(TAG.BOOLEAN).value;
    if (v.length !== 1) throw this.error('BOOLEAN must be one byte');
    if (v[0] !== 0 && v[0] !== 0xff) throw this.error('BOOLEAN is not 0x00 or 0xff');
    return v[0] === 0xff;
  }

  /** A signed INTEGER. */
  integer(): bigint {
    const v = this.integerContent();
    let n = 0n;
    for (const b of v) n = (n << 8n) | BigInt(b);
    if ((v[0] ?? 0) & 0x80) n -= 1n << BigInt(v.length * 8);
    return n;
  }

  /** A non-negative INTEGER that fits in `max` (a guard against huge counters). */
  smallInteger(max = Number.MAX_SAFE_INTEGER): number {
    const n = this.integer();
    if (n < 0n) throw this.error('negative integer where a count was expected');
    if (n > BigInt(max)) throw this.error(`integer ${n} exceeds ${max}`);
    return Number(n);
  }

  /** A non-negative INTEGER as its big-endian magnitude, without the sign byte. */
  unsignedIntegerBytes(): Uint8Array {
    const v = this.integerContent();
    if ((v[0] ?? 0) & 0x80) throw this.error('negative integer where an unsigned one was expected');
    return v[0] === 0 && v.length > 1 ? v.subarray(1) : v;
  }

  /** An OBJECT IDENTIFIER in dotted form, e.g. `1.2.840.10045.2.1`. */
  oid(): string {
    const v = this.read(TAG.OID).value;
    if (v.length === 0) throw this.error('empty object identifier');
    if (v.length > OID_MAX_BYTES) throw this.error('object identifier too long');
    const arcs: number[] = [];
    let arc = 0;
    let fresh = true;
    for (const b of v) {
      if (fresh && b === 0x80) throw this.error('object identifier arc is not minimally encoded');
      if (arc > (Number.MAX_SAFE_INTEGER - 0x7f) / 128) throw this.error('object identifier arc too large');
      arc = arc * 128 + (b & 0x7f);
      fresh = (b & 0x80) === 0;
      if (fresh) {
        arcs.push(arc);
        arc = 0;
      }
    }
    if (!fresh) throw this.error('object identifier ends inside an arc');
    const first = arcs[0] ?? 0;
    const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
    return [...head, ...arcs.slice(1)].join('.');
  }

  octetString(): Uint8Array {
    return this.read(TAG.OCTET_STRING).value;
  }

  /** A BIT STRING holding whole bytes (no unused bits), as keys and signatures always do. */
  bitString(): Uint8Array {
    const v = this.read(TAG.BIT_STRING).value;
    if (v.length === 0) throw this.error('empty bit string');
    if (v[0] !== 0) throw this.error('bit string with unused bits');
    return v.subarray(1);
  }

  null(): void {
    if (this.read(TAG.NULL).value.length !== 0) throw this.error('NULL with content');
  }

  printableString(): string {
    const s = latin1(this.read(TAG.PRINTABLE_STRING).value);
    if (!PRINTABLE.test(s)) throw this.error('PrintableString contains a character outside its alphabet');
    return s;
  }

  utf8String(): string {
    const v = this.read(TAG.UTF8_STRING).value;
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(v);
    } catch (cause) {
      throw new DerError(`${this.what}: UTF8String is not valid UTF-8`, { cause });
    }
  }

  /** A UTCTime (years 1950–2049, as RFC 5280 reads them) or GeneralizedTime: whole seconds, `Z`. */
  time(): Date {
    const el = this.read();
    const digits =
      el.tag === TAG.UTC_TIME ? 2
      : el.tag === TAG.GENERALIZED_TIME ? 4
      : this.fail(`expected a UTCTime or GeneralizedTime, found tag 0x${hex2(el.tag)}`);
    const text = el.value.length <= 15 ? latin1(el.value) : '';
    const m = (digits === 2 ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/ : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/).exec(text);
    if (m === null) throw this.error(`time is not ${digits === 2 ? 'YYMMDDHHMMSSZ' : 'YYYYMMDDHHMMSSZ'}`);
    const [y = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = m.slice(1).map(Number);
    const d = new Date(0);
    d.setUTCFullYear(digits === 4 ? y : y < 50 ? 2000 + y : 1900 + y, month - 1, day);
    d.setUTCHours(hour, minute, second, 0);
    // Out-of-range fields roll over into other ones, so a valid time is one that prints back as read.
    if (timeDigits(d, digits) !== text) throw this.error(`time ${text} is not a valid date`);
    return d;
  }

  private integerContent(): Uint8Array {
    const v = this.read(TAG.INTEGER).value;
    if (v.length === 0) throw this.error('empty integer');
    const [a, b] = [v[0] ?? 0, v[1] ?? 0];
    if (v.length > 1 && ((a === 0 && b < 0x80) || (a === 0xff && b >= 0x80))) {
      throw this.error('integer is not minimally encoded');
    }
    return v;
  }

  private readLength(at: number): { length: number; headerLength: number } {
    const first = this.bytes[at];
    if (first === undefined) throw this.error('unexpected end of data in a length');
    if (first < 0x80) return { length: first, headerLength: 1 };
    const count = first & 0x7f;
    if (count === 0) throw this.error('indefinite lengths are not DER');
    if (count > 4) throw this.error('length too large');
    let length = 0;
    for (let i = 1; i <= count; i++) {
      const b = this.bytes[at + i];
      if (b === undefined) throw this.error('unexpected end of data in a length');
      if (i === 1 && b === 0) throw this.error('length is not minimally encoded');
      length = length * 256 + b;
    }
    if (length < 0x80) throw this.error('length is not minimally encoded');
    return { length, headerLength: 1 + count };
  }

  private child(value: Uint8Array, what: string): DerReader {
    return new DerReader(value, what, this.maxBytes);
  }

  private fail(message: string): never {
    throw this.error(message);
  }

  private error(message: string): DerError {
    return new DerError(`${this.what}: ${message}`);
  }
}

/** Reads `bytes` as exactly one SEQUENCE and returns a reader over its contents. */
export function readDerSequence(bytes: Uint8Array, what = 'DER', maxBytes = DER_MAX_BYTES): DerReader {
  const outer = new DerReader(bytes, what, maxBytes);
  const inner = outer.sequence();
  outer.end();
  return inner;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  }
  return a.length - b.length;
}

function latin1(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => String.fromCharCode(b)).join('');
}

/** `d` in UTC as time digits with the year's last `yearDigits` digits; sub-seconds are dropped. */
function timeDigits(d: Date, yearDigits: number): string {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return (
    pad(d.getUTCFullYear(), 4).slice(4 - yearDigits) + pad(d.getUTCMonth() + 1) + pad(d.getUTCDate()) +
    pad(d.getUTCHours()) + pad(d.getUTCMinutes()) + pad(d.getUTCSeconds()) + 'Z'
  );
}

// --- writer ---------------------------------------------------------------------------------

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One element with the given tag byte and content. */
export function derTlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else {
    const lenBytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) lenBytes.unshift(v & 0xff);
    header = [tag, 0x80 | lenBytes.length, ...lenBytes];
  }
  return concat([Uint8Array.from(header), content]);
}

export function derSequence(...elements: Uint8Array[]): Uint8Array {
  return derTlv(TAG.SEQUENCE, concat(elements));
}

/** A SET (OF), its elements sorted by their encodings as DER requires. */
export function derSet(...elements: Uint8Array[]): Uint8Array {
  return derTlv(TAG.SET, concat([...elements].sort(compareBytes)));
}

export function derBoolean(value: boolean): Uint8Array {
  return Uint8Array.of(TAG.BOOLEAN, 1, value ? 0xff : 0);
}

/** Explicit context tag `[n]` around one or more elements. */
export function derExplicit(n: number, ...elements: Uint8Array[]): Uint8Array {
  return derTlv(contextTag(n), concat(elements));
}

/** A signed INTEGER in minimal two's complement. */
export function derInteger(value: bigint | number): Uint8Array {
  let v = BigInt(value);
  const bytes: number[] = [];
  // Emit bytes until the remaining value is pure sign extension of the top byte emitted.
  for (;;) {
    const b = Number(v & 0xffn);
    bytes.unshift(b);
    v >>= 8n;
    if ((v === 0n && (b & 0x80) === 0) || (v === -1n && (b & 0x80) !== 0)) break;
  }
  return derTlv(TAG.INTEGER, Uint8Array.from(bytes));
}

/** A non-negative INTEGER from its big-endian magnitude (leading zeros are dropped). */
export function derUnsignedInteger(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  const needsZero = m.length === 0 || ((m[0] ?? 0) & 0x80) !== 0;
  return derTlv(TAG.INTEGER, needsZero ? concat([Uint8Array.of(0), m]) : m);
}

export function derOid(dotted: string): Uint8Array {
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(dotted)) throw new DerError(`invalid object identifier ${dotted}`);
  const arcs = dotted.split('.').map(Number);
  const [a = 0, b = 0, ...rest] = arcs;
  if ((a < 2 && b >= 40) || !arcs.every(Number.isSafeInteger)) {
    throw new DerError(`invalid object identifier ${dotted}`);
  }
  const out: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    const chunk: number[] = [arc % 128];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v % 128));
    out.push(...chunk);
  }
  return derTlv(TAG.OID, Uint8Array.from(out));
}

export function derOctetString(bytes: Uint8Array): Uint8Array {
  return derTlv(TAG.OCTET_STRING, bytes);
}

/** A BIT STRING; `unusedBits` low bits of the last byte are padding and must be zero. */
export function derBitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  const last = bytes[bytes.length - 1] ?? 0;
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0) ||
    (last & ((1 << unusedBits) - 1)) !== 0) {
    throw new DerError(`invalid bit string padding: ${unusedBits} unused bits`);
  }
  return derTlv(TAG.BIT_STRING, concat([Uint8Array.of(unusedBits), bytes]));
}

export function derNull(): Uint8Array {
  return Uint8Array.of(TAG.NULL, 0);
}

export function derPrintableString(s: string): Uint8Array {
  if (!PRINTABLE.test(s)) throw new DerError(`${JSON.stringify(s)} is not a PrintableString`);
  return derTlv(TAG.PRINTABLE_STRING, new TextEncoder().encode(s));
}

export function derUtf8String(s: string): Uint8Array {
  if (!s.isWellFormed()) throw new DerError('UTF8String with a lone surrogate');
  return derTlv(TAG.UTF8_STRING, new TextEncoder().encode(s));
}

/** Go's encoding of a string attribute: PrintableString when its alphabet allows, else UTF8String. */
export function derDirectoryString(s: string): Uint8Array {
  return PRINTABLE.test(s) ? derPrintableString(s) : derUtf8String(s);
}

const inUtcTimeWindow = (d: Date): boolean => d.getUTCFullYear() >= 1950 && d.getUTCFullYear() <= 2049;

/**
 * A UTCTime or GeneralizedTime (`tag`), to the second; by default RFC 5280's (and Go's) choice,
 * UTCTime for 1950–2049 and GeneralizedTime otherwise.
 */
export function derTime(d: Date, tag: number = inUtcTimeWindow(d) ? TAG.UTC_TIME : TAG.GENERALIZED_TIME): Uint8Array {
  const utc = tag === TAG.UTC_TIME;
  const year = d.getUTCFullYear();
  if ((tag !== TAG.GENERALIZED_TIME && !utc) || !(utc ? inUtcTimeWindow(d) : year >= 0 && year <= 9999)) {
    throw new DerError(`tag 0x${hex2(tag)} cannot hold the time ${Number.isNaN(year) ? 'Invalid Date' : d.toISOString()}`);
  }
  return derTlv(tag, new TextEncoder().encode(timeDigits(d, utc ? 2 : 4)));
}

export { concat as concatBytes };

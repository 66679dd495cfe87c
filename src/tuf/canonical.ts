/**
 * Canonical JSON as notary signs it (docker/go `MarshalCanonical`, docs/formats.md §2.1), the
 * non-canonical envelope encoding notary writes to files (§2.2), and a guarded JSON parse for
 * untrusted bytes.
 *
 * Contract: `canonicalBytes(v)` returns exactly the bytes Go notary would sign for the generic
 * JSON value `v`; it throws `ValidationError('NOT_CANONICALIZABLE')` where Go would fail (fractions,
 * NaN/Infinity) and, unlike Go, also for control characters, which Go would encode into bytes
 * that no reader can parse back. Non-goals: preserving the input's member order or escapes.
 */
import { ValidationError } from './errors.ts';

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

// A control character (< 0x20) inside a string; Go's envelope step fails on them.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f]/;
const NEEDS_ESCAPE = /["\\]/g;

/**
 * Orders two strings by their UTF-8 bytes, which equals code-point order. JS's default `<` compares
 * UTF-16 units, which disagrees only where a surrogate meets U+E000–U+FFFF, so remap those two ranges.
 */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x <= 0xdfff ? x + 0x2000 : x - 0x800;
      y = y <= 0xdfff ? y + 0x2000 : y - 0x800;
    }
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

function encodeString(s: string, path: string): string {
  if (CONTROL.test(s)) {
    throw new ValidationError(
      'NOT_CANONICALIZABLE',
      `invalid character in string literal at ${path || '(root)'}: control characters cannot be signed`,
      path,
    );
  }
  // Lone surrogates would become U+FFFD on the way to UTF-8 anyway (as Go decodes them); doing it
  // here keeps key ordering consistent with the bytes.
  const wf = s.isWellFormed() ? s : s.toWellFormed();
  return '"' + wf.replace(NEEDS_ESCAPE, (c) => '\\' + c) + '"';
}

function encodeNumber(n: number, path: string): string {
  if (!Number.isFinite(n)) {
    throw new ValidationError('NOT_CANONICALIZABLE', `json: unsupported value: ${n} at ${path || '(root)'}`, path);
  }
  if (!Number.isInteger(n)) {
    throw new ValidationError(
      'NOT_CANONICALIZABLE',
      `json: unsupported value: ${n} at ${path || '(root)'}: canonical JSON allows integers only`,
      path,
    );
  }
  if (!Number.isSafeInteger(n)) {
    throw new ValidationError(
      'NOT_CANONICALIZABLE',
      `integer ${n} at ${path || '(root)'} is beyond 2^53 and would not survive re-encoding`,
      path,
    );
  }
  return Object.is(n, -0) ? '0' : String(n);
}

function encode(v: unknown, path: string, out: string[]): void {
  if (v === null) return void out.push('null');
  switch (typeof v) {
    case 'string':
      out.push(encodeString(v, path));
      return;
    case 'number':
      out.push(encodeNumber(v, path));
      return;
    case 'boolean':
      out.push(v ? 'true' : 'false');
      return;
    case 'object':
      break;
    default:
      throw new ValidationError('NOT_CANONICALIZABLE', `json: unsupported type ${typeof v} at ${path || '(root)'}`, path);
  }
  if (Array.isArray(v)) {
    out.push('[');
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(',');
      encode(v[i], `${path}[${i}]`, out);
    }
    out.push(']');
    return;
  }
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj).sort(compareUtf8);
  out.push('{');
  let first = true;
  for (const k of keys) {
    const member = obj[k];
    if (member === undefined) continue; // absent, as Go's omitempty
    if (!first) out.push(',');
    first = false;
    const childPath = path ? `${path}.${k}` : k;
    out.push(encodeString(k, childPath), ':');
    encode(member, childPath, out);
  }
  out.push('}');
}

/**
 * Whether `JSON.stringify(v)` is already `v`'s canonical text: plain objects and arrays only, every
 * object's keys in ascending UTF-8 order (as notary writes them, so as parsed metadata has them),
 * strings without control characters or lone surrogates, numbers safe integers. Then the two
 * encoders agree byte for byte: JSON.stringify escapes only `"` and `\` in such strings, as Go's
 * canonical encoder does, and the native encoder is several times faster on a large targets file.
 *
 * `stringsChecked`: the caller saw that JSON.stringify's text has no backslash at all, so no
 * string holds a quote, backslash, control character or lone surrogate (each would have been
 * escaped); only the shape is left to check.
 */
function stringifyIsCanonical(v: unknown, stringsChecked: boolean): boolean {
  switch (typeof v) {
    case 'string':
      return stringsChecked || (!CONTROL.test(v) && v.isWellFormed());
    case 'number':
      return Number.isSafeInteger(v);
    case 'boolean':
      return true;
    case 'object':
      break;
    default:
      return false;
  }
  if (v === null) return true;
  const proto: unknown = Object.getPrototypeOf(v);
  if (Array.isArray(v)) {
    if (proto !== Array.prototype) return false;
    // Indexed, not `every`: a hole reads as undefined and is refused like the encoder refuses it.
    for (let i = 0; i < v.length; i++) if (!stringifyIsCanonical(v[i], stringsChecked)) return false;
    return true;
  }
  if (proto !== Object.prototype && proto !== null) return false;
  const obj = v as Record<string, unknown>;
  let previous: string | undefined;
  for (const k in obj) {
    if (previous !== undefined && compareUtf8(previous, k) >= 0) return false;
    if (!stringsChecked && (CONTROL.test(k) || !k.isWellFormed())) return false;
    const member = obj[k];
    // An undefined member is left out by both encoders; anything else must itself be canonical.
    if (member !== undefined && !stringifyIsCanonical(member, stringsChecked)) return false;
    previous = k;
  }
  return true;
}

/** Canonical JSON text of a generic JSON value. */
export function canonicalString(v: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    // Cycles, BigInt, nesting beyond the stack: the reference encoder gives the typed error.
  }
  if (text !== undefined && stringifyIsCanonical(v, !text.includes('\\'))) return text;
  const out: string[] = [];
  encode(v, '', out);
  return out.join('');
}

/** Canonical JSON bytes of a generic JSON value: what notary signs and hashes for key IDs. */
export function canonicalBytes(v: unknown): Uint8Array {
  return Buffer.from(canonicalString(v), 'utf8');
}

const HTML_UNSAFE = /[<>&\u2028\u2029]/g;
const HTML_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** Go's `json.Compact`/`HTMLEscape` pass over already-compact JSON text (§2.2). */
export function htmlEscape(json: string): string {
  return json.replace(HTML_UNSAFE, (c) => HTML_ESCAPES[c] ?? c);
}

export interface EnvelopeSignature {
  readonly keyid: string;
  readonly method: string;
  /** Standard base64 with padding. */
  readonly sig: string;
}

/**
 * The file bytes notary writes for a signed role: `signed` first, then `signatures`, each signature
 * in `keyid, method, sig` order, no whitespace, no trailing newline, HTML-unsafe characters escaped.
 */
export function encodeEnvelope(signed: unknown, signatures: readonly EnvelopeSignature[]): Uint8Array {
  const sigs = signatures
    .map((s) => `{"keyid":${encodeString(s.keyid, 'keyid')},"method":${encodeString(s.method, 'method')},"sig":${encodeString(s.sig, 'sig')}}`)
    .join(',');
  const text = `{"signed":${canonicalString(signed)},"signatures":[${sigs}]}`;
  return Buffer.from(htmlEscape(text), 'utf8');
}

const decoder = new TextDecoder('utf-8', { fatal: false });

/** Deepest nesting accepted from untrusted input; real metadata nests about six levels. */
export const MAX_JSON_DEPTH = 100;

/** The index of the quote closing the string opened at `open`, or -1 when it is not closed. */
function stringEnd(text: string, open: number): number {
  let j = open;
  for (;;) {
    j = text.indexOf('"', j + 1);
    if (j < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(j - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return j;
  }
}

/** Nesting depth of JSON text, ignoring brackets inside strings (skipped with indexOf). */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = stringEnd(text, i);
      if (i < 0) break; // unterminated: JSON.parse reports it
    } else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/**
 * Parses untrusted JSON bytes. Duplicate members keep the last value, as Go does; invalid UTF-8
 * becomes U+FFFD, as Go decodes it. Throws `ValidationError('MALFORMED_JSON')` on any failure,
 * including nesting deeper than `MAX_JSON_DEPTH` (which would later exhaust the encoder's stack).
 */
export function parseJson(bytes: Uint8Array, what = 'metadata'): JsonValue {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch (cause) {
    throw new ValidationError('MALFORMED_JSON', `${what} is not valid UTF-8`, '', { cause });
  }
  if (nestingDepth(text) > MAX_JSON_DEPTH) {
    throw new ValidationError('MALFORMED_JSON', `${what} nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new ValidationError('MALFORMED_JSON', `${what} is not valid JSON: ${detail}`, '', { cause });
  }
}

/** True for a plain JSON object (not an array, not null). */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The body of POST `/v2/<gun>/_trust/tuf/` (docs/formats.md §6.3): a multipart/form-data body
 * with one part per role file, the role taken from the raw `filename` parameter (slashes kept,
 * a `.json` suffix stripped), and only `signed.version` decoded for storage.
 *
 * Contract, in notary's order of checks: a body that is not multipart, or multipart that does not
 * parse, is `MALFORMED_UPLOAD`; a part whose Content-Disposition does not parse or has an empty
 * filename is `NO_FILENAME`; a name that is not a valid role is `INVALID_ROLE` (detail: the name);
 * a part that is not a JSON envelope with an integer `signed.version` is `MALFORMED_JSON`. Vouch
 * also refuses members outside `signed`/`signatures` (Cure53 TUF-01-001: unsigned data would be
 * stored and served) and parts over `maxPartBytes` (`TOO_LARGE`). The exact part bytes are kept.
 */
import { isJsonObject, parseJson } from '../tuf/canonical.ts';
import { isValidRoleName } from '../tuf/roles.ts';
import { parseExpiry } from '../tuf/time.ts';
import type { RoleName } from '../tuf/types.ts';
import { ServerError } from './errors.ts';
import type { PreviousVersions, UploadedFile } from './validate.ts';

export interface UploadLimits {
  readonly maxPartBytes: number;
  readonly maxParts: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = { maxPartBytes: 5 << 20, maxParts: 1000 };

export interface RawPart {
  /** Lower-cased header name → value (the first occurrence). */
  readonly headers: ReadonlyMap<string, string>;
  readonly data: Buffer;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Go's `mime.ParseMediaType`, strict: a token type, then `; key=value` parameters whose values are
 * tokens or quoted strings. Keys are lower-cased; a duplicate key is an error.
 */
export function parseMediaType(value: string): { type: string; params: Map<string, string> } | undefined {
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  const slash = type.indexOf('/');
  const valid = slash < 0 ? TOKEN.test(type) : TOKEN.test(type.slice(0, slash)) && TOKEN.test(type.slice(slash + 1));
  if (!valid) return undefined;
  const params = new Map<string, string>();
  let rest = semi < 0 ? '' : value.slice(semi);
  while (rest.trim() !== '') {
    const m = /^\s*;\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*/.exec(rest);
    if (m === null) {
      if (/^\s*;\s*$/.test(rest)) break; // a trailing semicolon, as Go tolerates
      return undefined;
    }
    rest = rest.slice(m[0].length);
    let v: string;
    if (rest.startsWith('"')) {
      let i = 1;
      v = '';
      for (; i < rest.length && rest[i] !== '"'; i++) {
        if (rest[i] === '\\' && i + 1 < rest.length) i++;
        v += rest[i];
      }
      if (i >= rest.length) return undefined;
      rest = rest.slice(i + 1);
    } else {
      const t = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(rest);
      if (t === null) return undefined;
      v = t[0];
      rest = rest.slice(v.length);
    }
    const key = (m[1] as string).toLowerCase();
    if (params.has(key)) return undefined;
    params.set(key, v);
  }
  return { type, params };
}

function malformed(why: string): ServerError {
  return new ServerError('MALFORMED_UPLOAD', undefined, { message: `malformed multipart body: ${why}` });
}

/** Index of the next delimiter line (`--boundary` at the start of a line) at or after `from`. */
function findDelimiter(body: Buffer, delimiter: Buffer, from: number): { start: number; end: number; final: boolean } | undefined {
  let at = body.indexOf(delimiter, from);
  while (at >= 0) {
    const lineStart = at === 0 || body[at - 1] === 0x0a;
    let i = at + delimiter.length;
    const final = body[i] === 0x2d && body[i + 1] === 0x2d;
    if (final) i += 2;
    while (body[i] === 0x20 || body[i] === 0x09) i++;
    const eol = body[i] === 0x0a ? 1 : body[i] === 0x0d && body[i + 1] === 0x0a ? 2 : i >= body.length && final ? 0 : -1;
    if (lineStart && eol >= 0) {
      const start = at >= 2 && body[at - 2] === 0x0d ? at - 2 : at > 0 ? at - 1 : at;
      return { start, end: i + eol, final };
    }
    at = body.indexOf(delimiter, at + 1);
  }
  return undefined;
}

function parseHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  let last: string | undefined;
  for (const line of block.split(/\r?\n/)) {
    if (line === '') continue;
    if ((line.startsWith(' ') || line.startsWith('\t')) && last !== undefined) {
      headers.set(last, `${headers.get(last) ?? ''} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed('a part header line has no name');
    last = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(last)) headers.set(last, line.slice(colon + 1).trim());
  }
  return headers;
}

/** Splits a buffered multipart body into parts, or throws MALFORMED_UPLOAD / TOO_LARGE. */
export function parseMultipart(contentType: string | undefined, body: Buffer, limits: UploadLimits = DEFAULT_UPLOAD_LIMITS): RawPart[] {
  const media = contentType === undefined ? undefined : parseMediaType(contentType);
  if (media === undefined || (media.type !== 'multipart/form-data' && media.type !== 'multipart/mixed')) throw malformed('not multipart/form-data');
  const boundary = media.params.get('boundary');
  if (boundary === undefined || boundary === '' || boundary.length > 200) throw malformed('no boundary');
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  let d = findDelimiter(body, delimiter, 0);
  if (d === undefined) throw malformed('no opening boundary');
  const parts: RawPart[] = [];
  while (!d.final) {
    const partStart = d.end;
    const next = findDelimiter(body, delimiter, partStart);
    if (next === undefined) throw malformed('no closing boundary');
    const raw = body.subarray(partStart, Math.max(partStart, next.start));
    const crlf = raw.indexOf('\r\n\r\n');
    const lf = raw.indexOf('\n\n');
    let headerEnd: number;
    let bodyStart: number;
    if (raw[0] === 0x0a || (raw[0] === 0x0d && raw[1] === 0x0a)) {
      headerEnd = 0;
      bodyStart = raw[0] === 0x0a ? 1 : 2;
    } else if (crlf >= 0 && (lf < 0 || crlf < lf)) {
      headerEnd = crlf;
      bodyStart = crlf + 4;
    } else if (lf >= 0) {
      headerEnd = lf;
      bodyStart = lf + 2;
    } else {
      throw malformed('a part has no header terminator');
    }
    const data = raw.subarray(bodyStart);
    if (data.length > limits.maxPartBytes) {
      throw new ServerError('TOO_LARGE', undefined, { message: `a part of ${data.length} bytes is over the limit of ${limits.maxPartBytes}` });
    }
    if (parts.length >= limits.maxParts) throw malformed(`more than ${limits.maxParts} parts`);
    parts.push({ headers: parseHeaders(raw.subarray(0, headerEnd).toString('latin1')), data });
    d = next;
  }
  return parts;
}

const ENVELOPE_MEMBERS = new Set(['signed', 'signatures']);

/** notary's `SignedMeta` decode: the version for storage, and the shape checks Go's decoder makes. */
function envelopeVersion(data: Buffer): number | undefined {
  let doc;
  try {
    doc = parseJson(data, 'upload');
  } catch {
    return undefined;
  }
  if (!isJsonObject(doc) || Object.keys(doc).some((k) => !ENVELOPE_MEMBERS.has(k))) return undefined;
  const { signed, signatures } = doc;
  if (!isJsonObject(signed)) return undefined;
  const version = signed['version'];
  if (typeof version !== 'number' || !Number.isSafeInteger(version)) return undefined;
  if (signed['_type'] !== undefined && typeof signed['_type'] !== 'string') return undefined;
  if (signed['expires'] !== undefined) {
    try {
      parseExpiry(signed['expires']);
    } catch {
      return undefined;
    }
  }
  if (signatures !== undefined && signatures !== null) {
    if (!Array.isArray(signatures)) return undefined;
    for (const s of signatures) {
      if (!isJsonObject(s)) return undefined;
      for (const f of ['keyid', 'method', 'sig']) if (s[f] !== undefined && s[f] !== null && typeof s[f] !== 'string') return undefined;
    }
  }
  return version;
}

/** Turns parts into role files, or throws NO_FILENAME / INVALID_ROLE / MALFORMED_JSON. */
const EARLIER_ROOT = /^([1-9][0-9]{0,15})\.root$/;

export function uploadedFiles(parts: readonly RawPart[]): UploadedFile[] {
  const files: UploadedFile[] = [];
  for (const part of parts) {
    const disposition = part.headers.get('content-disposition');
    const parsed = disposition === undefined ? undefined : parseMediaType(disposition);
    if (parsed === undefined) throw new ServerError('NO_FILENAME');
    const filename = parsed.params.get('filename') ?? '';
    const role = filename.endsWith('.json') ? filename.slice(0, -'.json'.length) : filename;
    if (role === '') throw new ServerError('NO_FILENAME');
    const earlier = EARLIER_ROOT.exec(role);
    if (earlier !== null) {
      // Vouch only: `<n>.root`, an earlier root version of a collection moving here (validate.ts).
      const version = envelopeVersion(part.data);
      if (version !== Number(earlier[1])) throw new ServerError('MALFORMED_JSON', undefined, { message: `the ${role} part is not root version ${earlier[1]}` });
      files.push({ role: 'root' as RoleName, version, data: new Uint8Array(part.data), earlierRoot: true });
      continue;
    }
    if (!isValidRoleName(role)) throw new ServerError('INVALID_ROLE', role);
    const version = envelopeVersion(part.data);
    if (version === undefined) throw new ServerError('MALFORMED_JSON', undefined, { message: `the ${role} part is not a metadata envelope` });
    files.push({ role: role as RoleName, version, data: new Uint8Array(part.data) });
  }
  return files;
}

/** The request header through which `vouch migrate` passes the old server's versions (Vouch only). */
export const PREVIOUS_VERSIONS_HEADER = 'vouch-previous-versions';

const PREVIOUS_VERSION_ITEM = /^(snapshot|timestamp)=([1-9][0-9]{0,15})$/;

/**
 * `Vouch-Previous-Versions: snapshot=9, timestamp=7` — the versions a moved collection's snapshot
 * and timestamp had on its old server (validate.ts uses them only for a GUN's first publish).
 * Absent: undefined. Anything else than one or two distinct `role=version` items with versions
 * up to 2^53 − 1 is `INVALID_PARAMETERS`, before the body is looked at.
 */
export function parsePreviousVersions(value: string | string[] | undefined): PreviousVersions | undefined {
  if (value === undefined) return undefined;
  const bad = (why: string) => new ServerError('INVALID_PARAMETERS', `${PREVIOUS_VERSIONS_HEADER}: ${why}`);
  if (Array.isArray(value)) throw bad('given more than once');
  if (value.length > 64) throw bad('too long');
  const out: { snapshot?: number; timestamp?: number } = {};
  for (const item of value.split(',')) {
    const m = PREVIOUS_VERSION_ITEM.exec(item.trim());
    if (m === null) throw bad('expected snapshot=<version>, timestamp=<version>');
    const role = m[1] as 'snapshot' | 'timestamp';
    const version = Number(m[2]);
    if (out[role] !== undefined) throw bad(`${role} given twice`);
    if (!Number.isSafeInteger(version)) throw bad(`${role} version out of range`);
    out[role] = version;
  }
  return out;
}

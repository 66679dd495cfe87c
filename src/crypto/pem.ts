/**
 * PEM as Go's `encoding/pem` reads and writes it. Notary puts headers (`role`, `gun`, `path`) into
 * PEM blocks that OpenSSL and Node refuse, so Vouch parses PEM itself and hands DER onwards.
 *
 * Encoding is byte-exact with Go's `pem.EncodeToMemory`: headers sorted by name (`Proc-Type` first
 * when present), a blank line after headers, base64 in 64-column lines, LF line ends, a trailing
 * newline. Root key IDs depend on this layout (docs/formats.md §0 trap 5).
 */
import { VouchError } from '../errors.ts';

export interface PemBlock {
  readonly type: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly bytes: Uint8Array;
}

export class PemError extends VouchError<'INVALID_PEM'> {
  constructor(message: string) {
    super('INVALID_PEM', message);
  }
}

const BEGIN = /-----BEGIN ([^\n-]*)-----/g;

export function encodePem(block: { type: string; headers?: Readonly<Record<string, string>>; bytes: Uint8Array }): string {
  let out = `-----BEGIN ${block.type}-----\n`;
  const headers = block.headers ?? {};
  const names = Object.keys(headers).filter((k) => k !== 'Proc-Type').sort();
  if (headers['Proc-Type'] !== undefined) names.unshift('Proc-Type');
  for (const k of names) out += `${k}: ${headers[k]}\n`;
  if (names.length > 0) out += '\n';
  const b64 = Buffer.from(block.bytes).toString('base64');
  for (let i = 0; i < b64.length; i += 64) out += b64.slice(i, i + 64) + '\n';
  out += `-----END ${block.type}-----\n`;
  return out;
}

/**
 * Decodes every PEM block in `text`, in order, skipping text between blocks as Go does.
 * A block with a broken body or a missing END line is an error rather than silently dropped.
 */
export function decodePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  BEGIN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = BEGIN.exec(text)) !== null) {
    const type = m[1] ?? '';
    const bodyStart = m.index + m[0].length;
    const endMarker = `-----END ${type}-----`;
    const end = text.indexOf(endMarker, bodyStart);
    if (end < 0) throw new PemError(`PEM block ${type} has no END line`);
    blocks.push(parseBody(type, text.slice(bodyStart, end)));
    BEGIN.lastIndex = end + endMarker.length;
  }
  return blocks;
}

/** The first PEM block in `text`, or an error naming what was expected. */
export function decodeFirstPem(text: string, what = 'PEM data'): PemBlock {
  const [first] = decodePemBlocks(text);
  if (first === undefined) throw new PemError(`no PEM block found in ${what}`);
  return first;
}

function parseBody(type: string, body: string): PemBlock {
  const lines = body.replace(/\r\n/g, '\n').split('\n');
  const headers: Record<string, string> = {};
  let i = 0;
  // Skip the rest of the BEGIN line (normally empty).
  if (lines[0]?.trim() === '') i = 1;
  // Headers are `Key: value` lines up to a blank line; absent headers mean base64 starts at once.
  const headerLines: string[] = [];
  let j = i;
  while (j < lines.length && (lines[j] ?? '').includes(':')) headerLines.push(lines[j++] ?? '');
  if (headerLines.length > 0) {
    for (const h of headerLines) {
      const idx = h.indexOf(':');
      headers[h.slice(0, idx).trim()] = h.slice(idx + 1).trim();
    }
    if ((lines[j] ?? '').trim() !== '') throw new PemError(`PEM block ${type} has no blank line after its headers`);
    i = j + 1;
  }
  const b64 = lines.slice(i).join('').replace(/[ \t]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    throw new PemError(`PEM block ${type} has an invalid base64 body`);
  }
  return { type, headers, bytes: new Uint8Array(Buffer.from(b64, 'base64')) };
}

/**
 * Argument parsing with notary's rules and messages: Go's `strconv.ParseInt(s, 0, 64)` for sizes
 * and indices, hex digests of the exact length, and Vouch's bulk target list.
 */
import type { FileMeta } from '../../tuf/metadata.ts';

/** Go's ParseInt with base 0: decimal, `0x`, `0o`/leading `0`, `0b`, optional sign and `_`. */
export function parseGoInt(s: string): number {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO]?[0-7_]+|[1-9][0-9_]*|0)$/.exec(s);
  const fail = (): never => {
    throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`);
  };
  if (m === null || s.includes('__') || /_$/.test(s)) return fail();
  const sign = m[1] === '-' ? -1n : 1n;
  const body = (m[2] ?? '').replace(/_/g, '');
  let v: bigint;
  if (/^0[xX]/.test(body)) v = BigInt(body);
  else if (/^0[bB]/.test(body)) v = BigInt(body);
  else if (/^0[oO]/.test(body)) v = BigInt(`0o${body.slice(2)}`);
  else if (body.length > 1 && body.startsWith('0')) v = BigInt(`0o${body.slice(1)}`);
  else v = BigInt(body);
  v *= sign;
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(s)}: value out of range`);
  }
  return Number(v);
}

function hexDigest(hex: string, alg: 'sha256' | 'sha512', size: number): Uint8Array {
  if (hex.length !== size * 2) throw new Error(`invalid ${alg} hex contents provided`);
  const bad = /[^0-9a-fA-F]/.exec(hex);
  if (bad !== null) throw new Error(`encoding/hex: invalid byte: U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} ${JSON.stringify(bad[0]).replace(/"/g, "'")}`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** `--sha256`/`--sha512` as notary's addhash checks them. */
export function hashesFromHex(sha256: string | undefined, sha512: string | undefined): Map<string, Uint8Array> {
  const hashes = new Map<string, Uint8Array>();
  if (sha256 !== undefined && sha256 !== '') hashes.set('sha256', hexDigest(sha256, 'sha256', 32));
  if (sha512 !== undefined && sha512 !== '') hashes.set('sha512', hexDigest(sha512, 'sha512', 64));
  return hashes;
}

export const MAX_BULK_TARGETS = 1_000_000;

/**
 * Bulk target lines: `<name> <size> <sha256 hex> [<sha512 hex>]`, separated by blanks; empty
 * lines and `#` comments are skipped. Errors name the line.
 */
export function parseBulkTargets(text: string): { name: string; meta: FileMeta }[] {
  const out: { name: string; meta: FileMeta }[] = [];
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const cols = line.split(/\s+/);
    const where = `line ${i + 1}`;
    if (cols.length < 3 || cols.length > 4) throw new Error(`${where}: expected "name size sha256 [sha512]", got ${cols.length} fields`);
    const [name, size, sha256, sha512] = cols as [string, string, string, string | undefined];
    if (seen.has(name)) throw new Error(`${where}: target ${JSON.stringify(name)} is listed twice`);
    seen.add(name);
    let length: number;
    let hashes: Map<string, Uint8Array>;
    try {
      length = parseGoInt(size);
      if (length < 0) throw new Error(`size ${size} is negative`);
      hashes = hashesFromHex(sha256, sha512);
    } catch (e) {
      throw new Error(`${where}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    out.push({ name, meta: { length, hashes, unrecognized: {} } });
    if (out.length > MAX_BULK_TARGETS) throw new Error(`more than ${MAX_BULK_TARGETS} targets in one batch`);
  }
  if (out.length === 0) throw new Error('no targets listed');
  return out;
}

/**
 * `notary key list` output, byte for byte (cmd/notary/prettyprint.go): root keys first, then by
 * GUN, role, key ID and location; GUN and location left-truncated with `...` to 25 and 40 bytes;
 * columns laid out like Go's tabwriter (minwidth 4, padding 4, spaces); the table framed by blank
 * lines; `No signing keys found.` for an empty store. Also the `--json` form.
 */
import type { KeyInfo } from './file-store.ts';

const MAX_GUN_WIDTH = 25;
const MAX_LOCATION_WIDTH = 40;
const MIN_WIDTH = 4;
const PADDING = 4;

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** notary's `keyInfoSorter`. */
export function sortKeysForListing(keys: readonly KeyInfo[]): KeyInfo[] {
  return [...keys].sort((a, b) => {
    if (a.role !== b.role) {
      if (a.role === 'root') return -1;
      if (b.role === 'root') return 1;
    }
    for (const [x, y] of [[a.gun, b.gun], [a.role, b.role], [a.keyId, b.keyId], [a.location, b.location]] as const) {
      const c = compareBytes(x, y);
      if (c !== 0) return c;
    }
    return 0;
  });
}

function truncateLeft(s: string, max: number): string {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length <= max) return s;
  return '...' + bytes.subarray(bytes.length - (max - 3)).toString('utf8');
}

/** Go's tabwriter counts runes. */
function width(s: string): number {
  return [...s].length;
}

/** Lays out rows whose cells end in tabs except the last, as `text/tabwriter` does with these settings. */
export function tabulate(rows: readonly (readonly string[])[]): string {
  const columns = Math.max(0, ...rows.map((r) => r.length - 1));
  const widths: number[] = [];
  for (let c = 0; c < columns; c++) {
    const w = Math.max(0, ...rows.map((r) => (c < r.length - 1 ? width(r[c] ?? '') : 0)));
    widths.push(Math.max(MIN_WIDTH, w + PADDING));
  }
  return rows.map((r) => r.map((cell, c) => (c < r.length - 1 ? cell + ' '.repeat((widths[c] ?? 0) - width(cell)) : cell)).join('') + '\n').join('');
}

/** The full stdout of `notary key list`. */
export function formatKeyList(keys: readonly KeyInfo[]): string {
  if (keys.length === 0) return '\nNo signing keys found.\n\n';
  const header = ['ROLE', 'GUN', 'KEY ID', 'LOCATION'];
  const rows = [header, header.map((h) => '-'.repeat(h.length))];
  for (const k of sortKeysForListing(keys)) {
    rows.push([k.role, truncateLeft(k.gun, MAX_GUN_WIDTH), k.keyId, truncateLeft(k.location, MAX_LOCATION_WIDTH)]);
  }
  return '\n' + tabulate(rows) + '\n';
}

/** `vouch key list --json`: the same order, nothing truncated. */
export function formatKeyListJson(keys: readonly KeyInfo[]): string {
  const out = sortKeysForListing(keys).map((k) => ({ id: k.keyId, role: k.role, gun: k.gun, location: k.location, path: k.path }));
  return JSON.stringify(out, null, 2) + '\n';
}

/**
 * notary's output formats, byte for byte (cmd/notary/prettyprint.go): Go's text/tabwriter with
 * minwidth 4, tabwidth 4, padding 4, space padding, for the targets, delegations and changelist
 * tables, plus the empty-repository messages.
 */
import type { StagedChange } from '../../client/changelist.ts';
import { compareUtf8 } from '../../tuf/canonical.ts';
import type { DelegationInfo, TargetWithRole } from '../../client/reader.ts';

const MIN_WIDTH = 4;
const PADDING = 4;

const HIGH_SURROGATES = /[\ud800-\udbff]/g;

/** Width in runes, as Go's tabwriter counts (UTF-16 length minus the surrogate pairs). */
function runes(s: string): number {
  HIGH_SURROGATES.lastIndex = 0;
  return HIGH_SURROGATES.test(s) ? s.length - (s.match(HIGH_SURROGATES)?.length ?? 0) : s.length;
}

/**
 * Go's tabwriter for rows of equal cell count: every cell but the last is padded to the column's
 * widest cell plus 4 (at least 4); the last cell is written as is.
 */
export function tabwrite(rows: readonly (readonly string[])[]): string {
  let cols = 0;
  for (const r of rows) cols = Math.max(cols, r.length);
  const widths = new Array<number>(Math.max(0, cols - 1)).fill(MIN_WIDTH);
  for (const r of rows) {
    for (let j = 0; j < r.length - 1; j++) widths[j] = Math.max(widths[j] ?? MIN_WIDTH, runes(r[j] ?? '') + PADDING);
  }
  const lines = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as readonly string[];
    let line = '';
    for (let j = 0; j < r.length - 1; j++) {
      const cell = r[j] ?? '';
      // padEnd counts UTF-16 units; widen by the cell's surrogate pairs so the padding is in runes.
      line += cell.padEnd((widths[j] ?? MIN_WIDTH) + cell.length - runes(cell));
    }
    lines[i] = r.length > 0 ? line + (r[r.length - 1] ?? '') : line;
  }
  return lines.join('\n') + (rows.length > 0 ? '\n' : '');
}

/** A header row, a row of dashes under each header, then the rows. */
export function table(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  return tabwrite([columns, columns.map((c) => '-'.repeat(c.length)), ...rows]);
}

/** Go's `sort.Strings` order (byte-wise, i.e. code-point order). */
export const byteOrder = compareUtf8;

const TARGET_COLUMNS = ['NAME', 'DIGEST', 'SIZE (BYTES)', 'ROLE'] as const;

/**
 * `table(TARGET_COLUMNS, rows)` for the targets list, built column-wise without a row array per
 * target (a list can hold tens of thousands); the output is byte for byte the same.
 */
export function formatTargets(targets: readonly TargetWithRole[]): string {
  if (targets.length === 0) return '\nNo targets present in this repository.\n\n';
  const sorted = [...targets].sort((a, b) => byteOrder(a.name, b.name));
  const n = sorted.length;
  const digests = new Array<string>(n);
  const sizes = new Array<string>(n);
  const widths = TARGET_COLUMNS.slice(0, 3).map((c) => Math.max(MIN_WIDTH, c.length + PADDING));
  const nameRunes = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t = sorted[i] as TargetWithRole;
    const sha = t.meta.hashes.get('sha256');
    digests[i] = sha === undefined ? '' : Buffer.from(sha.buffer, sha.byteOffset, sha.byteLength).toString('hex');
    sizes[i] = String(t.meta.length);
    nameRunes[i] = runes(t.name);
    widths[0] = Math.max(widths[0] as number, (nameRunes[i] as number) + PADDING);
    widths[1] = Math.max(widths[1] as number, (digests[i] as string).length + PADDING);
    widths[2] = Math.max(widths[2] as number, (sizes[i] as string).length + PADDING);
  }
  const [w0, w1, w2] = widths as [number, number, number];
  const row = (name: string, nameWidth: number, digest: string, size: string, role: string) =>
    name.padEnd(w0 + name.length - nameWidth) + digest.padEnd(w1) + size.padEnd(w2) + role;
  const lines = new Array<string>(n + 2);
  const [c0, c1, c2, c3] = TARGET_COLUMNS;
  lines[0] = row(c0, c0.length, c1, c2, c3);
  lines[1] = row('-'.repeat(c0.length), c0.length, '-'.repeat(c1.length), '-'.repeat(c2.length), '-'.repeat(c3.length));
  for (let i = 0; i < n; i++) {
    const t = sorted[i] as TargetWithRole;
    lines[i + 2] = row(t.name, nameRunes[i] as number, digests[i] as string, sizes[i] as string, t.role);
  }
  return lines.join('\n') + '\n';
}

/** notary prints the empty path as `"" <all paths>`, after sorting. */
export function prettyPaths(paths: readonly string[]): string[] {
  return [...paths].sort(byteOrder).map((p) => (p === '' ? '"" <all paths>' : p));
}

export function formatDelegations(roles: readonly DelegationInfo[]): string {
  if (roles.length === 0) return '\nNo delegations present in this repository.\n\n';
  const rows: string[][] = [];
  for (const r of [...roles].sort((a, b) => byteOrder(a.name, b.name))) {
    const paths = prettyPaths(r.paths);
    rows.push([r.name, paths[0] ?? '', r.keyIds[0] ?? '', String(r.threshold)]);
    for (let i = 1; i < Math.max(paths.length, r.keyIds.length); i++) rows.push(['', paths[i] ?? '', r.keyIds[i] ?? '', '']);
  }
  return table(['ROLE', 'PATHS', 'KEY IDS', 'THRESHOLD'], rows);
}

export function formatStatus(gun: string, changes: readonly StagedChange[]): string {
  if (changes.length === 0) return `No unpublished changes for ${gun}\n`;
  const rows = changes.map((c, i) => [String(i), c.action, c.role, c.type, c.path]);
  return `Unpublished changes for ${gun}:\n\n${table(['#', 'ACTION', 'SCOPE', 'TYPE', 'PATH'], rows)}`;
}

/** Go's `%s` of a string slice: `[a b c]`. */
export function goList(items: readonly string[]): string {
  return `[${items.join(' ')}]`;
}

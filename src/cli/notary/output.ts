/**
 * notary's output formats, byte for byte (cmd/notary/prettyprint.go): Go's text/tabwriter with
 * minwidth 4, tabwidth 4, padding 4, space padding, for the targets, delegations and changelist
 * tables, plus the empty-repository messages.
 */
import type { StagedChange } from '../../client/changelist.ts';
import type { DelegationInfo, TargetWithRole } from '../../client/reader.ts';

const MIN_WIDTH = 4;
const PADDING = 4;

const runes = (s: string): number => [...s].length;

/**
 * Go's tabwriter for rows of equal cell count: every cell but the last is padded to the column's
 * widest cell plus 4 (at least 4); the last cell is written as is.
 */
export function tabwrite(rows: readonly (readonly string[])[]): string {
  const cols = Math.max(0, ...rows.map((r) => r.length));
  const widths: number[] = [];
  for (let j = 0; j < cols - 1; j++) {
    widths.push(Math.max(MIN_WIDTH, ...rows.map((r) => runes(r[j] ?? '') + PADDING)));
  }
  return rows
    .map((r) => r.map((cell, j) => (j < r.length - 1 ? cell + ' '.repeat((widths[j] ?? MIN_WIDTH) - runes(cell)) : cell)).join('') + '\n')
    .join('');
}

/** A header row, a row of dashes under each header, then the rows. */
export function table(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  return tabwrite([columns, columns.map((c) => '-'.repeat(c.length)), ...rows]);
}

/** Go's `sort.Strings` order (byte-wise). */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function formatTargets(targets: readonly TargetWithRole[]): string {
  if (targets.length === 0) return '\nNo targets present in this repository.\n\n';
  const sorted = [...targets].sort((a, b) => byteOrder(a.name, b.name));
  const rows = sorted.map((t) => {
    const sha = t.meta.hashes.get('sha256');
    return [t.name, sha === undefined ? '' : Buffer.from(sha).toString('hex'), String(t.meta.length), t.role];
  });
  return table(['NAME', 'DIGEST', 'SIZE (BYTES)', 'ROLE'], rows);
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

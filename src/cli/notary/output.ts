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

/** `targets` in Go's `sort.Strings` order; a list already in that order (the usual case: canonical
 * JSON stores names sorted) is returned as is after one linear check. */
function sortedByName(targets: readonly TargetWithRole[]): readonly TargetWithRole[] {
  for (let i = 1; i < targets.length; i++) {
    if (byteOrder((targets[i - 1] as TargetWithRole).name, (targets[i] as TargetWithRole).name) > 0) {
      return [...targets].sort((a, b) => byteOrder(a.name, b.name));
    }
  }
  return targets;
}

/** Hex sha256 of every target ('' where absent), converted in one native call, not one per row. */
function hexDigests(targets: readonly TargetWithRole[]): string[] {
  const n = targets.length;
  // Byte offsets of each digest in one buffer (a sha256 entry is 32 bytes unless the file says otherwise).
  const start = new Uint32Array(n + 1);
  for (let i = 0; i < n; i++) start[i + 1] = (start[i] as number) + ((targets[i] as TargetWithRole).meta.hashes.get('sha256')?.byteLength ?? 0);
  const all = Buffer.allocUnsafe(start[n] as number);
  for (let i = 0; i < n; i++) {
    const sha = (targets[i] as TargetWithRole).meta.hashes.get('sha256');
    if (sha !== undefined) all.set(sha, start[i]);
  }
  const hex = all.toString('hex');
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = hex.slice(2 * (start[i] as number), 2 * (start[i + 1] as number));
  return out;
}

/**
 * `table(TARGET_COLUMNS, rows)` for the targets list, built column-wise without a row array per
 * target (a list can hold tens of thousands); the output is byte for byte the same.
 */
export function formatTargets(targets: readonly TargetWithRole[]): string {
  if (targets.length === 0) return '\nNo targets present in this repository.\n\n';
  const sorted = sortedByName(targets);
  const n = sorted.length;
  const digests = hexDigests(sorted);
  const sizes = new Array<string>(n);
  const nameRunes = new Array<number>(n);
  let w0 = Math.max(MIN_WIDTH, TARGET_COLUMNS[0].length + PADDING);
  let w1 = Math.max(MIN_WIDTH, TARGET_COLUMNS[1].length + PADDING);
  let w2 = Math.max(MIN_WIDTH, TARGET_COLUMNS[2].length + PADDING);
  for (let i = 0; i < n; i++) {
    const t = sorted[i] as TargetWithRole;
    const size = String(t.meta.length);
    sizes[i] = size;
    const r = runes(t.name);
    nameRunes[i] = r;
    if (r + PADDING > w0) w0 = r + PADDING;
    if ((digests[i] as string).length + PADDING > w1) w1 = (digests[i] as string).length + PADDING;
    if (size.length + PADDING > w2) w2 = size.length + PADDING;
  }
  // Padding by slicing one run of spaces: cheaper than padEnd per cell, same bytes.
  const spaces = ' '.repeat(Math.max(w0, w1, w2));
  const row = (name: string, nameWidth: number, digest: string, size: string, role: string) =>
    name + spaces.slice(0, w0 - nameWidth) + digest + spaces.slice(0, w1 - digest.length) + size + spaces.slice(0, w2 - size.length) + role;
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

/**
 * Output and argument rules of the notary-style CLI: Go's tabwriter layout (runes, not UTF-16
 * units), notary's empty-table texts, sorting by bytes, Go's ParseInt, addhash's hex checks,
 * and the bulk target list of `add --from-file`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { byteOrder, formatDelegations, formatStatus, formatTargets, goList, table, tabwrite } from '../../src/cli/notary/output.ts';
import { hashesFromHex, parseBulkTargets, parseGoInt } from '../../src/cli/notary/parse.ts';
import type { RoleName } from '../../src/tuf/types.ts';

test('tabwriter: minwidth 4, padding 4, last cell unpadded, widths in runes', () => {
  assert.equal(tabwrite([['a', 'bb', 'c'], ['dddd', 'e', 'ffff']]), 'a       bb    c\ndddd    e     ffff\n');
  assert.equal(tabwrite([['😀', 'x'], ['ab', 'y']]), '😀     x\nab    y\n'); // the emoji is one rune wide, not two units
  assert.equal(tabwrite([]), '');
});

test('targets table, sorted by name bytes; notary\'s empty texts', () => {
  const meta = (n: number) => ({ length: n, hashes: new Map([['sha256', new Uint8Array(32).fill(n)]]), unrecognized: {} });
  const rows = [
    { name: 'z', meta: meta(1), role: 'targets' as RoleName },
    { name: '\uff61', meta: meta(2), role: 'targets/releases' as RoleName },
    { name: '\u{1f600}', meta: meta(3), role: 'targets' as RoleName },
  ];
  const text = formatTargets(rows);
  assert.deepEqual(text.split('\n').map((l) => l.split(/\s+/)[0]), ['NAME', '----', 'z', '\uff61', '\u{1f600}', '']);
  assert.equal(text.split('\n')[0], `NAME    DIGEST${' '.repeat(62)}SIZE (BYTES)    ROLE`);
  assert.equal(formatTargets([]), '\nNo targets present in this repository.\n\n');
  assert.equal(formatDelegations([]), '\nNo delegations present in this repository.\n\n');
  assert.equal(formatStatus('g', []), 'No unpublished changes for g\n');
  assert.equal(goList(['a', 'b']), '[a b]');
});

test('delegation table: extra rows for further paths and keys, "" shown as all paths', () => {
  const text = formatDelegations([{ name: 'targets/a' as RoleName, paths: ['z/', ''], keyIds: ['k1', 'k2', 'k3'], threshold: 2 }]);
  assert.equal(text, [
    'ROLE         PATHS             KEY IDS    THRESHOLD',
    '----         -----             -------    ---------',
    'targets/a    "" <all paths>    k1         2',
    '             z/                k2         ',
    '                               k3         ',
    '',
  ].join('\n'));
});

test('Go ParseInt base 0 and notary\'s hash checks', () => {
  assert.equal(parseGoInt('12'), 12);
  assert.equal(parseGoInt('0x1f'), 31);
  assert.equal(parseGoInt('017'), 15);
  assert.equal(parseGoInt('0b101'), 5);
  assert.equal(parseGoInt('1_000'), 1000);
  assert.throws(() => parseGoInt('12a'), { message: 'strconv.ParseInt: parsing "12a": invalid syntax' });
  assert.throws(() => hashesFromHex('ab', undefined), { message: 'invalid sha256 hex contents provided' });
  assert.throws(() => hashesFromHex(`${'0'.repeat(63)}g`, undefined), { message: "encoding/hex: invalid byte: U+0067 'g'" });
  assert.deepEqual([...hashesFromHex('0'.repeat(64), '1'.repeat(128)).keys()], ['sha256', 'sha512']);
});

test('bulk target lines: name size sha256 [sha512], comments, and errors naming the line', () => {
  const sha = 'a'.repeat(64);
  const out = parseBulkTargets(`# a comment\n\nv1 12 ${sha}\r\nv2 0x10 ${sha} ${'b'.repeat(128)}\n`);
  assert.deepEqual(out.map((e) => [e.name, e.meta.length, [...e.meta.hashes.keys()]]), [['v1', 12, ['sha256']], ['v2', 16, ['sha256', 'sha512']]]);
  assert.throws(() => parseBulkTargets(`v1 12\n`), { message: 'line 1: expected "name size sha256 [sha512]", got 2 fields' });
  assert.throws(() => parseBulkTargets(`v1 12 ${sha}\nv1 13 ${sha}\n`), { message: 'line 2: target "v1" is listed twice' });
  assert.throws(() => parseBulkTargets(`v1 -3 ${sha}\n`), { message: 'line 1: size -3 is negative' });
  assert.throws(() => parseBulkTargets('\n# nothing\n'), { message: 'no targets listed' });
});

test('targets table: a sha256 of unusual length is shown as its hex, an absent one as an empty cell', () => {
  const rows = [
    { name: 'a', meta: { length: 1, hashes: new Map([['sha256', new Uint8Array([0xab, 0xcd])]]), unrecognized: {} }, role: 'targets' as RoleName },
    { name: 'b', meta: { length: 22, hashes: new Map<string, Uint8Array>(), unrecognized: {} }, role: 'targets' as RoleName },
  ];
  assert.equal(formatTargets(rows), tabwrite([
    ['NAME', 'DIGEST', 'SIZE (BYTES)', 'ROLE'], ['----', '------', '------------', '----'],
    ['a', 'abcd', '1', 'targets'], ['b', '', '22', 'targets'],
  ]));
});

test('targets table: the column-wise formatter equals the generic tabwriter on random rows', () => {
  const row = fc.record({
    name: fc.string({ unit: 'binary', maxLength: 12 }),
    length: fc.nat(),
    sha: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }),
    role: fc.constantFrom('targets', 'targets/releases', 'targets/a/b'),
  });
  fc.assert(fc.property(fc.array(row, { minLength: 1, maxLength: 30 }), (rows) => {
    const targets = rows.map((r) => ({
      name: r.name,
      meta: { length: r.length, hashes: new Map(r.sha === undefined ? [] : [['sha256', r.sha]]), unrecognized: {} },
      role: r.role as RoleName,
    }));
    const sorted = [...targets].sort((a, b) => byteOrder(a.name, b.name));
    const expected = table(['NAME', 'DIGEST', 'SIZE (BYTES)', 'ROLE'], sorted.map((t) => {
      const sha = t.meta.hashes.get('sha256');
      return [t.name, sha === undefined ? '' : Buffer.from(sha).toString('hex'), String(t.meta.length), t.role];
    }));
    assert.equal(formatTargets(targets), expected);
  }), { numRuns: 500 });
});

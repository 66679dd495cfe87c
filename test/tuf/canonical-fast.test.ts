// canonicalString's native fast path (JSON.stringify when the value is already in canonical
// shape) must give exactly the bytes of the reference encoding, and refuse what it refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalString } from '../../src/tuf/canonical.ts';
import { hasCode } from '../../src/errors.ts';

/** The reference: keys by UTF-8 bytes, only `"` and `\` escaped, lone surrogates as U+FFFD. */
function reference(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error('number');
    return Object.is(v, -0) ? '0' : String(v);
  }
  if (typeof v === 'string') {
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f]/.test(v)) throw new Error('control');
    return '"' + v.toWellFormed().replace(/["\\]/g, (c) => '\\' + c) + '"';
  }
  if (Array.isArray(v)) return '[' + v.map(reference).join(',') + ']';
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined)
    .sort((a, b) => Buffer.compare(Buffer.from(a.toWellFormed()), Buffer.from(b.toWellFormed())));
  return '{' + keys.map((k) => reference(k) + ':' + reference(obj[k])).join(',') + '}';
}

const key = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 4 }), // lone surrogates and control characters
  fc.nat({ max: 20 }).map(String), // integer-like keys, which objects enumerate first
  fc.constantFrom('__proto__', 'a', 'b', '｡', '😀', 'é'),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.constantFrom(-0, 1.5, 2 ** 60, Number.NaN),
    fc.boolean(),
    fc.constant(null),
    fc.string({ unit: 'grapheme', maxLength: 8 }),
    fc.string({ unit: 'binary', maxLength: 4 }),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.array(fc.tuple(key, tie('v')), { maxLength: 5 }).map((entries) => Object.fromEntries(entries)),
  ),
})).v;

/** The same value with every object's members inserted in reference order, as parsed metadata has them. */
function sortedCopy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedCopy);
  if (v === null || typeof v !== 'object') return v;
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj).sort((a, b) => Buffer.compare(Buffer.from(a.toWellFormed()), Buffer.from(b.toWellFormed())));
  return Object.fromEntries(keys.map((k) => [k, sortedCopy(obj[k])]));
}

function outcome(f: () => string): string {
  try {
    return f();
  } catch {
    return 'refused';
  }
}

test('fast and reference encodings agree on any value, sorted or not', () => {
  fc.assert(
    fc.property(value, (v) => {
      const sorted = sortedCopy(v);
      // Through JSON text too: what parseJson hands over (NaN becomes null, -0 stays 0).
      const reparsed: unknown = JSON.parse(JSON.stringify(sorted) ?? 'null');
      for (const input of [v, sorted, reparsed]) {
        assert.equal(outcome(() => canonicalString(input)), outcome(() => reference(input)));
      }
    }),
    { numRuns: 3000 },
  );
});

test('values JSON.stringify would encode differently take the reference path', () => {
  assert.equal(canonicalString({ b: 1, a: 2 }), '{"a":2,"b":1}');
  assert.equal(canonicalString({ 10: 1, 9: 2 }), '{"10":1,"9":2}');
  assert.equal(canonicalString({ a: '\ud800' }), '{"a":"\ufffd"}');
  assert.equal(canonicalString({ a: undefined, b: [1] }), '{"b":[1]}');
  // Objects that are not plain JSON: JSON.stringify would call toJSON or list typed-array indices.
  assert.equal(canonicalString({ d: new Date(0) }), '{"d":{}}');
  assert.equal(canonicalString([new Uint8Array([1])]), '[{"0":1}]');
  // eslint-disable-next-line no-sparse-arrays -- a hole, which JSON.stringify would write as null
  assert.throws(() => canonicalString([1, , 2]), (e) => hasCode(e, 'NOT_CANONICALIZABLE'));
  assert.throws(() => canonicalString({ a: 'x\ny' }), (e) => hasCode(e, 'NOT_CANONICALIZABLE'));
  assert.throws(() => canonicalString({ n: 2 ** 60 }), (e) => hasCode(e, 'NOT_CANONICALIZABLE'));
});

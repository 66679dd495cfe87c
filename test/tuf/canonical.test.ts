import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalize as oracle } from '@tufjs/canonical-json';
import { canonicalString, compareUtf8, encodeEnvelope, htmlEscape, parseJson } from '../../src/tuf/canonical.ts';
import { hasCode } from '../../src/errors.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);

test('vector 4: keys sorted by UTF-8 bytes, only quote and backslash escaped', () => {
  const input = JSON.parse('{"b":1,"a":[true,null,"x<y&z>"],"é":"q\\"\\\\","A":{"z":0,"y":-5},"😀":1,"｡":2}');
  assert.equal(canonicalString(input), '{"A":{"y":-5,"z":0},"a":[true,null,"x<y&z>"],"b":1,"é":"q\\"\\\\","｡":2,"😀":1}');
});

test('vector 4: integral numbers are integers, fractions and non-finite numbers are refused', () => {
  assert.equal(canonicalString(JSON.parse('[1.0, 1e3, -0]')), '[1,1000,0]');
  for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
    assert.throws(() => canonicalString({ n: bad }), (e) => hasCode(e, 'NOT_CANONICALIZABLE'));
  }
});

test('vector 5: the envelope escapes <, >, & in the file but the signed bytes keep them raw', () => {
  const name = 'a<b&c>é"q\\z';
  assert.equal(canonicalString({ [name]: 1 }), '{"a<b&c>é\\"q\\\\z":1}');
  const file = Buffer.from(encodeEnvelope({ t: name }, [{ keyid: 'k', method: 'ecdsa', sig: 'AA==' }])).toString('utf8');
  assert.equal(file, '{"signed":{"t":"a\\u003cb\\u0026c\\u003eé\\"q\\\\z"},"signatures":[{"keyid":"k","method":"ecdsa","sig":"AA=="}]}');
  // Parsing the file back yields the same signed tree, so verification re-canonicalises to the signed bytes.
  const parsed = parseJson(utf8(file)) as { signed: unknown };
  assert.equal(canonicalString(parsed.signed), '{"t":"a<b&c>é\\"q\\\\z"}');
});

test('U+2028 and U+2029 are raw in signed bytes and escaped in files', () => {
  assert.equal(canonicalString('\u2028\u2029'), '"\u2028\u2029"');
  assert.equal(htmlEscape('"\u2028\u2029"'), '"\\u2028\\u2029"');
});

test('vector 6: a control character cannot be signed', () => {
  assert.throws(() => canonicalString({ 'a\tb': 1 }), (e) => hasCode(e, 'NOT_CANONICALIZABLE') && /control characters/.test((e as Error).message));
  assert.throws(() => canonicalString(['x\u0000']), (e) => hasCode(e, 'NOT_CANONICALIZABLE'));
});

test('compareUtf8 agrees with byte order where UTF-16 order does not', () => {
  assert.ok(compareUtf8('｡', '😀') < 0); // U+FF61 < U+1F600 in UTF-8 although 0xD83D < 0xFF61 in UTF-16
  assert.ok('😀' < '｡'); // the JS default gets it wrong, which is why compareUtf8 exists
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
      const bytes = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
      assert.equal(Math.sign(compareUtf8(a, b)), bytes);
    }),
    { numRuns: 2000 },
  );
});

test('agrees with @tufjs/canonical-json on ASCII-keyed documents without escapes', () => {
  const ascii = fc.stringMatching(/^[a-zA-Z0-9_]{0,8}$/);
  const value = fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      ascii,
      fc.array(tie('v'), { maxLength: 4 }),
      fc.dictionary(ascii, tie('v'), { maxKeys: 4 }),
    ),
  })).v;
  fc.assert(
    fc.property(value, (v) => {
      assert.equal(canonicalString(v), Buffer.from(oracle(v)).toString('utf8'));
    }),
    { numRuns: 2000 },
  );
});

test('parseJson: duplicate members keep the last value (as Go), garbage is MALFORMED_JSON', () => {
  assert.deepEqual(parseJson(utf8('{"a":1,"a":2}')), { a: 2 });
  for (const bad of ['', '{', '{"a":}', '[1,]', 'nul', '{"a":1}x']) {
    assert.throws(() => parseJson(utf8(bad)), (e) => hasCode(e, 'MALFORMED_JSON'));
  }
  const deep = '['.repeat(200_000) + ']'.repeat(200_000);
  assert.throws(() => parseJson(utf8(deep)), (e) => hasCode(e, 'MALFORMED_JSON') && /nests deeper than 100/.test((e as Error).message));
  assert.deepEqual(parseJson(utf8('["[[[["]')), ['[[[[']);
});

test('parseJson: invalid UTF-8 decodes to U+FFFD as Go does', () => {
  assert.deepEqual(parseJson(new Uint8Array([0x22, 0xff, 0x22])), '\ufffd');
});

// decodeBase64 (a table decoder, for speed on large targets files) accepts exactly padded
// standard base64 and decodes it as Buffer.from does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeBase64 } from '../../src/tuf/metadata.ts';

const STRICT = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const reference = (s: string) => (STRICT.test(s) ? new Uint8Array(Buffer.from(s, 'base64')) : 'refused');
const decoded = (s: string) => {
  try {
    return decodeBase64(s, 'signed.targets.x.hashes.sha256');
  } catch (e) {
    assert.equal((e as { code?: string }).code, 'INVALID_METADATA');
    return 'refused';
  }
};

test('decodeBase64 agrees with the strict reference on valid, near-valid and random text', () => {
  const unit = fc.constantFrom(...'ABCXYZabcxyz0189+/=é\u0100\uffff-_ \n'.split(''));
  fc.assert(
    fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 70 }).map((b) => Buffer.from(b).toString('base64')), fc.string({ unit, maxLength: 16 }), fc.string({ maxLength: 12 })),
      (s) => assert.deepEqual(decoded(s), reference(s), JSON.stringify(s)),
    ),
    { numRuns: 20_000 },
  );
  for (const s of ['', 'AA==', 'AAA=', 'AAAA', '====', 'A===', 'AA=A', 'AAAA\n', 'AAÀA', 'AA\u0141A']) assert.deepEqual(decoded(s), reference(s), s);
  assert.throws(() => decodeBase64(42, 'sig'), { code: 'INVALID_METADATA', message: 'sig is not valid base64' });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatExpiry, formatUnixDate, isExpired, parseExpiry } from '../../src/tuf/time.ts';
import { hasCode } from '../../src/errors.ts';

test('parses notary expiry strings with nanoseconds and zone offsets exactly', () => {
  const a = parseExpiry('2116-07-03T17:56:36.027379879-05:00');
  assert.equal(a.epochMs, Date.UTC(2116, 6, 3, 22, 56, 36, 27));
  assert.equal(a.subMsNanos, 379_879);
  assert.equal(a.offsetMinutes, -300);
  const b = parseExpiry('2036-11-22T09:42:48.827843485Z');
  assert.equal(b.epochMs, Date.UTC(2036, 10, 22, 9, 42, 48, 827));
  assert.equal(parseExpiry('2030-01-01T00:00:00Z').epochMs, Date.UTC(2030, 0, 1));
  assert.equal(parseExpiry('0099-01-01T00:00:00Z').epochMs, new Date('0099-01-01T00:00:00Z').getTime());
});

test('an unparseable expiry is an error, never "not expired"', () => {
  for (const bad of ['', 'tomorrow', '2030-02-30T00:00:00Z', '2030-01-01T24:00:00Z', '2030-01-01 00:00:00Z',
    '2030-01-01T00:00:00', '2030-01-01T00:00:00.1234567890Z', '2030-01-01T00:00:60Z', '2030-01-01T00:00:00+24:00', 17, null]) {
    assert.throws(() => parseExpiry(bad), (e) => hasCode(e, 'INVALID_EXPIRY'), String(bad));
  }
});

test('expiry is strict: expires < now, no grace', () => {
  const e = parseExpiry('2030-01-01T00:00:00.5Z');
  assert.equal(isExpired(e, new Date(Date.UTC(2030, 0, 1, 0, 0, 0, 500))), false);
  assert.equal(isExpired(e, new Date(Date.UTC(2030, 0, 1, 0, 0, 0, 501))), true);
});

test('formatExpiry writes Go RFC3339Nano in UTC with trailing zeros trimmed', () => {
  assert.equal(formatExpiry(new Date(Date.UTC(2029, 10, 24, 9, 44, 5, 30))), '2029-11-24T09:44:05.03Z');
  assert.equal(formatExpiry(new Date(Date.UTC(2029, 10, 24, 9, 44, 5, 0))), '2029-11-24T09:44:05Z');
  fc.assert(
    fc.property(fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }), (d) => {
      assert.equal(parseExpiry(formatExpiry(d)).epochMs, d.getTime());
    }),
  );
});

test('expiry messages use notary\'s "Mon Jan 2 15:04:05 MST 2006" layout in the writer\'s zone', () => {
  assert.equal(formatUnixDate(parseExpiry('2016-07-03T07:06:05.1Z')), 'Sun Jul 3 07:06:05 UTC 2016');
  assert.equal(formatUnixDate(parseExpiry('2116-07-03T17:56:36.027379879-05:00')), 'Fri Jul 3 17:56:36 -0500 2116');
});

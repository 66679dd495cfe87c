/**
 * Expiry timestamps in notary's form: Go RFC 3339 with up to nine fraction digits and a `Z` or
 * `±hh:mm` offset (docs/formats.md §1.2). The original string is kept for re-signing; the
 * instant is kept in milliseconds plus the sub-millisecond nanoseconds so that comparisons are exact.
 *
 * Contract: an unparseable expiry is a `ValidationError('INVALID_EXPIRY')`, never "not expired".
 */
import { ValidationError } from './errors.ts';

export interface Expiry {
  /** The string as it appears in metadata; signatures cover it verbatim. */
  readonly raw: string;
  /** Milliseconds since the epoch (floor). */
  readonly epochMs: number;
  /** Nanoseconds past `epochMs` (0–999,999). */
  readonly subMsNanos: number;
  /** Offset of the writer's zone in minutes east of UTC, for Go-style messages. */
  readonly offsetMinutes: number;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

function daysInMonth(y: number, m: number): number {
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

export function parseExpiry(raw: unknown, path = 'signed.expires'): Expiry {
  if (typeof raw !== 'string') {
    throw new ValidationError('INVALID_EXPIRY', `expires must be an RFC 3339 string, got ${typeof raw}`, path);
  }
  const m = RFC3339.exec(raw);
  if (m === null) throw new ValidationError('INVALID_EXPIRY', `expires is not an RFC 3339 time: ${JSON.stringify(raw)}`, path);
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  const frac = m[7] ?? '';
  const zone = m[8] ?? 'Z';
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) throw new ValidationError('INVALID_EXPIRY', `expires has an invalid zone offset: ${raw}`, path);
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) {
    throw new ValidationError('INVALID_EXPIRY', `expires is out of range: ${raw}`, path);
  }
  const nanos = Number(frac.padEnd(9, '0') || '0');
  const base = Date.UTC(y, mo - 1, d, h, mi, s) - offsetMinutes * 60_000;
  // Date.UTC maps years 0–99 to 1900–1999; set the year explicitly to keep them.
  const fixed = y < 100 ? new Date(base).setUTCFullYear(y) : base;
  return { raw, epochMs: fixed + Math.floor(nanos / 1e6), subMsNanos: nanos % 1e6, offsetMinutes };
}

/** True when the expiry lies strictly before `now` (notary: `expires < now`, no grace). */
export function isExpired(e: Expiry, now: Date): boolean {
  return e.epochMs < now.getTime();
}

/** True when the expiry lies within `windowMs` of `now` (notary warns 6 months ahead). */
export function isNearExpiry(e: Expiry, now: Date, windowMs = SIX_MONTHS_MS): boolean {
  return e.epochMs < now.getTime() + windowMs;
}

export const DAY_MS = 86_400_000;
export const YEAR_MS = 365 * DAY_MS;
/** notary warns when under six months remain (Go's AddDate(0, 6, 0)); 182 days is within a day of it. */
export const SIX_MONTHS_MS = 182 * DAY_MS;

/** RFC 3339 in UTC with trailing zeros of the fraction trimmed, as Go's RFC3339Nano writes it. */
export function formatExpiry(t: Date): string {
  const iso = t.toISOString(); // always …T…:..:..\.mmmZ
  const [main, ms] = [iso.slice(0, 19), iso.slice(20, 23)];
  const trimmed = ms.replace(/0+$/, '');
  return trimmed.length > 0 ? `${main}.${trimmed}Z` : `${main}Z`;
}

export function expiryFrom(t: Date): Expiry {
  return parseExpiry(formatExpiry(t));
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * notary's `Mon Jan 2 15:04:05 MST 2006` layout in the expiry's own zone, as it prints
 * `<role> expired at …`. A zone parsed from a non-zero offset has no name, so Go prints the offset
 * (`-0500`); a zero offset prints `UTC`.
 */
export function formatUnixDate(e: Expiry): string {
  const local = new Date(e.epochMs + e.offsetMinutes * 60_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  const day = String(local.getUTCDate());
  let zone = 'UTC';
  if (e.offsetMinutes !== 0) {
    const abs = Math.abs(e.offsetMinutes);
    zone = `${e.offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
  }
  return `${WEEKDAYS[local.getUTCDay()]} ${MONTHS[local.getUTCMonth()]} ${day} ${pad(local.getUTCHours())}:${pad(
    local.getUTCMinutes(),
  )}:${pad(local.getUTCSeconds())} ${zone} ${local.getUTCFullYear()}`;
}

/**
 * Branded identifiers of the notary vocabulary. A value of these types has passed the matching
 * smart constructor, so code that receives one need not re-check it.
 */
import { ValidationError } from './errors.ts';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Globally unique name of a trusted collection, e.g. `docker.io/library/alpine`. */
export type Gun = Brand<string, 'Gun'>;
/** A lower-case 64-hex SHA-256 key ID. */
export type KeyId = Brand<string, 'KeyId'>;
/** `root`, `targets`, `snapshot`, `timestamp` or a delegation `targets/…`. */
export type RoleName = Brand<string, 'RoleName'>;

const KEY_ID = /^[0-9a-f]{64}$/;

export function parseKeyId(s: string, path = 'keyid'): KeyId {
  if (!KEY_ID.test(s)) throw new ValidationError('INVALID_KEY', `invalid key ID provided: ${s}`, path);
  return s as KeyId;
}

/** Brands a key ID the caller computed itself (a SHA-256 hex digest). */
export function asKeyId(hex: string): KeyId {
  return parseKeyId(hex);
}

/**
 * notary's GUN rules: non-empty, no `*` (the server route excludes it), no control characters,
 * at most 255 bytes (the database column).
 */
export function parseGun(s: string): Gun {
  // eslint-disable-next-line no-control-regex
  if (s.length === 0 || s.includes('*') || /[\u0000-\u001f\u007f\s]/.test(s) || Buffer.byteLength(s) > 255) {
    throw new ValidationError('INVALID_METADATA', `invalid GUN: ${JSON.stringify(s)}`);
  }
  return s as Gun;
}

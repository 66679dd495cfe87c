/**
 * Storage errors with stable codes, and classification of driver errors from better-sqlite3, pg
 * and mysql2 into them.
 *
 * Contract: `StorageError` messages name the backend and the operation but never a password or a
 * full connection string. `isUniqueViolation` recognises a duplicate-key error on all three
 * dialects (SQLite `SQLITE_CONSTRAINT_UNIQUE`/`_PRIMARYKEY`, PostgreSQL `23505`, MySQL 1062/1022).
 */
import { VouchError } from '../errors.ts';

export type StorageErrorCode =
  | 'STORAGE_CONFIG_INVALID' // unknown backend, unparsable db_url
  | 'STORAGE_UNAVAILABLE' // cannot connect, or a query failed for a reason outside our data
  | 'STORAGE_MIGRATION_FAILED';

export class StorageError extends VouchError<StorageErrorCode> {}

interface DriverErrorFields {
  readonly code?: unknown;
  readonly errno?: unknown;
  readonly message?: unknown;
}

function fields(e: unknown): DriverErrorFields {
  return typeof e === 'object' && e !== null ? e : {};
}

const UNIQUE_CODES = new Set(['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY', '23505', 'ER_DUP_ENTRY', 'ER_DUP_KEY']);

export function isUniqueViolation(e: unknown): boolean {
  const f = fields(e);
  return (typeof f.code === 'string' && UNIQUE_CODES.has(f.code)) || f.errno === 1062 || f.errno === 1022;
}

/** The driver's message, trimmed to one line, for operator-facing errors. */
export function driverMessage(e: unknown): string {
  const f = fields(e);
  const code = typeof f.code === 'string' ? ` (${f.code})` : '';
  const raw = typeof f.message === 'string' && f.message !== '' ? f.message : String(e);
  // AggregateError from a refused connection to several addresses has an empty message.
  const errors = (e as { errors?: unknown }).errors;
  const text = raw === '' && Array.isArray(errors) ? errors.map((x) => driverMessage(x)).join('; ') : raw;
  return `${text.split('\n')[0]!.slice(0, 500)}${code}`;
}

/** Wraps any error from a database call; a StorageError passes through unchanged. */
export function storageUnavailable(what: string, e: unknown): StorageError {
  if (e instanceof StorageError) return e;
  return new StorageError('STORAGE_UNAVAILABLE', `${what}: ${driverMessage(e)}`, { cause: e });
}

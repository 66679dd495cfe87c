/**
 * Errors of the client key store. Each has a stable `code`; messages keep notary's and docker's
 * wording where users and scripts already match on it (docs/compatibility.md §2.2, §2.4).
 */
import { VouchError } from '../errors.ts';

export type KeyStoreErrorCode =
  | 'KEY_NOT_FOUND' // signing key not found: <id>
  | 'KEY_EXISTS' // a key file with this ID is already in the store
  | 'KEY_ID_MISMATCH' // a key file's name (or path header) is not the ID of the key inside
  | 'INVALID_KEY_FILE' // not a private key notary can read: broken PEM, unknown format or algorithm
  | 'INVALID_KEY_ID' // invalid key ID provided: <id>
  | 'INVALID_ROLE' // a role or key name that cannot be stored
  | 'PASSWORD_INVALID' // password invalid, operation has failed.
  | 'ATTEMPTS_EXCEEDED' // maximum number of passphrase attempts exceeded
  | 'NO_PASSPHRASE_INPUT' // no terminal and no environment variable to get a passphrase from
  | 'PASSPHRASE_REJECTED' // a new passphrase that is too short, mismatched or empty
  | 'STORE_UNREADABLE' // the key directory cannot be read
  | 'WRITE_FAILED' // a write to disk failed (disk full, permissions); nothing was left half-written
  | 'IMPORT_FAILED' // failed to import all keys: …
  | 'INSECURE_KEY_FILE' // private key file <path> must not be readable or writable by others
  | 'FILE_EXISTS' // refusing to overwrite an output file
  | 'INVALID_ARGUMENT' // flags that cannot be combined, and the like
  | 'INVALID_BACKUP'; // a backup archive that is not one Vouch wrote, or is damaged

export class KeyStoreError extends VouchError<KeyStoreErrorCode> {}

/** notary's `ErrPasswordInvalid`: it cannot tell a wrong passphrase from a damaged file. */
export function passwordInvalid(cause?: unknown): KeyStoreError {
  return new KeyStoreError('PASSWORD_INVALID', 'password invalid, operation has failed.', { cause });
}

/** notary's `ErrAttemptsExceeded`. */
export function attemptsExceeded(cause?: unknown): KeyStoreError {
  return new KeyStoreError('ATTEMPTS_EXCEEDED', 'maximum number of passphrase attempts exceeded', { cause });
}

export { describeIoError, isNodeError } from '../errors.ts';

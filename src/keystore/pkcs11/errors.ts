/**
 * Errors of the PKCS#11 key store (hardware tokens: Yubikeys and any PKCS#11 module). Each has a
 * stable `code`; messages keep notary's Yubikey wording where notary users already know it
 * (docs/compatibility.md §2.2) and otherwise name the module, the token and what to do about it.
 *
 * Contract: nothing in src/keystore/pkcs11 lets a raw pkcs11js error escape; `fromCkr` turns a
 * Cryptoki return value into one of these codes, keeping the `CKR_…` name in the message and the
 * original error as `cause`.
 */
import { VouchError } from '../../errors.ts';

export type Pkcs11ErrorCode =
  | 'NO_MODULE' // no module configured and no Yubico libykcs11 at notary's paths
  | 'MODULE_NOT_FOUND' // a configured module path that does not exist
  | 'MODULE_LOAD_FAILED' // the file exists but is not a PKCS#11 module, or C_Initialize failed
  | 'TOKEN_NOT_FOUND' // no initialised token (or none with the requested label / serial)
  | 'TOKEN_UNAVAILABLE' // the token went away during an operation (removed, handle invalid)
  | 'PIN_INCORRECT' // password invalid, operation has failed.
  | 'PIN_LOCKED' // the token locked its PIN after too many wrong ones
  | 'ATTEMPTS_EXCEEDED' // maximum number of passphrase attempts exceeded
  | 'NO_PIN_INPUT' // no VOUCH_PKCS11_PIN and no terminal to prompt on
  | 'NO_SLOTS' // yubikey has no available slots
  | 'KEY_NOT_FOUND' // signing key not found: <id>
  | 'KEY_EXISTS' // the key is already on the token
  | 'UNSUPPORTED_KEY' // tokens hold ECDSA P-256 keys only
  | 'EXPORT_REFUSED' // private keys on a token can never be exported
  | 'BACKUP_FAILED' // Failed to backup private key to: <err>
  | 'SIGN_FAILED' // failed to sign using Yubikey: <err>
  | 'TOUCH_TIMEOUT' // nobody touched the token before the timeout
  | 'INVALID_BACKUP' // an import source that is not an encrypted private key notary could have written
  | 'INVALID_CONFIG' // a pkcs11 setting (flag, variable or config member) that cannot be used
  | 'PKCS11_ERROR'; // any other Cryptoki failure, with its CKR_ name

export class Pkcs11Error extends VouchError<Pkcs11ErrorCode> {}

/** Return values meaning the token (or its session) is gone, not that the request was wrong. */
const GONE = new Set([
  'CKR_DEVICE_REMOVED', 'CKR_TOKEN_NOT_PRESENT', 'CKR_TOKEN_NOT_RECOGNIZED', 'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED', 'CKR_DEVICE_ERROR', 'CKR_SLOT_ID_INVALID', 'CKR_OBJECT_HANDLE_INVALID',
  'CKR_KEY_HANDLE_INVALID', 'CKR_GENERAL_ERROR', 'CKR_CRYPTOKI_NOT_INITIALIZED',
]);

/** The `CKR_…` name of a pkcs11js error, or undefined for anything else. */
export function ckrName(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const m = /\b(CKR_[A-Z0-9_]+)\b/.exec(e.message);
  return m?.[1];
}

/**
 * Maps a failure of `action` on token `token` to a typed error. Errors that are already
 * `Pkcs11Error`s pass through unchanged.
 */
export function fromCkr(e: unknown, action: string, token: string): Pkcs11Error {
  if (e instanceof Pkcs11Error) return e;
  const ckr = ckrName(e);
  const detail = ckr ?? (e instanceof Error ? e.message : String(e));
  if (ckr !== undefined && GONE.has(ckr)) {
    return new Pkcs11Error('TOKEN_UNAVAILABLE',
      `token ${token} became unavailable while trying to ${action} (${detail}); was it removed? Nothing was changed in the file key store`,
      { cause: e });
  }
  if (ckr === 'CKR_PIN_LOCKED') return pinLocked(token, e);
  return new Pkcs11Error('PKCS11_ERROR', `failed to ${action} on token ${token}: ${detail}`, { cause: e });
}

export function pinLocked(token: string, cause?: unknown): Pkcs11Error {
  return new Pkcs11Error('PIN_LOCKED',
    `the PIN of token ${token} is locked after too many wrong attempts; unlock it with the token's own tools (SO PIN / PUK)`,
    { cause });
}

/** notary's `ErrBackupFailed`. */
export function backupFailed(cause: unknown): Pkcs11Error {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new Pkcs11Error('BACKUP_FAILED', `Failed to backup private key to: ${detail}`, { cause });
}

export function keyNotFound(keyId: string): Pkcs11Error {
  return new Pkcs11Error('KEY_NOT_FOUND', `signing key not found: ${keyId}`);
}

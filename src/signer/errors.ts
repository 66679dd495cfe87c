/**
 * Errors of the signing service with stable codes. The gRPC layer maps them to notary's status
 * codes and texts (docs/formats.md §8.2); messages name key IDs and passphrase aliases, never
 * passphrases or key bytes.
 */
import { VouchError } from '../errors.ts';

export type SignerErrorCode =
  | 'KEY_NOT_FOUND'
  | 'UNSUPPORTED_ALGORITHM' // CreateKey with anything but ecdsa / ed25519
  | 'KEY_CREATION_FAILED'
  | 'PASSPHRASE_UNAVAILABLE' // NOTARY_SIGNER_<ALIAS> not set for the alias a key needs
  | 'KEY_UNDECRYPTABLE' // wrong passphrase, corrupted row, or private/public mismatch
  | 'SIGNING_FAILED'
  | 'STORAGE_UNAVAILABLE'
  | 'SIGNER_UNAVAILABLE' // remote signer unreachable or timed out
  | 'SIGNER_CONFIG_INVALID'
  | 'REKEY_FAILED';

export class SignerError extends VouchError<SignerErrorCode> {}

/** The environment variable notary-signer reads an alias's passphrase from (viper: `.` → `_`, upper case). */
export function passphraseEnvName(alias: string): string {
  return `NOTARY_SIGNER_${alias.replace(/\./g, '_').toUpperCase()}`;
}

export function passphraseUnavailable(alias: string, keyId?: string): SignerError {
  const what = keyId === undefined ? `passphrase alias "${alias}"` : `key ${keyId} is encrypted under passphrase alias "${alias}", but its passphrase`;
  return new SignerError('PASSPHRASE_UNAVAILABLE', `${what} is not available: set ${passphraseEnvName(alias)}`);
}

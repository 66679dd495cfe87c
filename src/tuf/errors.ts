/**
 * Errors of the TUF core, in three categories:
 * - `ValidationError`: bytes or structure that are not valid notary metadata (a parse failure);
 * - `VerificationError`: metadata that parses but must not be trusted (an attack or a fault);
 * - `MisuseError`: the API was called out of order (a programming error, never caused by input).
 *
 * Messages follow notary 0.7's wording (docs/compatibility.md §2.1), because docker and scripts match on it.
 */
import { VouchError } from '../errors.ts';

export type ValidationCode =
  | 'MALFORMED_JSON' // not JSON, or not the expected JSON shape at the top level
  | 'NOT_CANONICALIZABLE' // fractions, unsafe integers, control characters: cannot be signed
  | 'INVALID_METADATA' // a structural rule of a role was broken
  | 'WRONG_TYPE' // `_type` is not the expected role type
  | 'INVALID_ROLE' // a role name breaks notary's naming rules
  | 'INVALID_KEY' // a key object is malformed
  | 'INVALID_EXPIRY' // an `expires` value is not RFC 3339
  | 'TOO_LARGE'; // over the size cap for its role

export class ValidationError extends VouchError<ValidationCode> {
  /** JSON path of the offending field, e.g. `signed.roles.root.threshold`; empty if whole-file. */
  readonly path: string;
  constructor(code: ValidationCode, message: string, path = '', options?: { cause?: unknown }) {
    super(code, message, options);
    this.path = path;
  }
}

export type VerificationCode =
  | 'NO_SIGNATURES' // tuf: data has no signatures
  | 'THRESHOLD_NOT_MET' // valid signatures did not meet threshold for <role>
  | 'KEY_ID_MISMATCH' // key ID is not valid for key content
  | 'KEY_TYPE_MISMATCH' // key type is not valid for signature
  | 'UNSUPPORTED_METHOD' // signing method is not supported: <m>
  | 'KEY_TOO_SHORT' // RSA below 2048 bits
  | 'EXPIRED' // <role> expired at <time>
  | 'ROLLBACK' // version <n> is lower than current version <m>
  | 'CHECKSUM_MISMATCH' // sha256 checksum for <role> did not match: expected <hex>
  | 'NO_CHECKSUM' // no checksums for supported algorithms were provided for <role>
  | 'LENGTH_MISMATCH' // more (or fewer) bytes than the parent recorded
  | 'ROOT_UNTRUSTED' // could not validate the path to a trusted root: <reason>
  | 'ROOT_ROTATION_FAILED' // could not rotate trust to a new trusted root: …
  | 'CERT_EXPIRED' // certificate with CN <cn> is expired
  | 'CERT_INVALID' // a certificate that notary would refuse (SHA-1, short RSA, bad dates)
  | 'ROLE_NOT_DELEGATED' // tuf: invalid role <name>. delegation does not exist
  | 'META_MISSING'; // a role the parent does not list (e.g. snapshot lacks its checksum)

export class VerificationError extends VouchError<VerificationCode> {
  /** The role the failure is about, when there is one. */
  readonly role: string | undefined;
  constructor(code: VerificationCode, message: string, role?: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.role = role;
  }
}

export class MisuseError extends VouchError<'MISUSE'> {
  constructor(message: string) {
    super('MISUSE', message);
  }
}

/**
 * docker's wording for notary errors (docker/cli `NotaryError`, docs/compatibility.md §2.1–2.2), so
 * `vouch trust` and anything resolving tags for docker users print what docker printed.
 * Codes come from the client, the core (verification) and the signing layer.
 */
import { VouchError } from '../errors.ts';

export function dockerTrustMessage(e: unknown, repo: string): string {
  const msg = e instanceof Error ? e.message : String(e);
  const code: string = e instanceof VouchError ? (e as VouchError<string>).code : '';
  switch (code) {
    case 'THRESHOLD_NOT_MET':
    case 'NO_SIGNATURES':
      return `Warning: potential malicious behavior - trust data has insufficient signatures for remote repository ${repo}: ${msg}`;
    case 'EXPIRED':
      return `Error: remote repository ${repo} out-of-date: ${msg}`;
    case 'ROLLBACK':
      return `Warning: potential malicious behavior - trust data version is lower than expected for remote repository ${repo}: ${msg}`;
    case 'ROOT_UNTRUSTED':
    case 'ROOT_ROTATION_FAILED':
    case 'KEY_TYPE_MISMATCH':
      return `Warning: potential malicious behavior - trust data mismatch for remote repository ${repo}: ${msg}`;
    case 'REPOSITORY_NOT_EXIST':
      return `Error: remote trust data does not exist for ${repo}: ${msg}`;
    case 'METADATA_NOT_FOUND':
      return `Error: trust data missing for remote repository ${repo} or remote repository not found: ${msg}`;
    case 'NETWORK':
    case 'TLS':
    case 'SERVER_UNAVAILABLE':
    case 'OFFLINE':
      return `Error: error contacting notary server: ${msg}`;
    case 'NO_SIGNING_KEYS':
      return `Error: could not find signing keys for remote repository ${repo}, or could not decrypt signing key: ${msg}`;
    case 'INSUFFICIENT_SIGNERS':
      return `Error: could not produce valid signature for ${repo}.  If Yubikey was used, was touch input provided?: ${msg}`;
    case 'KEY_NOT_FOUND':
      return `Error: signing keys for remote repository ${repo} not found: ${msg}`;
    default:
      return msg;
  }
}

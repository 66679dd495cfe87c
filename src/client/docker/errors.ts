/**
 * docker's wording for trust failures (`trust.NotaryError`, docs/compatibility.md §2.1–2.2): a notary-level
 * error is wrapped with the repository name and a prefix that tells consumers whether it smells of
 * an attack (`Warning: potential malicious behavior - …`) or is an ordinary failure (`Error: …`).
 *
 * Contract: `dockerTrustError(repoName, e)` returns a `DockerTrustError` whose message is docker's
 * text and whose `code` is the wrapped error's stable code (so scripts and tests can rely on
 * either); errors docker passes through unchanged (e.g. `No valid trust data for <tag>`) keep their
 * message. The original error is the `cause`.
 */
import { VouchError } from '../../errors.ts';
import { ValidationError, VerificationError } from '../../tuf/errors.ts';
import { SigningError } from '../../tuf/sign.ts';
import { KeyStoreError } from '../../keystore/errors.ts';
import { ClientError } from '../errors.ts';

export class DockerTrustError extends VouchError {}

/** The stable code of any Vouch error, `UNKNOWN` otherwise. */
export function codeOf(e: unknown): string {
  if (!(e instanceof VouchError)) return 'UNKNOWN';
  const code: unknown = e.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}

function prefixFor(repoName: string, e: unknown): string | undefined {
  if (e instanceof VerificationError) {
    switch (e.code) {
      case 'EXPIRED':
        return `Error: remote repository ${repoName} out-of-date: `;
      case 'ROLLBACK':
        return `Warning: potential malicious behavior - trust data version is lower than expected for remote repository ${repoName}: `;
      case 'THRESHOLD_NOT_MET':
        return `Warning: potential malicious behavior - trust data has insufficient signatures for remote repository ${repoName}: `;
      case 'ROOT_UNTRUSTED':
      case 'KEY_TYPE_MISMATCH':
        return `Warning: potential malicious behavior - trust data mismatch for remote repository ${repoName}: `;
      // ROOT_ROTATION_FAILED is passed through as it is: docker 28 prints notary's rotation error
      // unwrapped (`DOCKER_CONTENT_TRUST=1 docker pull` after a re-initialisation, seen in
      // test/trust/engine-suite.ts).
      default:
        return undefined;
    }
  }
  if (e instanceof ValidationError && e.code === 'MALFORMED_JSON') {
    return '';
  }
  if (e instanceof KeyStoreError && e.code === 'KEY_NOT_FOUND') return `Error: signing keys for remote repository ${repoName} not found: `;
  if (e instanceof SigningError) {
    if (e.code === 'NO_SIGNING_KEYS') return `Error: could not find signing keys for remote repository ${repoName}, or could not decrypt signing key: `;
    if (e.code === 'INSUFFICIENT_SIGNERS') return `Error: could not produce valid signature for ${repoName}.  If Yubikey was used, was touch input provided?: `;
    return undefined;
  }
  if (e instanceof ClientError) {
    switch (e.code) {
      case 'NETWORK':
      case 'TLS':
        return 'Error: error contacting notary server: ';
      case 'METADATA_NOT_FOUND':
        return `Error: trust data missing for remote repository ${repoName} or remote repository not found: `;
      case 'REPOSITORY_NOT_EXIST':
        return `Error: remote trust data does not exist for ${repoName}: `;
      default:
        return undefined;
    }
  }
  return undefined;
}

/** Wraps `e` as docker's `NotaryError(repoName, e)` does. */
export function dockerTrustError(repoName: string, e: unknown): DockerTrustError {
  if (e instanceof DockerTrustError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const code = codeOf(e);
  const prefix = prefixFor(repoName, e);
  if (prefix === '') {
    // A server that answers something other than TUF JSON (a registry, a proxy page).
    return new DockerTrustError(code, `Error: no trust data available for remote repository ${repoName}. Try running notary server and setting DOCKER_CONTENT_TRUST_SERVER to its HTTPS address?`, { cause: e });
  }
  return new DockerTrustError(code, `${prefix ?? ''}${message}`, { cause: e });
}

/** `failed to sign <name>:<tag>: <err>` and the like: docker's `errors.Wrapf`. */
export function wrapError(context: string, e: unknown): DockerTrustError {
  const message = e instanceof Error ? e.message : String(e);
  const code = codeOf(e);
  return new DockerTrustError(code, `${context}: ${message}`, { cause: e });
}

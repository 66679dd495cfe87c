/**
 * Errors of the notary client (transport, server API, local cache, changelist, workflows).
 *
 * Each error has a stable `code`. Messages keep notary 0.7's wording where docker and scripts
 * match on it (docs/compatibility.md §2.1, docs/formats.md §5.7), but never hide the real cause: a TLS or
 * network failure names what failed instead of notary's catch-all `client is offline`.
 */
import { VouchError } from '../errors.ts';

export type ClientErrorCode =
  | 'NETWORK' // could not reach <url>: <cause> (refused, DNS, reset, timeout)
  | 'TLS' // could not reach <url>: TLS: <what is wrong with the certificate or handshake>
  | 'OFFLINE' // no trust server configured for an operation that needs one
  | 'UNAUTHORIZED' // you are not authorized to perform this operation: server returned 401.
  | 'METADATA_NOT_FOUND' // <role> trust data unavailable.  Has a notary repository been initialized?
  | 'REPOSITORY_NOT_EXIST' // <server> does not have trust data for <gun>
  | 'REPOSITORY_EXISTS' // <server> already has trust data for <gun> (migrate never overwrites)
  | 'NOT_INITIALIZED' // repository has not been initialized
  | 'SERVER_UNAVAILABLE' // unable to reach trust server at this time: <code>.
  | 'SERVER_REJECTED' // trust server rejected operation[: <msg>] / The root metadata is invalid: …
  | 'BAD_RESPONSE' // trust server returned a bad response. (oversized or malformed body)
  | 'AUTH_FAILED' // the token service refused or answered nonsense
  | 'INVALID_CHANGE' // a changelist file that cannot be read or applied
  | 'LOCAL_IO' // the trust directory cannot be read or written
  | 'NO_SUCH_TARGET' // No valid trust data for <name>
  | 'INVALID_INPUT' // an argument that cannot be used (bad GUN for a path, bad role, bad hash)
  | 'KEY_UNAVAILABLE'; // a key the operation needs is not held locally

export class ClientError extends VouchError<ClientErrorCode> {}

/** A notary-server error body (`{"errors":[{code,message,detail}]}`) as the client saw it. */
export interface ServerErrorInfo {
  readonly status: number;
  /** errcode value, e.g. `INVALID_UPDATE`, `VERSION`; empty when the body was not an errcode body. */
  readonly code: string;
  readonly message: string;
  /** The `detail.Name` of a validation error (`ErrBadRoot`, `ErrBadTargets`, …), if any. */
  readonly detailName?: string;
}

export class ServerRejectedError extends ClientError {
  readonly server: ServerErrorInfo;
  constructor(message: string, server: ServerErrorInfo) {
    super('SERVER_REJECTED', message);
    this.server = server;
  }
}

/** `No valid trust data for <name>` (notary's ErrNoSuchTarget). */
export function noSuchTarget(name: string): ClientError {
  return new ClientError('NO_SUCH_TARGET', `No valid trust data for ${name}`);
}

export { describeIoError as ioReason, isNodeError as isErrno } from '../errors.ts';

/**
 * The gate's typed errors. `DENIED` is a trust decision (the client gets 403 and the OCI error
 * body); the others are faults of the configuration, the upstream or the trust server.
 */
import { VouchError } from '../errors.ts';

export type GateErrorCode =
  | 'DENIED' // not signed, fails policy, trust data invalid or expired: 403
  | 'CONFIG' // the gate's configuration or command line is invalid
  | 'UPSTREAM' // the upstream registry could not be reached or misbehaved: 502
  | 'UPSTREAM_NOT_FOUND' // the upstream does not have the signed content: 404
  | 'DIGEST_MISMATCH' // the upstream sent bytes other than the signed ones: 502
  | 'UNSUPPORTED'; // pushes, deletes, unknown routes

export class GateError extends VouchError<GateErrorCode> {
  /** Short machine-readable reason for metrics and logs (`unsigned`, `expired`, `policy`, …). */
  readonly reason: string;

  constructor(code: GateErrorCode, message: string, reason: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.reason = reason;
  }
}

export function denied(message: string, reason: string, cause?: unknown): GateError {
  return new GateError('DENIED', message, reason, cause === undefined ? undefined : { cause });
}

export function configError(message: string): GateError {
  return new GateError('CONFIG', message, 'config');
}

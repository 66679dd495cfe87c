/**
 * The server's error registry: notary-server's errcode group `notary.api.v1` plus the docker
 * distribution codes it uses (docs/formats.md §6.2), and the two codes Vouch adds for faults
 * notary has no answer for (a body over the cap, a backend that is down).
 *
 * Contract: every error the HTTP layer writes is a `ServerError`; its body is exactly one JSON line
 * `{"errors":[{"code":…,"message":…,"detail":…}]}` followed by `\n`, encoded as Go's
 * `encoding/json` encoder writes it (HTML-escaped), with `detail` omitted when undefined. Messages
 * are notary's, because the notary client and docker show them.
 */
import { VouchError } from '../errors.ts';

export const SERVER_ERRORS = {
  NO_STORAGE: { status: 500, message: 'The server is misconfigured and has no storage.' },
  NO_FILENAME: { status: 400, message: 'No file/role name provided.' },
  INVALID_ROLE: { status: 400, message: 'The role you are attempting to operate on is invalid.' },
  MALFORMED_JSON: { status: 400, message: 'JSON sent by the client could not be parsed by the server' },
  UPDATING: { status: 500, message: 'An error has occurred while updating the TUF repository.' },
  VERSION: { status: 400, message: 'A newer version of metadata is already available.' },
  METADATA_NOT_FOUND: { status: 404, message: 'You have requested metadata that does not exist.' },
  INVALID_UPDATE: { status: 400, message: 'Update sent by the client is invalid.' },
  MALFORMED_UPLOAD: { status: 400, message: 'The body of your request is malformed.' },
  GENERIC_NOT_FOUND: { status: 404, message: 'You have requested a resource that does not exist.' },
  NO_CRYPTOSERVICE: { status: 500, message: 'The server does not have a signing service configured.' },
  NO_KEYALGORITHM: { status: 500, message: 'The server does not have a key algorithm configured.' },
  INVALID_GUN: { status: 400, message: 'The server does not support actions on images of this name.' },
  INVALID_PARAMETERS: { status: 400, message: 'The parameters provided are not valid.' },
  UNKNOWN: { status: 500, message: 'unknown error' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  // docker distribution's code for a backend that cannot answer; notary clients treat it like 500.
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  // Vouch only: notary accepts bodies of any size.
  TOO_LARGE: { status: 413, message: 'The request body is larger than the server accepts.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ServerErrorCode = keyof typeof SERVER_ERRORS;

/** The `detail` of INVALID_UPDATE (§6.5): a validation error by name. */
export type UpdateErrorName = 'ErrBadRoot' | 'ErrBadTargets' | 'ErrBadSnapshot' | 'ErrValidation' | 'ErrBadHierarchy';

export interface UpdateErrorDetail {
  readonly Name: UpdateErrorName;
  readonly Error: { readonly Missing?: string; readonly Msg: string };
}

const RENDERED: Record<UpdateErrorName, string> = {
  ErrBadRoot: 'The root metadata is invalid',
  ErrBadTargets: 'The targets metadata is invalid',
  ErrBadSnapshot: 'The snapshot metadata is invalid',
  ErrValidation: 'An error occurred during validation',
  ErrBadHierarchy: 'Metadata hierarchy is incomplete',
};

export class ServerError extends VouchError<ServerErrorCode> {
  readonly status: number;
  /** JSON value for the body's `detail`; undefined omits the member. */
  readonly detail: unknown;
  /** Headers the response must carry (an auth challenge). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ServerErrorCode, detail?: unknown, opts: { cause?: unknown; headers?: Record<string, string>; message?: string } = {}) {
    super(code, opts.message ?? SERVER_ERRORS[code].message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.status = SERVER_ERRORS[code].status;
    this.detail = detail;
    this.headers = opts.headers ?? {};
  }
}

/** A 400 INVALID_UPDATE carrying a validation error, as notary's `validateUpdate` reports it. */
export function invalidUpdate(name: UpdateErrorName, msg: string, missing?: string): ServerError {
  const error = missing === undefined ? { Msg: msg } : { Missing: missing, Msg: msg };
  return new ServerError('INVALID_UPDATE', { Name: name, Error: error } satisfies UpdateErrorDetail, {
    message: `${RENDERED[name]}: ${msg}`,
  });
}

/** `{}`: the detail notary writes for its struct errors without exported fields. */
export const EMPTY_DETAIL: Readonly<Record<string, never>> = Object.freeze({});

const GO_ESCAPES: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };

/** `JSON.stringify` with Go's HTML-safe escaping (`encoding/json` default). */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c] ?? c);
}

/** The exact body notary writes for an error (errcode.ServeJSON: one line plus `\n`). */
export function errorBody(e: ServerError): string {
  const entry: Record<string, unknown> = { code: e.code, message: SERVER_ERRORS[e.code].message };
  if (e.detail !== undefined && e.detail !== null) entry['detail'] = e.detail;
  return `${goJson({ errors: [entry] })}\n`;
}

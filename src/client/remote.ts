/**
 * The notary-server API as a client sees it (docs/formats.md §6), for one GUN.
 *
 * Contract:
 * - `getRole` fetches `<role>.json`, `<role>.<sha256>.json` or `<version>.<role>.json` with a byte
 *   cap (timestamp 1 MiB; others the parent's recorded length, 100 MiB when unknown) and returns the
 *   exact bytes.
 * - `publish` sends one multipart POST with a `files` part per role (bare role name as filename).
 * - Status codes map to notary's errors (§5.7): 404 `METADATA_NOT_FOUND`, 401 `UNAUTHORIZED`,
 *   400 the server's validation error rendered as notary renders it, other codes
 *   `SERVER_UNAVAILABLE`.
 * - Each call asks for the token access its operation needs (§7.4): reads `pull`, publish and key
 *   fetches `push,pull`, deletion and key rotation `*`.
 */
import { randomBytes } from 'node:crypto';
import { MAX_METADATA_BYTES, MAX_TIMESTAMP_BYTES } from '../tuf/metadata.ts';
import { parsePublicKey, type PublicKey } from '../tuf/keys.ts';
import { isValidRoleName } from '../tuf/roles.ts';
import { ClientError, ServerRejectedError } from './errors.ts';
import type { Access, HttpResponse, HttpTransport } from './transport.ts';

/** notary: error bodies are read up to 1 KiB, key responses up to 256 KiB. */
const MAX_ERROR_BODY = 1 << 10;
const MAX_KEY_BODY = 256 << 10;
/** Versions are probed up to 2^30: far beyond any real history, and a bounded number of requests. */
const MAX_PROBED_VERSION = 2 ** 30;

export interface GetRoleOptions {
  /** Hex sha256 for a consistent (by-hash) download. */
  readonly checksum?: string;
  /** Version for a by-version download (`<n>.root.json`). */
  readonly version?: number;
  /** Byte cap; defaults to 1 MiB for timestamp, 100 MiB otherwise. */
  readonly maxBytes?: number;
  /** Speculative: never answer an auth challenge (a 401 fails with `UNAUTHORIZED`). */
  readonly speculative?: boolean;
}

const DETAIL_PREFIX: Readonly<Record<string, string>> = {
  ErrBadRoot: 'The root metadata is invalid: ',
  ErrBadTargets: 'The targets metadata is invalid: ',
  ErrBadSnapshot: 'The snapshot metadata is invalid: ',
  ErrValidation: 'An error occurred during validation: ',
  ErrBadHierarchy: 'Metadata hierarchy is incomplete: ',
};

interface ErrcodeEntry {
  code?: unknown;
  message?: unknown;
  detail?: unknown;
}

function parseErrorBody(body: Buffer): ErrcodeEntry[] {
  try {
    const doc = JSON.parse(body.subarray(0, MAX_ERROR_BODY).toString('utf8')) as { errors?: unknown };
    return Array.isArray(doc.errors) ? (doc.errors as ErrcodeEntry[]) : [];
  } catch {
    return [];
  }
}

/** notary's rendering of a 400: the validation error in the detail, else `trust server rejected operation`. */
export function rejectionError(res: HttpResponse): ServerRejectedError {
  const errors = parseErrorBody(res.body);
  const first = errors.length === 1 ? errors[0] : undefined;
  const code = typeof first?.code === 'string' ? first.code : '';
  const message = typeof first?.message === 'string' ? first.message : '';
  const detail = first?.detail as { Name?: unknown; Error?: { Msg?: unknown } } | undefined;
  const name = typeof detail?.Name === 'string' ? detail.Name : undefined;
  const msg = typeof detail?.Error?.Msg === 'string' ? detail.Error.Msg : undefined;
  const info = { status: res.status, code, message, ...(name !== undefined ? { detailName: name } : {}) };
  if (name !== undefined && msg !== undefined && Object.hasOwn(DETAIL_PREFIX, name)) {
    return new ServerRejectedError(`${DETAIL_PREFIX[name]}${msg}`, info);
  }
  // notary prints a bare `trust server rejected operation.`; the server's own message is more useful.
  const text = message !== '' ? `trust server rejected operation: ${message}${code !== '' ? ` (${code})` : ''}` : 'trust server rejected operation.';
  return new ServerRejectedError(text, info);
}

/** A moved collection's snapshot and timestamp versions on its old server (`vouch migrate`). */
export interface PreviousVersions {
  readonly snapshot?: number;
  readonly timestamp?: number;
}

function previousVersionsHeader(v: PreviousVersions | undefined): Record<string, string> {
  const items = (['snapshot', 'timestamp'] as const).flatMap((role) => (v?.[role] !== undefined ? [`${role}=${v[role]}`] : []));
  return items.length === 0 ? {} : { 'vouch-previous-versions': items.join(', ') };
}

export class RemoteStore {
  readonly gun: string;
  private readonly transport: HttpTransport;

  constructor(transport: HttpTransport, gun: string) {
    this.transport = transport;
    this.gun = gun;
  }

  /** notary's `Location()`: the server host, as in `<host> does not have trust data for <gun>`. */
  get location(): string {
    return this.transport.baseUrl.host;
  }

  get url(): string {
    return this.transport.baseUrl.href;
  }

  private path(file: string): string {
    const gunPath = this.gun.split('/').map((seg) => encodeURIComponent(seg).replace(/%3A/gi, ':').replace(/%40/g, '@')).join('/');
    return `v2/${gunPath}/_trust/tuf/${file}`;
  }

  private check(res: HttpResponse, resource: string): void {
    if (res.status === 200) return;
    if (res.status === 404) {
      throw new ClientError('METADATA_NOT_FOUND', `${resource} trust data unavailable.  Has a notary repository been initialized?`);
    }
    if (res.status === 401) throw new ClientError('UNAUTHORIZED', 'you are not authorized to perform this operation: server returned 401.');
    if (res.status === 400) throw rejectionError(res);
    throw new ClientError('SERVER_UNAVAILABLE', `unable to reach trust server at this time: ${res.status}.`);
  }

  async getRole(role: string, opts: GetRoleOptions = {}): Promise<Uint8Array> {
    if (!isValidRoleName(role)) throw new ClientError('INVALID_INPUT', `tuf: invalid role ${role}. not a valid role name`);
    if (opts.checksum !== undefined && !/^[0-9a-f]{64}$/.test(opts.checksum)) throw new ClientError('INVALID_INPUT', `invalid sha256 checksum for ${role}`);
    const name = opts.version !== undefined ? `${opts.version}.${role}` : opts.checksum !== undefined ? `${role}.${opts.checksum}` : role;
    const cap = opts.maxBytes ?? (role === 'timestamp' ? MAX_TIMESTAMP_BYTES : MAX_METADATA_BYTES);
    const res = await this.transport.request({ method: 'GET', url: this.path(`${name}.json`), maxBytes: cap, access: 'pull', ...(opts.speculative === true ? { answerChallenge: false } : {}) });
    this.check(res, name);
    return new Uint8Array(res.body.buffer, res.body.byteOffset, res.body.length);
  }

  /** Whether the server has `role` (current, or as `opts` names it); other failures are thrown. */
  async hasRole(role: string, opts: GetRoleOptions = {}): Promise<boolean> {
    try {
      await this.getRole(role, opts);
      return true;
    } catch (e) {
      if (e instanceof ClientError && e.code === 'METADATA_NOT_FOUND') return false;
      throw e;
    }
  }

  /**
   * The newest version of `role` the server stores, found by by-version downloads (1, 2, 4, …, then
   * halving); 0 when it has none. Only whether a version exists matters, so nothing is parsed.
   */
  async newestStoredVersion(role: string): Promise<number> {
    const exists = (version: number): Promise<boolean> => this.hasRole(role, { version });
    if (!(await exists(1))) return 0;
    let low = 1; // stored
    let high = 2; // probed next; the bound keeps a server that claims every version to ~60 requests
    while (high <= MAX_PROBED_VERSION && (await exists(high))) {
      low = high;
      high *= 2;
    }
    if (high > MAX_PROBED_VERSION) return low;
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      if (await exists(mid)) low = mid;
      else high = mid;
    }
    return low;
  }

  private async keyRequest(role: 'timestamp' | 'snapshot', method: 'GET' | 'POST', access: Access): Promise<PublicKey> {
    const res = await this.transport.request({ method, url: this.path(`${role}.key`), maxBytes: MAX_KEY_BODY, access });
    this.check(res, `${role} key`);
    let doc: unknown;
    try {
      doc = JSON.parse(res.body.toString('utf8'));
    } catch (cause) {
      throw new ClientError('BAD_RESPONSE', `trust server returned a bad response. (the ${role} key is not JSON)`, { cause });
    }
    try {
      return parsePublicKey(doc, `${role}.key`);
    } catch (cause) {
      throw new ClientError('BAD_RESPONSE', `trust server returned a bad response. (the ${role} key is not a valid key)`, { cause });
    }
  }

  /** The server-held public key of `role`, created by the server on first request. */
  getKey(role: 'timestamp' | 'snapshot'): Promise<PublicKey> {
    return this.keyRequest(role, 'GET', 'push,pull');
  }

  /** Asks the server for a new key of `role` (admin access). */
  rotateKey(role: 'timestamp' | 'snapshot'): Promise<PublicKey> {
    return this.keyRequest(role, 'POST', '*');
  }

  /** One atomic update: a multipart `files` part per role, named by the bare role name. */
  /**
   * `previousVersions`: for a collection moving here from another server, the versions its
   * snapshot and timestamp had there (`Vouch-Previous-Versions`; a Vouch server continues above
   * them on the first publish, notary-server ignores the header).
   */
  async publish(files: ReadonlyMap<string, Uint8Array>, previousVersions?: PreviousVersions): Promise<void> {
    const boundary = randomBytes(30).toString('hex');
    const parts: Buffer[] = [];
    for (const [role, bytes] of files) {
      parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${role}"\r\nContent-Type: application/octet-stream\r\n\r\n`));
      parts.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), Buffer.from('\r\n'));
    }
    parts.push(Buffer.from(`--${boundary}--\r\n`));
    const res = await this.transport.request({
      method: 'POST',
      url: this.path(''),
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, ...previousVersionsHeader(previousVersions) },
      body: Buffer.concat(parts),
      maxBytes: MAX_ERROR_BODY * 64,
      access: 'push,pull',
    });
    this.check(res, 'update');
  }

  /** Deletes every version of every role of the GUN (admin access). */
  async deleteAll(): Promise<void> {
    const res = await this.transport.request({ method: 'DELETE', url: this.path(''), maxBytes: MAX_ERROR_BODY * 64, access: '*' });
    this.check(res, 'repository');
  }
}

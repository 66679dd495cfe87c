/**
 * Raw downloads of a trust collection from a notary-compatible server, over HTTPS with a test CA.
 *
 * Contract:
 * - `httpsGet(url, caFile)` → status, headers and body bytes (capped at 16 MiB; a timeout on
 *   every request). It never follows redirects.
 * - `fetchRole(url, gun, file, caFile)` GETs `<url>/v2/<gun>/_trust/tuf/<file>` (docs/formats.md
 *   §6.1) and returns the exact bytes; a non-200 answer throws `HttpStatusError` with the body.
 * - `fetchCollection(url, gun, caFile)` follows the notary client's order (§13 vector 16):
 *   `timestamp.json`, then snapshot, root, targets and every delegation reachable from
 *   targets.json that the snapshot lists, each by its sha256 from timestamp/snapshot
 *   (`<role>.<hex>.json`), or by plain name with `{ by: 'name' }`. Returns a Map of file name (`root.json`, `targets/releases.json`,
 *   …) to bytes. It parses JSON only to find names and hashes; it verifies nothing — that is the
 *   job of the tests and of Vouch's core.
 */
import { request } from 'node:https';
import { readFileSync } from 'node:fs';

export const MAX_BODY_BYTES = 16 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_DELEGATION_FILES = 1_000;

export interface HttpsResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export class HttpStatusError extends Error {
  readonly status: number;
  readonly body: Buffer;

  constructor(url: string, status: number, body: Buffer) {
    super(`GET ${url} answered ${status}: ${body.toString('utf8').slice(0, 2_000)}`);
    this.name = 'HttpStatusError';
    this.status = status;
    this.body = body;
  }
}

export interface HttpsGetOptions {
  readonly timeoutMs?: number;
  readonly certFile?: string;
  readonly keyFile?: string;
}

export function httpsGet(url: string, caFile: string, opts: HttpsGetOptions = {}): Promise<HttpsResponse> {
  const timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'GET', ca: readFileSync(caFile), agent: false, timeout: timeoutMs,
      ...(opts.certFile !== undefined ? { cert: readFileSync(opts.certFile) } : {}),
      ...(opts.keyFile !== undefined ? { key: readFileSync(opts.keyFile) } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          req.destroy(new Error(`GET ${url}: body exceeds ${MAX_BODY_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers,
        body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** `<url>/v2/<gun>/_trust/tuf/<file>`; each GUN and file segment is percent-encoded. */
export function roleUrl(url: string, gun: string, file: string): string {
  const enc = (s: string): string => s.split('/').map(encodeURIComponent).join('/');
  return `${url.replace(/\/+$/, '')}/v2/${enc(gun)}/_trust/tuf/${enc(file)}`;
}

export async function fetchRole(url: string, gun: string, file: string, caFile: string): Promise<Buffer> {
  const target = roleUrl(url, gun, file);
  const res = await httpsGet(target, caFile);
  if (res.status !== 200) throw new HttpStatusError(target, res.status, res.body);
  return res.body;
}

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function signedOf(file: string, bytes: Buffer): JsonObject {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new Error(`${file} is not JSON`, { cause: e });
  }
  if (!isObject(doc) || !isObject(doc['signed'])) throw new Error(`${file} has no "signed" object`);
  return doc['signed'];
}

/** sha256 hex of meta entry `role` in a timestamp or snapshot `signed` object. */
function metaSha256Hex(source: string, signed: JsonObject, role: string): string {
  const meta = signed['meta'];
  const entry = isObject(meta) ? meta[role] : undefined;
  const hashes = isObject(entry) ? entry['hashes'] : undefined;
  const b64 = isObject(hashes) ? hashes['sha256'] : undefined;
  if (typeof b64 !== 'string') throw new Error(`${source} has no sha256 for "${role}"`);
  const hex = Buffer.from(b64, 'base64').toString('hex');
  if (hex.length !== 64) throw new Error(`${source}: sha256 of "${role}" is not 32 bytes`);
  return hex;
}

function delegatedRoleNames(file: string, signed: JsonObject): string[] {
  const delegations = signed['delegations'];
  const roles = isObject(delegations) ? delegations['roles'] : undefined;
  // notary writes `"roles":null` once the last delegation is removed.
  if (roles === undefined || roles === null) return [];
  if (!Array.isArray(roles)) throw new Error(`${file}: delegations.roles is not an array`);
  return roles.map((r: unknown) => {
    const name = isObject(r) ? r['name'] : undefined;
    if (typeof name !== 'string') throw new Error(`${file}: a delegation has no name`);
    return name;
  });
}

export interface FetchCollectionOptions {
  /** `hash` (default) fetches `<role>.<sha256>.json` as the notary client does; `name`, `<role>.json`. */
  readonly by?: 'hash' | 'name';
}

function hasMeta(signed: JsonObject, role: string): boolean {
  const meta = signed['meta'];
  return isObject(meta) && meta[role] !== undefined;
}

export async function fetchCollection(url: string, gun: string, caFile: string,
  opts: FetchCollectionOptions = {}): Promise<Map<string, Buffer>> {
  const byHash = (opts.by ?? 'hash') === 'hash';
  const files = new Map<string, Buffer>();
  const timestamp = await fetchRole(url, gun, 'timestamp.json', caFile);
  files.set('timestamp.json', timestamp);
  const tsSigned = signedOf('timestamp.json', timestamp);
  const get = async (role: string, source: string, sourceSigned: JsonObject): Promise<JsonObject> => {
    const name = byHash ? `${role}.${metaSha256Hex(source, sourceSigned, role)}.json` : `${role}.json`;
    const bytes = await fetchRole(url, gun, name, caFile);
    files.set(`${role}.json`, bytes);
    return signedOf(`${role}.json`, bytes);
  };
  const snapSigned = await get('snapshot', 'timestamp.json', tsSigned);
  await get('root', 'snapshot.json', snapSigned);
  const queue: [string, JsonObject][] = [['targets', await get('targets', 'snapshot.json', snapSigned)]];
  while (queue.length > 0) {
    const [parent, parentSigned] = queue.shift()!;
    for (const child of delegatedRoleNames(`${parent}.json`, parentSigned)) {
      // A delegation nobody has signed into yet has no file and no snapshot entry (notary
      // treats it as empty), so only roles the snapshot lists are fetched.
      if (files.has(`${child}.json`) || !hasMeta(snapSigned, child)) continue;
      if (files.size > MAX_DELEGATION_FILES) throw new Error(`more than ${MAX_DELEGATION_FILES} delegations`);
      queue.push([child, await get(child, 'snapshot.json', snapSigned)]);
    }
  }
  return files;
}

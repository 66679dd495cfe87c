/**
 * HTTP basic authentication against an htpasswd file of bcrypt hashes (what `htpasswd -B` writes:
 * `user:$2y$…`), for the embedded server and any other Vouch service that needs a password check
 * (the gate reuses `parseHtpasswd` and `checkBasicAuthorization`).
 *
 * Contract:
 * - `parseHtpasswd` accepts `user:hash` lines (blank lines and `#` comments skipped) whose hash is
 *   bcrypt (`$2a$`, `$2b$`, `$2y$`); any other scheme (apr1-MD5, SHA-1, crypt, plain text) or a
 *   duplicate user is a `ServerConfigError` naming the line, so a weak file never loads.
 * - `checkBasicAuthorization` resolves to the user name when `Authorization: Basic …` names a
 *   listed user with the right password, else undefined. An unknown user still costs one bcrypt
 *   comparison, so timing does not tell which users exist. A verified header is remembered (by its
 *   SHA-256, never in clear) for `cacheTtlMs`, so a client's every GET does not pay for bcrypt.
 * - `BasicAuth.authorize` grants every action to a listed user (the file is the list of people
 *   allowed to publish, rotate keys, delete and read the changefeeds) and otherwise throws
 *   `ServerError('UNAUTHORIZED')` with a `WWW-Authenticate: Basic realm=…` challenge.
 * - Reads of metadata stay anonymous (`anonymousPull`): notary and docker send no password for
 *   `list`/`lookup`/`pull` (they expect a token server to hand anonymous pull tokens), and signed
 *   metadata is public by design. Collections that must be private need token auth.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { Access } from './auth.ts';
import { ServerConfigError } from './config.ts';
import { ServerError } from './errors.ts';

export type Htpasswd = ReadonlyMap<string, string>;

const BCRYPT = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;
/** A valid hash compared against when the user is unknown (cost 10, like `htpasswd -B`). */
const DUMMY_HASH = '$2y$10$ieR.wyhSP0pWUXX9vccRUeFZxjgUGyGcmvwm6bczW7b718cwznA.C';
const MAX_HEADER_CHARS = 4096;

export function parseHtpasswd(text: string, source: string): Htpasswd {
  const users = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const user = colon < 0 ? '' : line.slice(0, colon);
    const hash = colon < 0 ? '' : line.slice(colon + 1);
    if (user === '') throw new ServerConfigError(`${source} line ${i + 1}: expected user:hash`);
    if (!BCRYPT.test(hash)) throw new ServerConfigError(`${source} line ${i + 1}: the hash of user "${user}" is not bcrypt; write it with htpasswd -B`);
    if (users.has(user)) throw new ServerConfigError(`${source} line ${i + 1}: user "${user}" is listed twice`);
    users.set(user, hash);
  }
  if (users.size === 0) throw new ServerConfigError(`${source} lists no user: add one with htpasswd -B ${source} USER`);
  return users;
}

/** Splits `Basic base64(user:password)`; undefined when the header is not that. */
function credentials(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined || header.length > MAX_HEADER_CHARS) return undefined;
  const m = /^basic +([A-Za-z0-9+/]+={0,2})$/i.exec(header.trim());
  if (m === null) return undefined;
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export interface BasicCheckOptions {
  /** How long a verified header is remembered (default 5 minutes; 0 disables). */
  readonly cacheTtlMs?: number;
  readonly now?: () => number;
}

const verified = new WeakMap<Htpasswd, Map<string, { user: string; until: number; digest: Buffer }>>();

/** The user a Basic `Authorization` header authenticates against `users`, or undefined. */
export async function checkBasicAuthorization(header: string | undefined, users: Htpasswd, opts: BasicCheckOptions = {}): Promise<string | undefined> {
  const creds = credentials(header);
  if (creds === undefined) return undefined;
  const ttl = opts.cacheTtlMs ?? 300_000;
  const now = (opts.now ?? Date.now)();
  const digest = createHash('sha256').update(header as string).digest();
  const key = digest.toString('hex');
  let cache = verified.get(users);
  if (cache === undefined) {
    cache = new Map();
    verified.set(users, cache);
  }
  const hit = cache.get(key);
  if (hit !== undefined && hit.until > now && timingSafeEqual(hit.digest, digest)) return hit.user;
  const hash = users.get(creds.user);
  const ok = await bcrypt.compare(creds.password, hash ?? DUMMY_HASH);
  if (!ok || hash === undefined) return undefined;
  if (ttl > 0) {
    if (cache.size >= 1000) cache.clear();
    cache.set(key, { user: creds.user, until: now + ttl, digest });
  }
  return creds.user;
}

export class BasicAuth {
  readonly anonymousPull = true;
  private readonly users: Htpasswd;
  private readonly realm: string;

  constructor(users: Htpasswd, realm = 'vouch') {
    this.users = users;
    this.realm = realm;
  }

  /** Throws UNAUTHORIZED unless `authorization` names a listed user with the right password. */
  async authorize(authorization: string | undefined, _host: string | undefined, access: readonly Access[], _now: Date): Promise<void> {
    const user = await checkBasicAuthorization(authorization, this.users);
    if (user !== undefined) return;
    const detail = access.map((a) => ({ Type: a.type, Class: '', Name: a.name, Action: a.action }));
    throw new ServerError('UNAUTHORIZED', detail, { headers: { 'WWW-Authenticate': `Basic realm=${JSON.stringify(this.realm)}, charset="UTF-8"` } });
  }
}

/**
 * notary-server's route table (docs/formats.md §6.1) over the decoded request path, with the
 * access each route requires under token auth and its metrics operation.
 *
 * Contract: `matchRoute` tries the routes in notary's registration order with notary's regexes
 * (`{gun}` = `[^*]+`, `{role}` = `root|targets(?:/[^/\s]+)*|snapshot|timestamp`) and falls back to
 * the catch-all (404 `METADATA_NOT_FOUND`, which needs `registry:catalog:*` when auth is on).
 * `checkGun` adds what notary leaves to its router's path cleaning: a GUN must be path-clean
 * (no empty, `.` or `..` segment, no leading slash), free of control characters and at most 255
 * bytes (the database column).
 */
import type { Operation } from './metrics.ts';

export type RouteKind =
  | 'ping' | 'update' | 'getByHash' | 'getByVersion' | 'getCurrent'
  | 'getKey' | 'rotateKey' | 'delete' | 'changefeed' | 'globalChangefeed' | 'notFound';

export interface RouteMatch {
  readonly kind: RouteKind;
  readonly operation?: Operation;
  /** Undefined for routes without a GUN (ping, global changefeed, catch-all). */
  readonly gun?: string;
  readonly role?: string;
  readonly checksum?: string;
  readonly version?: string;
  /** Actions on `repository:<gun>`; routes without a GUN need `registry:catalog:*`. */
  readonly actions: readonly string[];
  /** Whether a 200 answer carries cache headers, and of which kind. */
  readonly cache?: 'current' | 'consistent';
}

const ROLE = 'root|targets(?:/[^/\\s]+)*|snapshot|timestamp';
const GUN = '[^*]+';

interface RouteDef {
  readonly method: string;
  readonly re: RegExp;
  readonly kind: RouteKind;
  readonly operation?: Operation;
  readonly actions: readonly string[];
  readonly cache?: 'current' | 'consistent';
}

const ROUTES: readonly RouteDef[] = [
  { method: 'GET', re: /^\/v2\/$/, kind: 'ping', actions: [] },
  { method: 'POST', re: new RegExp(`^/v2/(?<gun>${GUN})/_trust/tuf/$`), kind: 'update', operation: 'UpdateTUF', actions: ['push', 'pull'] },
  {
    method: 'GET', kind: 'getByHash', operation: 'GetRoleByHash', actions: ['pull'], cache: 'consistent',
    re: new RegExp(`^/v2/(?<gun>${GUN})/_trust/tuf/(?<role>${ROLE})\\.(?<checksum>[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128})\\.json$`),
  },
  {
    method: 'GET', kind: 'getByVersion', operation: 'GetRoleByVersion', actions: ['pull'], cache: 'consistent',
    re: new RegExp(`^/v2/(?<gun>${GUN})/_trust/tuf/(?<version>[1-9]*[0-9]+)\\.(?<role>${ROLE})\\.json$`),
  },
  {
    method: 'GET', kind: 'getCurrent', operation: 'GetRole', actions: ['pull'], cache: 'current',
    re: new RegExp(`^/v2/(?<gun>${GUN})/_trust/tuf/(?<role>${ROLE})\\.json$`),
  },
  { method: 'GET', re: new RegExp(`^/v2/(?<gun>${GUN})/_trust/tuf/(?<role>snapshot|timestamp)\\.key$`), kind: 'getKey', operation: 'GetKey', actions: ['push', 'pull'] },
  { method: 'POST', re: new RegExp(`^/v2/(?<gun>${GUN})/_trust/tuf/(?<role>snapshot|timestamp)\\.key$`), kind: 'rotateKey', operation: 'RotateKey', actions: ['*'] },
  { method: 'DELETE', re: new RegExp(`^/v2/(?<gun>${GUN})/_trust/tuf/$`), kind: 'delete', operation: 'DeleteTUF', actions: ['*'] },
  { method: 'GET', re: new RegExp(`^/v2/(?<gun>${GUN})/_trust/changefeed$`), kind: 'changefeed', operation: 'Changefeed', actions: ['pull'] },
  { method: 'GET', re: /^\/v2\/_trust\/changefeed$/, kind: 'globalChangefeed', operation: 'Changefeed', actions: ['*'] },
];

/** Cheap tests that rule a route out before its regex runs (most requests are current reads). */
const HASHED = /\.[a-fA-F0-9]{64,128}\.json$/;
const VERSIONED = /\/_trust\/tuf\/[0-9]+\./;

export function matchRoute(method: string, path: string): RouteMatch {
  for (const r of ROUTES) {
    if (r.method !== method) continue;
    if ((r.kind === 'getByHash' && !HASHED.test(path)) || (r.kind === 'getByVersion' && !VERSIONED.test(path))) continue;
    const m = r.re.exec(path);
    if (m === null) continue;
    const g = m.groups ?? {};
    return {
      kind: r.kind, actions: r.actions,
      ...(r.operation !== undefined ? { operation: r.operation } : {}),
      ...(r.cache !== undefined ? { cache: r.cache } : {}),
      ...(g['gun'] !== undefined ? { gun: g['gun'] } : {}),
      ...(g['role'] !== undefined ? { role: g['role'] } : {}),
      ...(g['checksum'] !== undefined ? { checksum: g['checksum'] } : {}),
      ...(g['version'] !== undefined ? { version: g['version'] } : {}),
    };
  }
  return { kind: 'notFound', actions: [] };
}

const goodGuns = new Set<string>();

/** Why a GUN is refused, or undefined when it is acceptable (accepted GUNs are remembered). */
export function checkGun(gun: string): string | undefined {
  if (goodGuns.has(gun)) return undefined;
  const why = gunProblem(gun);
  if (why === undefined) {
    if (goodGuns.size >= 10_000) goodGuns.clear();
    goodGuns.add(gun);
  }
  return why;
}

function gunProblem(gun: string): string | undefined {
  if (Buffer.byteLength(gun) > 255) return 'a GUN is at most 255 bytes';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(gun)) return 'a GUN must not contain control characters';
  if (/\s/.test(gun)) return 'a GUN must not contain white space';
  if (gun.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) return 'a GUN must be a clean path';
  return undefined;
}

/**
 * `repositories.gun_prefixes`, segment-aware: notary requires each prefix to end in `/`, so
 * `docker.io/library/` never admits `docker.io/libraryevil`; a prefix without the slash is
 * matched as a whole segment as well.
 */
export function gunAllowed(gun: string, prefixes: readonly string[]): boolean {
  if (prefixes.length === 0) return true;
  return prefixes.some((p) => (p.endsWith('/') ? gun.startsWith(p) : gun === p || gun.startsWith(`${p}/`)));
}

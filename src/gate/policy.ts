/**
 * Which signatures make a tag acceptable, per repository pattern (docs/architecture.md, "gate").
 *
 * Contract:
 * - The first policy whose `repository` glob (`*` matches any run of characters, `/` included)
 *   matches the client's repository name applies; without a match the default applies: signed
 *   content required, looked up as docker's pull did (`targets/releases`, then `targets`).
 * - `unsigned: 'allow'` takes the repository out of content trust (proxied as it is);
 *   `unsigned: 'deny'` (default) refuses anything without valid trust data.
 * - `roles`: the roles consulted in priority order (first that signs the tag wins).
 * - `signers` (docker signer names, i.e. roles `targets/<name>`) with `threshold` (default: all of
 *   them): at least `threshold` of those roles must sign the tag, all with the same hashes and
 *   length. A signer role whose file failed verification counts as not signing.
 * - `evaluate` returns the signed digest and length of the tag, or throws `GateError('DENIED')`
 *   whose message says why; `signedDigests` is the same decision for every tag at once.
 */
import type { FileMeta } from '../tuf/metadata.ts';
import type { RoleName } from '../tuf/types.ts';
import { findTarget, listTargets } from '../client/reader.ts';
import type { UpdatedCollection } from '../client/update.ts';
import { RELEASES_ROLE, sha256HexOf } from '../client/docker/roles.ts';
import { configError, denied } from './errors.ts';

export interface Policy {
  readonly repository: string;
  readonly unsigned: 'deny' | 'allow';
  readonly roles: readonly string[];
  readonly signers: readonly string[];
  readonly threshold: number;
}

export const DOCKER_PULL_ROLES: readonly string[] = [RELEASES_ROLE, 'targets'];

export const DEFAULT_POLICY: Policy = { repository: '*', unsigned: 'deny', roles: DOCKER_PULL_ROLES, signers: [], threshold: 0 };

export interface SignedTarget {
  /** `sha256:<hex>` */
  readonly digest: string;
  readonly length: number;
  /** The roles whose signatures made the decision. */
  readonly roles: readonly string[];
}

/** A verified collection and the delegations set aside (what `updateCollection` returns). */
export type Verified = Pick<UpdatedCollection, 'collection' | 'invalid'>;

const SIGNER_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const ROLE_NAME = /^targets(\/[A-Za-z0-9_.-]+)*$/;

function globRegex(glob: string): RegExp {
  const escaped = glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${escaped}$`);
}

/** Parses the `policies` array of the gate config (typed errors naming the bad entry). */
export function parsePolicies(raw: unknown): Policy[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw configError('policies must be an array');
  return raw.map((entry, i): Policy => {
    const where = `policies[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw configError(`${where} must be an object`);
    const o = entry as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!['repository', 'unsigned', 'roles', 'signers', 'threshold'].includes(k)) throw configError(`${where}: unknown key ${JSON.stringify(k)}`);
    }
    const repository = o['repository'];
    if (typeof repository !== 'string' || repository === '' || repository.length > 256) throw configError(`${where}.repository must be a repository name or glob`);
    const unsigned = o['unsigned'] ?? 'deny';
    if (unsigned !== 'deny' && unsigned !== 'allow') throw configError(`${where}.unsigned must be "deny" or "allow"`);
    const strings = (key: string, re: RegExp): string[] => {
      const v = o[key] ?? [];
      if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || !re.test(s))) throw configError(`${where}.${key} must be a list of ${key === 'roles' ? 'role names (targets, targets/releases, …)' : 'signer names'}`);
      return v as string[];
    };
    const roles = strings('roles', ROLE_NAME);
    const signers = strings('signers', SIGNER_NAME);
    const t = o['threshold'] ?? signers.length;
    if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < (signers.length > 0 ? 1 : 0) || t > signers.length) {
      throw configError(`${where}.threshold must be between 1 and the number of signers (${signers.length})`);
    }
    if (signers.length > 0 && roles.length > 0) throw configError(`${where}: give roles or signers, not both`);
    return { repository, unsigned, roles: roles.length > 0 ? roles : DOCKER_PULL_ROLES, signers, threshold: t };
  });
}

export class PolicySet {
  private readonly entries: readonly { policy: Policy; re: RegExp }[];

  constructor(policies: readonly Policy[]) {
    this.entries = policies.map((policy) => ({ policy, re: globRegex(policy.repository) }));
  }

  for(repository: string): Policy {
    return this.entries.find((e) => e.re.test(repository))?.policy ?? DEFAULT_POLICY;
  }
}

function digestOf(meta: FileMeta): string | undefined {
  const hex = sha256HexOf(meta);
  return hex === '' ? undefined : `sha256:${hex}`;
}

/** The signed digest of `tag` under `policy`, or a DENIED error saying why not. */
export function evaluate(u: Verified, tag: string, policy: Policy): SignedTarget {
  const tc = u.collection;
  if (policy.signers.length === 0) {
    // As `vouch trust resolve`: a broken targets/releases that lists the tag (or cannot be read)
    // is that failure, never a silent fallback to a stale `targets` entry.
    const broken = tc.invalidRoles.get(RELEASES_ROLE as RoleName);
    const brokenFile = u.invalid.get(RELEASES_ROLE as RoleName);
    if (broken !== undefined && policy.roles.includes(RELEASES_ROLE) && (brokenFile === undefined || brokenFile.signed.targets.has(tag))) {
      throw denied(`trust data for ${tag} is invalid: ${broken.error.message}`, 'invalid-trust-data', broken.error);
    }
    const hit = findTarget(tc, tag, policy.roles);
    if (hit === undefined) throw denied(`no valid trust data for ${tag}`, 'unsigned');
    const digest = digestOf(hit.meta);
    if (digest === undefined) throw denied(`trust data for ${tag} has no sha256 hash`, 'invalid-trust-data');
    return { digest, length: hit.meta.length, roles: [hit.role] };
  }
  const signed: { role: string; digest: string; length: number }[] = [];
  for (const signer of policy.signers) {
    const role = `targets/${signer}`;
    if (tc.invalidRoles.has(role as RoleName)) continue;
    const hit = findTarget(tc, tag, [role]);
    if (hit === undefined || hit.role !== role) continue;
    const digest = digestOf(hit.meta);
    if (digest !== undefined) signed.push({ role, digest, length: hit.meta.length });
  }
  const first = signed[0];
  if (first !== undefined && signed.some((s) => s.digest !== first.digest || s.length !== first.length)) {
    throw denied(`signers disagree on ${tag}: ${signed.map((s) => `${s.role.slice('targets/'.length)} signed ${s.digest}`).join(', ')}`, 'signers-disagree');
  }
  if (first === undefined || signed.length < policy.threshold) {
    const who = signed.length === 0 ? 'none' : signed.map((s) => s.role.slice('targets/'.length)).join(', ');
    throw denied(`insufficient signatures for ${tag}: ${policy.threshold} of ${policy.signers.join(', ')} required, signed by ${who}`, 'insufficient-signers');
  }
  return { digest: first.digest, length: first.length, roles: signed.map((s) => s.role) };
}

/** Every tag the policy accepts, with its decision (tags/list and by-digest lookups). */
export function signedTags(u: Verified, policy: Policy): Map<string, SignedTarget> {
  const tc = u.collection;
  const out = new Map<string, SignedTarget>();
  const roles = policy.signers.length === 0 ? policy.roles : policy.signers.map((s) => `targets/${s}`);
  for (const t of listTargets(tc, roles)) {
    if (out.has(t.name)) continue;
    try {
      out.set(t.name, evaluate(u, t.name, policy));
    } catch {
      // not acceptable under this policy: not listed
    }
  }
  return out;
}

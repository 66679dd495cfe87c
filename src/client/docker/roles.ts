/**
 * docker's conventions on top of notary roles (docs/formats.md §12.3–12.5, docs/compatibility.md C13/K18):
 * a tag is *released* when `targets` or `targets/releases` signs it; other delegations
 * `targets/<name>` are *signers*, reported only for a released digest; docker signs into every
 * direct child of `targets` it holds a key for and whose paths allow the tag, or into `targets`
 * when there are no delegations at all.
 */
import type { FileMeta } from '../../tuf/metadata.ts';
import { pathAllowed } from '../../tuf/roles.ts';
import { ClientError } from '../errors.ts';
import type { KeySource } from '../keys.ts';
import type { TargetSignedStruct } from '../reader.ts';
import type { Repository } from '../repository.ts';

export const RELEASES_ROLE = 'targets/releases';
/** How docker names the holder of the targets key. */
export const REPO_ADMIN = 'Repo Admin';
const VALID_SIGNER_NAME = /^[a-z0-9][a-z0-9_-]*$/;

export interface TrustTagRow {
  readonly SignedTag: string;
  /** Hex sha256 of the manifest. */
  readonly Digest: string;
  readonly Signers: string[];
}

export function isReleasedRole(role: string): boolean {
  return role === 'targets' || role === RELEASES_ROLE;
}

/** docker's `notaryRoleToSigner`: `targets/alice` → `alice`; released roles → `Repo Admin`. */
export function roleToSigner(role: string): string {
  if (isReleasedRole(role)) return REPO_ADMIN;
  return role.startsWith('targets/') ? role.slice('targets/'.length) : role;
}

/** docker's signer-name rule and its reserved name. */
export function checkSignerName(name: string): void {
  if (!VALID_SIGNER_NAME.test(name)) {
    throw new ClientError('INVALID_INPUT', `signer name "${name}" must start with lowercase alphanumeric characters and can include "-" or "_" after the first character`);
  }
  if (name === 'releases') throw new ClientError('INVALID_INPUT', 'releases is a reserved keyword, use a different signer name');
}

export function sha256HexOf(meta: FileMeta): string {
  const d = meta.hashes.get('sha256');
  return d === undefined ? '' : Buffer.from(d).toString('hex');
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/**
 * "Natural" order as docker sorts tags: runs of digits compare as numbers (then by the number of
 * leading zeros), everything else byte by byte; digits sort before other characters.
 */
export function naturalCompare(a: string, b: string): number {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    const c1 = x[i] as number;
    const c2 = y[j] as number;
    const d1 = isDigit(c1);
    const d2 = isDigit(c2);
    if (d1 !== d2) return d1 ? -1 : 1;
    if (!d1) {
      if (c1 !== c2) return c1 - c2;
      i++;
      j++;
      continue;
    }
    while (i < x.length && x[i] === 0x30) i++;
    while (j < y.length && y[j] === 0x30) j++;
    const s1 = i;
    const s2 = j;
    while (i < x.length && isDigit(x[i] as number)) i++;
    while (j < y.length && isDigit(y[j] as number)) j++;
    if (i - s1 !== j - s2) return (i - s1) - (j - s2);
    const cmp = Buffer.compare(x.subarray(s1, i), y.subarray(s2, j));
    if (cmp !== 0) return cmp;
    if (s1 !== s2) return s1 - s2;
  }
  return (x.length - i) - (y.length - j);
}

/**
 * docker's `matchReleasedSignatures`: one row per released (tag, digest), listing the other roles
 * that sign the same digest; sorted naturally by tag (then digest, for a stable order).
 */
export function matchReleasedSignatures(all: readonly TargetSignedStruct[]): TrustTagRow[] {
  const rows = new Map<string, TrustTagRow>();
  const key = (t: TargetSignedStruct): string => `${t.target.name}\u0000${sha256HexOf(t.target.meta)}`;
  for (const t of all) {
    if (isReleasedRole(t.role) && !rows.has(key(t))) rows.set(key(t), { SignedTag: t.target.name, Digest: sha256HexOf(t.target.meta), Signers: [] });
  }
  for (const t of all) {
    const row = rows.get(key(t));
    if (row !== undefined && !isReleasedRole(t.role)) row.Signers.push(roleToSigner(t.role));
  }
  return [...rows.values()].sort((p, q) => naturalCompare(p.SignedTag, q.SignedTag) || (p.Digest < q.Digest ? -1 : p.Digest > q.Digest ? 1 : 0));
}

/** docker's `GetSignableRoles` for a target name. */
export async function signableRoles(repo: Repository, keys: KeySource, name: string): Promise<string[]> {
  const held = await keys.heldKeyIds();
  const delegations = await repo.getDelegationRoles();
  if (delegations.length === 0) return ['targets'];
  const out: string[] = [];
  for (const d of delegations) {
    const direct = d.name.startsWith('targets/') && !d.name.slice('targets/'.length).includes('/');
    if (!direct || !pathAllowed(d.paths, name)) continue;
    if (d.keyIds.some((id) => held.has(id))) out.push(d.name);
  }
  if (out.length === 0) throw new ClientError('KEY_UNAVAILABLE', 'no valid signing keys for delegation roles');
  return out;
}

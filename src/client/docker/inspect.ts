/**
 * `docker trust inspect` (docs/compatibility.md K8): the read-only view of an image's trust data and docker
 * 28's two renderings of it, byte for byte.
 *
 * Contract:
 * - `lookupTrustInfo` reads with pull access: released signatures (`matchReleasedSignatures` over
 *   every role that signs the tag, or every tag), the base roles with signatures, and the
 *   delegations. A repository without trust data, or any read failure other than "no such tag",
 *   is `no signatures or cannot access <ref>` (docker's text; the cause is kept).
 * - `inspectJson` renders docker's JSON array (Go `json.MarshalIndent` with 4 spaces and Go's
 *   HTML escaping; `[]` when nothing could be inspected); `inspectPretty` the `--pretty` text with
 *   docker's table layout (Go tabwriter: min width 10, padding 3).
 */
import { VouchError } from '../../errors.ts';
import { TARGETS } from '../../tuf/roles.ts';
import { ClientError } from '../errors.ts';
import { getAllTargetMetadataByName, getDelegationRoles, type DelegationInfo, type TargetSignedStruct } from '../reader.ts';
import type { RoleWithSignatures } from '../repository.ts';
import { codeOf, DockerTrustError } from './errors.ts';
import { matchReleasedSignatures, naturalCompare, RELEASES_ROLE, REPO_ADMIN, roleToSigner, type TrustTagRow } from './roles.ts';
import type { TrustSession } from './session.ts';

export interface TrustInfo {
  readonly rows: TrustTagRow[];
  readonly adminRoles: readonly RoleWithSignatures[];
  readonly delegations: readonly DelegationInfo[];
}

export interface TrustKey {
  readonly ID: string;
}

export interface TrustSigner {
  readonly Name: string;
  readonly Keys: TrustKey[];
}

/** One element of `docker trust inspect`'s JSON array. */
export interface TrustRepo {
  readonly Name: string;
  readonly SignedTags: TrustTagRow[];
  readonly Signers: TrustSigner[];
  readonly AdministrativeKeys: TrustSigner[];
}

export async function lookupTrustInfo(session: TrustSession, remote: string): Promise<TrustInfo> {
  let tc;
  try {
    tc = (await session.repo.update()).collection;
  } catch (e) {
    throw new DockerTrustError(e instanceof VouchError ? codeOf(e) : 'NO_TRUST_DATA', `no signatures or cannot access ${remote}`, { cause: e });
  }
  let all: TargetSignedStruct[] = [];
  try {
    all = getAllTargetMetadataByName(tc, session.ref.tag ?? '');
  } catch (e) {
    if (!(e instanceof ClientError && e.code === 'NO_SUCH_TARGET')) throw e;
  }
  const adminRoles: RoleWithSignatures[] = [];
  const root = tc.root;
  for (const [name, file] of [['root', root], ['targets', tc.targets.get(TARGETS)]] as const) {
    const r = root?.signed.roles.get(name);
    if (r !== undefined) adminRoles.push({ name, keyIds: r.keyIds, threshold: r.threshold, signatures: file?.signatures ?? [] });
  }
  return { rows: matchReleasedSignatures(all), adminRoles, delegations: getDelegationRoles(tc) };
}

/** docker's `getDelegationRoleToKeyMap`: signer name → canonical key IDs (releases excluded). */
export function signerKeyMap(delegations: readonly DelegationInfo[]): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  for (const d of delegations) {
    if (d.name === RELEASES_ROLE) continue;
    out.set(roleToSigner(d.name), d.keyIds);
  }
  return out;
}

export function trustRepo(remote: string, info: TrustInfo): TrustRepo {
  const SignedTags = info.rows.map((r) => ({ ...r, Signers: r.Signers.length === 0 ? [REPO_ADMIN] : [...r.Signers] }));
  const Signers = [...signerKeyMap(info.delegations)].map(([Name, ids]) => ({ Name, Keys: ids.map((ID) => ({ ID })) }))
    .sort((a, b) => (a.Name > b.Name ? -1 : a.Name < b.Name ? 1 : 0));
  const AdministrativeKeys: TrustSigner[] = [];
  for (const r of info.adminRoles) {
    if (r.name === 'root') AdministrativeKeys.push({ Name: 'Root', Keys: r.keyIds.map((ID) => ({ ID })) });
    if (r.name === 'targets') AdministrativeKeys.push({ Name: 'Repository', Keys: r.keyIds.map((ID) => ({ ID })) });
  }
  AdministrativeKeys.sort((a, b) => (a.Name > b.Name ? -1 : a.Name < b.Name ? 1 : 0));
  return { Name: remote, SignedTags, Signers, AdministrativeKeys };
}

/** Go's encoding/json escapes these even inside strings. */
export function goHtmlEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Go omits empty `Keys` (`omitempty`); everything else is always present. */
function withoutEmptyKeys(repo: TrustRepo): unknown {
  const strip = (s: TrustSigner): unknown => (s.Keys.length === 0 ? { Name: s.Name } : s);
  return { ...repo, Signers: repo.Signers.map(strip), AdministrativeKeys: repo.AdministrativeKeys.map(strip) };
}

/** The whole stdout of `docker trust inspect` for the repositories that could be read. */
export function inspectJson(repos: readonly TrustRepo[]): string {
  if (repos.length === 0) return '[]\n';
  return `${goHtmlEscape(JSON.stringify(repos.map(withoutEmptyKeys), null, 4))}\n`;
}

/**
 * Go's text/tabwriter as docker configures it for tables: every tab-terminated cell is padded to
 * the widest cell of its column plus 3, at least 10; the last cell of a line is written as is.
 */
export function tabulate(lines: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const cells of lines) {
    cells.slice(0, -1).forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, Math.max([...c].length + 3, 10));
    });
  }
  const pad = (c: string, i: number): string => c + ' '.repeat((widths[i] ?? 0) - [...c].length);
  return lines.map((cells) => cells.map((c, i) => (i < cells.length - 1 ? pad(c, i) : c)).join('') + '\n').join('');
}

const truncateId = (id: string): string => id.slice(0, 12);

function adminLine(role: RoleWithSignatures): string {
  const label = role.name === 'targets' ? 'Repository Key' : role.name === 'root' ? 'Root Key' : undefined;
  if (label === undefined) return '';
  return `  ${label}:\t${[...role.keyIds].sort().join(', ')}\n`;
}

/** `docker trust inspect --pretty` for one repository. */
export function inspectPretty(remote: string, info: TrustInfo): string {
  let out = '';
  if (info.rows.length > 0) {
    out += `\nSignatures for ${remote}\n\n`;
    const rows = info.rows.map((r) => [r.SignedTag, r.Digest, (r.Signers.length === 0 ? [`(${REPO_ADMIN})`] : [...r.Signers]).sort().join(', ')]);
    out += tabulate([['SIGNED TAG', 'DIGEST', 'SIGNERS'], ...rows]);
  } else {
    out += `\nNo signatures for ${remote}\n\n`;
  }
  const signers = signerKeyMap(info.delegations);
  if (signers.size > 0) {
    out += `\nList of signers and their keys for ${remote}\n\n`;
    const rows = [...signers].sort(([a], [b]) => naturalCompare(a, b)).map(([name, ids]) => [name, [...ids].sort().map(truncateId).join(', ')]);
    out += tabulate([['SIGNER', 'KEYS'], ...rows]);
  }
  out += `\nAdministrative keys for ${remote}\n\n`;
  const admin = [...info.adminRoles].sort((a, b) => (a.name > b.name ? -1 : a.name < b.name ? 1 : 0));
  for (const r of admin) out += adminLine(r);
  return out;
}

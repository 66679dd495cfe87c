/**
 * Root validation and trust pinning (docs/formats.md §5.4; notary's `trustpinning.ValidateRoot`).
 *
 * 1. The root role's keys must carry a usable leaf certificate for the GUN (checked with expiry).
 * 2. With a previously trusted root, the new root must meet the *previous* root's threshold with
 *    keys rebuilt from the previous root's certificates (rotation).
 * 3. Trust pinning (certs, then CA, then TOFU) selects which of the new leaves count.
 * 4. The new root must meet its *own* threshold with the selected leaves.
 *
 * The caller decides the pinning: notary consults `trust_pinning` only on the first bootstrap and
 * uses TOFU once a root is cached. CA bundles arrive as PEM text, read by the caller.
 */
import { VerificationError } from './errors.ts';
import type { Metadata, RootSigned } from './metadata.ts';
import { certificateBundle, checkCertificate, leafChainsToCa, leafMatchesPinnedIds, matchCnToGun, pinnedCaCertificates, rootLeafCertificates, rootLeafKeys, type RootLeaf } from './certs.ts';
import type { PublicKey } from './keys.ts';
import type { Gun } from './types.ts';
import { verifySignatures } from './verify.ts';

export interface TrustPinning {
  /** GUN, or `prefix*`, → certificate key IDs as they appear in root.json. */
  readonly certs?: Readonly<Record<string, readonly string[]>>;
  /** GUN prefix → PEM text of a CA bundle. */
  readonly ca?: Readonly<Record<string, string>>;
  /** Refuse trust on first use when neither certs nor ca match. */
  readonly disableTofu?: boolean;
}

export interface ValidateRootInput {
  readonly root: Metadata<RootSigned>;
  readonly previous: Metadata<RootSigned> | undefined;
  readonly gun: Gun;
  readonly now: Date;
  readonly pinning: TrustPinning | undefined;
}

export interface RootValidation {
  /** Near-expiry warnings for the root certificates (notary logs these). */
  readonly warnings: readonly string[];
}

function untrusted(reason: string, cause?: unknown): VerificationError {
  return new VerificationError('ROOT_UNTRUSTED', `could not validate the path to a trusted root: ${reason}`, 'root', cause === undefined ? undefined : { cause });
}

/** The keys a root lists for its own role. */
function rootRoleKeys(root: RootSigned): PublicKey[] {
  const role = root.roles.get('root');
  if (role === undefined) return [];
  return role.keyIds.flatMap((id) => {
    const key = root.keys.get(id);
    return key === undefined ? [] : [key];
  });
}

/** Why no leaf qualified, for a message that says more than notary's bare reason. */
function leafProblems(keys: readonly PublicKey[], gun: Gun, now: Date): string[] {
  const problems: string[] = [];
  for (const key of keys) {
    try {
      const [first] = certificateBundle(key);
      if (first === undefined) continue;
      if (!matchCnToGun(first.commonName, gun)) problems.push(`certificate CN ${first.commonName} does not match ${gun}`);
      else checkCertificate(first, { now });
    } catch (e) {
      if (e instanceof Error) problems.push(e.message);
    }
  }
  return problems;
}

type PinCheck = (leaf: RootLeaf) => boolean;

function pinChecker(pinning: TrustPinning | undefined, gun: Gun, firstBootstrap: boolean, now: Date): PinCheck {
  const certs = pinning?.certs ?? {};
  const exact = certs[gun];
  if (exact !== undefined) return (leaf) => leafMatchesPinnedIds(leaf, exact);
  let longest = '';
  let wildcardIds: readonly string[] | undefined;
  for (const [prefix, ids] of Object.entries(certs)) {
    if (prefix.endsWith('*') && gun.startsWith(prefix.slice(0, -1)) && prefix.length > longest.length) {
      longest = prefix;
      wildcardIds = ids;
    }
  }
  if (wildcardIds !== undefined) {
    const ids = wildcardIds;
    return (leaf) => leafMatchesPinnedIds(leaf, ids);
  }
  let caPrefix: string | undefined;
  for (const prefix of Object.keys(pinning?.ca ?? {})) {
    if (gun.startsWith(prefix) && (caPrefix === undefined || prefix.length >= caPrefix.length)) caPrefix = prefix;
  }
  if (caPrefix !== undefined) {
    const cas = pinnedCaCertificates(pinning?.ca?.[caPrefix] ?? '', now);
    return (leaf) => leafChainsToCa(leaf, cas, now);
  }
  if (pinning?.disableTofu === true && firstBootstrap) throw untrusted('invalid trust pinning specified');
  return () => true;
}

/** Throws `ROOT_UNTRUSTED` or `ROOT_ROTATION_FAILED` unless `root` may be trusted (§5.4). */
export function validateRoot(input: ValidateRootInput): RootValidation {
  const { root, previous, gun, now } = input;
  const newKeys = rootRoleKeys(root.signed);
  const leaves = rootLeafCertificates(newKeys, gun, { now });
  if (leaves.length === 0) {
    const problems = leafProblems(newKeys, gun, now);
    const detail = problems.length > 0 ? ` (${problems.join('; ')})` : '';
    throw untrusted(`unable to retrieve valid leaf certificates${detail}`);
  }

  if (previous !== undefined) {
    const trustedLeaves = rootLeafCertificates(rootRoleKeys(previous.signed), gun);
    if (trustedLeaves.length === 0) throw untrusted('could not retrieve trusted certs from previous root role data');
    const prevRole = previous.signed.roles.get('root');
    if (prevRole === undefined) throw untrusted('could not retrieve previous root role data');
    try {
      verifySignatures(root, { name: '', keys: rootLeafKeys(trustedLeaves), threshold: prevRole.threshold });
    } catch (cause) {
      if (!(cause instanceof VerificationError)) throw cause;
      throw new VerificationError(
        'ROOT_ROTATION_FAILED',
        'could not rotate trust to a new trusted root: failed to validate data with current trusted certificates',
        'root',
        { cause },
      );
    }
  }

  const check = pinChecker(input.pinning, gun, previous === undefined, now);
  const pinned = leaves.filter(check);
  if (pinned.length === 0) throw untrusted('unable to match any certificates to trust_pinning config');

  const threshold = root.signed.roles.get('root')?.threshold ?? 1;
  try {
    verifySignatures(root, { name: '', keys: rootLeafKeys(pinned), threshold });
  } catch (cause) {
    if (!(cause instanceof VerificationError)) throw cause;
    throw untrusted('failed to validate integrity of roots', cause);
  }
  return { warnings: pinned.flatMap((l) => l.warnings) };
}

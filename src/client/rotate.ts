/**
 * `notary key rotate` (docs/compatibility.md A10–A16, E1): replace all keys of a base role and publish the
 * root change at once (other staged changes are not published).
 *
 * Contract:
 * - timestamp: server-managed only; snapshot: either way; targets and root: client only — with
 *   notary's messages for the other combinations.
 * - New keys: the server's new key (`-r`), the given held keys (`-k`, imported by the caller), or
 *   a newly generated ECDSA key. Root keys are wrapped in new self-signed certificates.
 * - The new root is signed by the new root keys and by enough of the old ones (§5.5); with
 *   `legacyVersions`, also by the root keys of that many older root versions, fetched by version,
 *   so very old clients keep validating (A16).
 */
import { cosign, signSnapshot } from '../tuf/builder.ts';
import type { BaseRoleName } from '../tuf/edit.ts';
import type { PublicKey } from '../tuf/keys.ts';
import { parseMetadata } from '../tuf/metadata.ts';
import { isDelegationName, isValidRoleName } from '../tuf/roles.ts';
import type { Signer } from '../tuf/signer.ts';
import type { Operation } from './changes.ts';
import { requireRemote, type RepoContext } from './context.ts';
import { ClientError } from './errors.ts';
import { signersForKeys } from './keys.ts';

export interface RotateOptions {
  /** Let the server generate and hold the new key (timestamp, snapshot). */
  readonly serverManaged?: boolean;
  /** Canonical IDs of held keys to rotate to (already imported); default: a new key. */
  readonly keyIds?: readonly string[];
}

export function checkRotation(role: string, serverManaged: boolean): BaseRoleName {
  const canBeRemote = role === 'timestamp' || role === 'snapshot';
  const canBeLocal = role === 'snapshot' || role === 'targets' || role === 'root';
  if (!isValidRoleName(role) || isDelegationName(role)) throw new ClientError('INVALID_INPUT', `notary does not currently permit rotating the ${role} key`);
  if (serverManaged && !canBeRemote) throw new ClientError('INVALID_INPUT', `notary does not permit the server managing the ${role} key`);
  if (!serverManaged && !canBeLocal) throw new ClientError('INVALID_INPUT', `notary does not permit the client managing the ${role} key`);
  return role as BaseRoleName;
}

/** The operation that rotates `role` to its new keys (creating or fetching them). */
export async function rotationOperation(ctx: RepoContext, role: BaseRoleName, opts: RotateOptions): Promise<Operation> {
  let keys: PublicKey[];
  if (opts.serverManaged === true) {
    try {
      keys = [await requireRemote(ctx).rotateKey(role as 'timestamp' | 'snapshot')];
    } catch (e) {
      throw new ClientError('SERVER_REJECTED', `unable to rotate remote key: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  } else {
    const ids = opts.keyIds !== undefined && opts.keyIds.length > 0 ? [...opts.keyIds] : [(await ctx.keys.createKey(role, ctx.gun)).publicKey.id as string];
    keys = [];
    for (const id of ids) {
      keys.push(role === 'root' ? await ctx.keys.rootCertificateKey(id, ctx.gun, ctx.now()) : (await ctx.keys.signer(id, role)).publicKey);
    }
  }
  return { kind: 'change', change: { kind: 'rotateBaseRole', role, keys } };
}

/** Root keys of the `count` root versions before `current` (fetched by version), for legacy signing. */
export async function legacyRootKeys(ctx: RepoContext, current: number, count: number): Promise<PublicKey[]> {
  const remote = requireRemote(ctx);
  const oldest = count < 0 ? 1 : Math.max(1, current - count);
  const keys = new Map<string, PublicKey>();
  for (let v = current; v >= oldest; v--) {
    let bytes: Uint8Array;
    try {
      bytes = await remote.getRole('root', { version: v });
    } catch (e) {
      ctx.log.debug(`error downloading ${v}.root: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    const root = parseMetadata('root', bytes).signed;
    for (const id of root.roles.get('root')?.keyIds ?? []) {
      const k = root.keys.get(id);
      if (k !== undefined) keys.set(k.id, k);
    }
  }
  return [...keys.values()];
}

/**
 * Adds legacy root signatures to a produced root and, when the client signs snapshots, a new
 * snapshot over the re-signed root. Returns the replacement files.
 */
export async function addLegacySignatures(ctx: RepoContext, files: Map<string, Uint8Array>, legacy: readonly PublicKey[]): Promise<void> {
  const rootBytes = files.get('root');
  if (rootBytes === undefined || legacy.length === 0) return;
  const root = parseMetadata('root', rootBytes);
  const held = await ctx.keys.heldKeyIds();
  const signers: Signer[] = signersForKeys(ctx.keys, held, legacy, 'root');
  const listed = new Map<string, PublicKey>([...root.signed.keys]);
  for (const k of legacy) listed.set(k.id, k);
  const resigned = await cosign(root, signers, { name: 'root', keys: listed, threshold: 1 });
  files.set('root', resigned.bytes);
  const snapshotBytes = files.get('snapshot');
  if (snapshotBytes === undefined) return;
  const previous = parseMetadata('snapshot', snapshotBytes);
  const snapshotKeys = (root.signed.roles.get('snapshot')?.keyIds ?? []).flatMap((id) => root.signed.keys.get(id) ?? []);
  const snapshot = await signSnapshot({
    now: ctx.now(), previous, files: new Map([['root', resigned.bytes]]),
    signers: signersForKeys(ctx.keys, held, snapshotKeys, 'snapshot'),
    verifier: { name: 'snapshot', keys: new Map(snapshotKeys.map((k) => [k.id, k])), threshold: root.signed.roles.get('snapshot')?.threshold ?? 1 },
  });
  files.set('snapshot', snapshot.bytes);
}

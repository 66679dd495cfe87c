/**
 * `docker trust sign IMAGE:TAG` without a Docker engine (docs/compatibility.md K6, docs/formats.md §12.4).
 *
 * Contract, following docker 28 step by step:
 * - A digest reference or a missing tag is refused with docker's messages.
 * - A repository the server does not know is initialised (root key reused or created,
 *   server-managed snapshot) with a signer `targets/<name>` plus `targets/releases` holding that
 *   signer's key (reused or created, role header `<name>`), and published; `Created signer: <name>`.
 *   The signer name is the registry login docker would use, or `signerName`.
 * - An already released tag is re-signed with the released digest and size (existing signers are
 *   listed); otherwise — or with `fromRegistry` (docker's `--local`) — the digest and size come
 *   from the manifest the registry serves for the tag (docker pushed the local image instead).
 * - The target is added to every signable role (`roles.signableRoles`) and published; any failure
 *   is `failed to sign <name>:<tag>: <err>`. The changelist is empty before and after.
 */
import { hasCode } from '../../errors.ts';
import type { FileMeta } from '../../tuf/metadata.ts';
import type { PublicKey } from '../../tuf/keys.ts';
import { ClientError } from '../errors.ts';
import type { ManifestInfo } from '../registry/manifest.ts';
import type { Repository } from '../repository.ts';
import { dockerTrustError, wrapError } from './errors.ts';
import type { ImageReference } from './reference.ts';
import { checkSignerName, isReleasedRole, matchReleasedSignatures, RELEASES_ROLE, signableRoles, type TrustTagRow } from './roles.ts';
import { manifestOf, registryUsername, withTrust, type DockerContext, type TrustSession } from './session.ts';

export interface SignOptions {
  /** Take the digest from the registry even when the tag is already signed (docker's `--local`). */
  readonly fromRegistry?: boolean;
  /** Signer for a new repository; default: the registry login name. */
  readonly signerName?: string;
}

export interface SignResult {
  readonly name: string;
  readonly tag: string;
  /** `sha256:<hex>` signed. */
  readonly digest: string;
  readonly size: number;
  readonly roles: readonly string[];
  readonly initialized: boolean;
  /** Where the digest came from. */
  readonly source: 'released' | 'registry';
}

export function requireTag(ref: ImageReference): string {
  if (ref.tag !== undefined && ref.digest === undefined) return ref.tag;
  if (ref.digest !== undefined) throw new ClientError('INVALID_INPUT', 'cannot use a digest reference for IMAGE:TAG');
  throw new ClientError('INVALID_INPUT', `no tag specified for ${ref.original}`);
}

function isUninitialized(e: unknown): boolean {
  return hasCode(e, 'REPOSITORY_NOT_EXIST') || hasCode(e, 'NOT_INITIALIZED');
}

/** docker's `getOrGenerateNotaryKey` for a root or signer key: the first held, else a new one. */
export async function getOrCreateKey(ctx: DockerContext, role: string): Promise<PublicKey> {
  const ids = await ctx.keyIdsForRole(role);
  const first = ids[0];
  const signer = first !== undefined ? await ctx.keys.signer(first, role) : await ctx.keys.createKey(role, undefined);
  return signer.publicKey;
}

/** docker's `addStagedSigner`: the keys on `targets/<name>` and on `targets/releases`, all paths. */
export async function stageSigner(repo: Repository, role: string, keys: readonly PublicKey[]): Promise<void> {
  await repo.addDelegation(role, keys, ['']);
  await repo.addDelegation(RELEASES_ROLE, keys, ['']);
}

async function initializeWithSigner(ctx: DockerContext, session: TrustSession, signer: string): Promise<void> {
  const { repo } = session;
  const rootKey = await getOrCreateKey(ctx, 'root');
  await repo.initialize({ rootKeyIds: [rootKey.id], serverManagedSnapshot: true });
  const key = await getOrCreateKey(ctx, signer);
  try {
    await stageSigner(repo, `targets/${signer}`, [key]);
  } catch (e) {
    throw wrapError(`could not add signer to repo: ${signer}`, e);
  }
  await repo.publish();
}

function metaOf(manifest: ManifestInfo): FileMeta {
  const hex = manifest.digest.slice('sha256:'.length);
  return { length: manifest.size, hashes: new Map([['sha256', Buffer.from(hex, 'hex')]]), unrecognized: {} };
}

/**
 * A repository the server does not know is created with a signer (docker's
 * `initNotaryRepoWithSigners`). The tag's manifest is fetched first (docker first checks that the
 * local image exists) and returned; undefined when the repository already existed.
 */
async function initializeIfNew(ctx: DockerContext, session: TrustSession, opts: SignOptions): Promise<ManifestInfo | undefined> {
  const { ref, repo } = session;
  try {
    await repo.listTargets();
    return undefined;
  } catch (e) {
    if (!isUninitialized(e)) throw dockerTrustError(ref.name, e);
  }
  const manifest = await manifestOf(ctx, ref);
  const signer = opts.signerName ?? (await registryUsername(ctx, ref));
  if (signer === undefined) {
    throw new ClientError('INVALID_INPUT', `no signer name for the new trust repository ${ref.name}: log in to ${ref.domain} (docker login) or pass --signer NAME`);
  }
  checkSignerName(signer);
  try {
    await initializeWithSigner(ctx, session, signer);
  } catch (e) {
    throw dockerTrustError(ref.name, e);
  }
  ctx.io.out(`Created signer: ${signer}\nFinished initializing signed repository for ${ref.original}\n`);
  return manifest;
}

/** The released target of `tag` (docker's `createTarget`) and who else signed that digest. */
async function releasedTarget(repo: Repository, tag: string): Promise<{ meta: FileMeta; row: TrustTagRow | undefined } | undefined> {
  try {
    const all = await repo.getAllTargetMetadataByName(tag);
    const hit = all.find((t) => isReleasedRole(t.role));
    if (hit === undefined) return undefined;
    return { meta: { length: hit.target.meta.length, hashes: hit.target.meta.hashes, unrecognized: {} }, row: matchReleasedSignatures(all)[0] };
  } catch (e) {
    if (hasCode(e, 'NO_SUCH_TARGET') || isUninitialized(e)) return undefined;
    throw e;
  }
}

export async function signImage(ctx: DockerContext, ref: ImageReference, opts: SignOptions = {}): Promise<SignResult> {
  const tag = requireTag(ref);
  const { io } = ctx;
  const failed = (e: unknown) => wrapError(`failed to sign ${ref.name}:${tag}`, e);
  return withTrust(ctx, ref, async (session) => {
    const { repo } = session;
    let manifest = await initializeIfNew(ctx, session, opts);
    const initialized = manifest !== undefined;
    const released = opts.fromRegistry === true ? undefined : await releasedTarget(repo, tag);
    if (released === undefined) {
      manifest ??= await manifestOf(ctx, ref);
      const meta = metaOf(manifest);
      io.out('Signing and pushing trust metadata\n');
      const roles = await signableRoles(repo, ctx.keys, tag).then(async (r) => {
        await repo.addTarget(tag, meta, r);
        await repo.publish();
        return r;
      }).catch((e: unknown) => {
        throw failed(e);
      });
      io.out(`Successfully signed ${ref.name}:${tag}\n`);
      return { name: ref.name, tag, digest: manifest.digest, size: manifest.size, roles, initialized, source: 'registry' };
    }
    io.out(`Signing and pushing trust metadata for ${ref.original}\n`);
    let roles: string[];
    try {
      roles = await signableRoles(repo, ctx.keys, tag);
      await repo.addTarget(tag, released.meta, roles);
      const row = released.row;
      io.out(`Existing signatures for tag ${row?.SignedTag ?? ''} digest ${row?.Digest ?? ''} from:\n${[...(row?.Signers ?? [])].sort().join(', ')}\n`);
      await repo.publish();
    } catch (e) {
      throw failed(e);
    }
    io.out(`Successfully signed ${ref.name}:${tag}\n`);
    const digest = `sha256:${Buffer.from(released.meta.hashes.get('sha256') ?? new Uint8Array()).toString('hex')}`;
    return { name: ref.name, tag, digest, size: released.meta.length, roles, initialized, source: 'released' };
  });
}

/**
 * Sigstore signatures for docker trust repositories (docs/sigstore.md): `trust sign --sigstore`,
 * `trust export-sigstore` and `trust verify-sigstore`.
 *
 * Contract:
 * - The key is the one that signs the tag in TUF: the docker signer's delegation key (`--signer
 *   NAME`, else the first signed `targets/<name>` role whose key is held), or the targets key when
 *   the tag is signed in `targets` itself. Only the digest TUF signed is ever signed here.
 * - `exportSigstore` walks every tag released in TUF (verified through the TUF client first),
 *   signs each digest once (idempotent), and reports what it added; a digest that is no longer
 *   released keeps no signature of this key only when it was revoked through `revoke --sigstore`.
 */
import type { KeyObject } from 'node:crypto';
import type { Signer } from '../../tuf/signer.ts';
import { ClientError } from '../errors.ts';
import { OciRepository } from '../registry/oci.ts';
import { removeSigstoreSignatures, signerPublicKey, signSigstore, verifySigstoreSignature, type SigstoreSignResult, type SigstoreVerification } from '../sigstore.ts';
import type { ImageReference } from './reference.ts';
import { RELEASES_ROLE } from './roles.ts';
import { manifestOf, registryOptions, withTrust, type DockerContext } from './session.ts';

/** The held key that signs `roles` (or the named signer's key). */
export async function sigstoreSigner(ctx: DockerContext, roles: readonly string[], signerName?: string): Promise<Signer> {
  const names = signerName !== undefined ? [signerName]
    : roles.filter((r) => r !== RELEASES_ROLE).map((r) => (r === 'targets' ? 'targets' : r.slice('targets/'.length)));
  for (const name of names) {
    const id = (await ctx.keyIdsForRole(name))[0];
    if (id !== undefined) return ctx.keys.signer(id, name);
  }
  throw new ClientError('KEY_UNAVAILABLE', `no signing key held for ${signerName !== undefined ? `signer ${signerName}` : roles.join(', ')}; name the docker signer whose key to use with --signer NAME`);
}

export function openImageRepository(ctx: DockerContext, ref: ImageReference): OciRepository {
  return new OciRepository(registryOptions(ctx, ref), ref.path);
}

/** Signs `digest` of `ref` in Sigstore's formats with `signer`. */
export async function sigstoreSignDigest(ctx: DockerContext, ref: ImageReference, digest: string, signer: Signer): Promise<SigstoreSignResult> {
  const repo = openImageRepository(ctx, ref);
  try {
    return await signSigstore({ repo, dockerReference: ref.name, digest, signer });
  } finally {
    await repo.close();
  }
}

/** The digest `ref` names: its own digest, else what the registry serves for the tag. */
async function digestOf(ctx: DockerContext, ref: ImageReference): Promise<string> {
  return ref.digest ?? (await manifestOf(ctx, ref)).digest;
}

export async function verifyImageSigstore(ctx: DockerContext, ref: ImageReference, key: KeyObject): Promise<SigstoreVerification> {
  const digest = await digestOf(ctx, ref);
  const repo = openImageRepository(ctx, ref);
  try {
    return await verifySigstoreSignature(repo, digest, key);
  } finally {
    await repo.close();
  }
}

export interface ExportedTag {
  readonly tag: string;
  readonly digest: string;
  readonly added: boolean;
}

export interface ExportResult {
  readonly tags: readonly ExportedTag[];
  readonly keyId: string;
}

/**
 * Gives every tag released in TUF the same signature in Sigstore's formats. The tags come from
 * the verified TUF collection, never from the registry; `concurrency` requests run at once.
 */
export async function exportSigstore(ctx: DockerContext, ref: ImageReference, opts: { signerName?: string; concurrency?: number } = {}): Promise<ExportResult> {
  const released = await withTrust(ctx, ref, async (s) => {
    const all = await s.repo.listTargets([RELEASES_ROLE, 'targets']);
    return all.map((t) => ({ tag: t.name, role: t.role, digest: `sha256:${Buffer.from(t.meta.hashes.get('sha256') ?? []).toString('hex')}` }));
  }, { clearChanges: false });
  if (released.length === 0) throw new ClientError('NO_SUCH_TARGET', `No signatures or cannot access ${ref.name}`);
  const roles = [...new Set(released.map((r) => r.role as string))];
  const signer = await sigstoreSigner(ctx, roles.includes(RELEASES_ROLE) && opts.signerName === undefined ? await signerRoles(ctx, ref) : roles, opts.signerName);
  signerPublicKey(signer);
  const repo = openImageRepository(ctx, ref);
  const out: ExportedTag[] = [];
  const byDigest = new Map<string, Promise<boolean>>();
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < released.length) {
        const r = released[next++];
        if (r === undefined) return;
        let p = byDigest.get(r.digest);
        if (p === undefined) {
          p = signSigstore({ repo, dockerReference: ref.name, digest: r.digest, signer }).then((res) => res.cosignAdded || res.bundleAdded);
          byDigest.set(r.digest, p);
          out.push({ tag: r.tag, digest: r.digest, added: await p });
        } else {
          await p;
          out.push({ tag: r.tag, digest: r.digest, added: false });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 8) }, () => worker()));
  } finally {
    await repo.close();
  }
  return { tags: out.sort((a, b) => a.tag.localeCompare(b.tag)), keyId: signer.keyId };
}

/** The `targets/<name>` delegations (docker signers) of a repository. */
async function signerRoles(ctx: DockerContext, ref: ImageReference): Promise<string[]> {
  return withTrust(ctx, ref, async (s) => {
    const roles = await s.repo.listRoles();
    return roles.map((r) => r.name).filter((n) => n.startsWith('targets/') && n !== RELEASES_ROLE).sort();
  }, { clearChanges: false });
}

/** The released digests of `tag` (or of every tag), read before a revoke removes them. */
export async function releasedDigests(ctx: DockerContext, ref: ImageReference, tag: string | undefined): Promise<string[]> {
  return withTrust(ctx, ref, async (s) => {
    const all = await s.repo.listTargets([RELEASES_ROLE, 'targets']);
    return all.filter((t) => tag === undefined || t.name === tag).map((t) => `sha256:${Buffer.from(t.meta.hashes.get('sha256') ?? []).toString('hex')}`);
  }, { clearChanges: false });
}

/** The key `revoke --sigstore` removes signatures of: the named signer's, else the first signer key held. */
export async function revokeSigner(ctx: DockerContext, ref: ImageReference, signerName?: string): Promise<Signer> {
  return sigstoreSigner(ctx, signerName !== undefined ? [] : [...await signerRoles(ctx, ref), 'targets'], signerName);
}

/** Removes the caller's Sigstore signatures of `digests` (after `revoke --sigstore`). */
export async function revokeSigstore(ctx: DockerContext, ref: ImageReference, digests: readonly string[], signer: Signer): Promise<number> {
  const key = signerPublicKey(signer);
  const repo = openImageRepository(ctx, ref);
  try {
    let n = 0;
    for (const d of new Set(digests)) n += await removeSigstoreSignatures(repo, d, key);
    return n;
  } finally {
    await repo.close();
  }
}

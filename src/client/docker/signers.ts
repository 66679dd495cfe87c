/**
 * `docker trust signer add|remove` (docs/compatibility.md K11, K12; docs/formats.md §12.5).
 *
 * Contract:
 * - add: the name must pass docker's rule (`releases` is reserved) and at least one `--key` is
 *   needed; each key file (≤ 1 MiB) is a `PUBLIC KEY` or `CERTIFICATE` PEM. For every repository
 *   (initialised first when the server does not know it): the keys go on `targets/<name>` and on
 *   `targets/releases`, all paths, one publish. Per-repository failures are printed and the
 *   command fails at the end with `failed to add signer to: <repos>`.
 * - remove: `targets/<name>` is deleted and its keys leave `targets/releases`, one publish. When
 *   the signer's signatures are all that keeps the released tags valid, docker's question is asked
 *   first (skipped with `force`). Unlike docker 28 (which removes nothing unless that question was
 *   asked and answered yes), the signer is really removed; with nothing released yet (docker: `all
 *   signed tags are currently revoked`) there is nothing to ask about. A key that another signer
 *   still uses is kept on `targets/releases`. Failures end with `error removing signer from: <repos>`.
 */
import { readFile, stat } from 'node:fs/promises';
import { canonicalKeyId, type PublicKey } from '../../tuf/keys.ts';
import type { RoleName } from '../../tuf/types.ts';
import { ClientError, ioReason } from '../errors.ts';
import { parsePemPublicKey } from '../public-keys.ts';
import type { Repository } from '../repository.ts';
import { DockerTrustError, dockerTrustError, wrapError } from './errors.ts';
import type { ImageReference } from './reference.ts';
import { checkSignerName, RELEASES_ROLE } from './roles.ts';
import { getOrCreateKey, stageSigner } from './sign.ts';
import { withTrust, type DockerContext } from './session.ts';

const MAX_PUBLIC_KEY_BYTES = 1 << 20;

/** docker's `ingestPublicKeys`. */
export async function readPublicKeys(paths: readonly string[], now: Date): Promise<PublicKey[]> {
  const keys: PublicKey[] = [];
  for (const path of paths) {
    let text: string;
    try {
      if ((await stat(path)).size > MAX_PUBLIC_KEY_BYTES) throw new ClientError('INVALID_INPUT', `${path} is larger than 1 MiB`);
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw new ClientError('INVALID_INPUT', `unable to read public key from file: open ${path}: ${e instanceof ClientError ? e.message : ioReason(e)}`, { cause: e });
    }
    try {
      keys.push(parsePemPublicKey(text, now));
    } catch (e) {
      throw wrapError(`could not parse public key from file: ${path}`, e);
    }
  }
  return keys;
}

function isUninitialized(e: unknown): boolean {
  return e instanceof ClientError && (e.code === 'REPOSITORY_NOT_EXIST' || e.code === 'NOT_INITIALIZED');
}

async function initializeIfNeeded(ctx: DockerContext, repo: Repository, remote: string): Promise<void> {
  try {
    await repo.listTargets();
    return;
  } catch (e) {
    if (!isUninitialized(e)) throw dockerTrustError(remote, e);
  }
  ctx.io.out(`Initializing signed repository for ${remote}...\n`);
  try {
    const root = await getOrCreateKey(ctx, 'root');
    await repo.initialize({ rootKeyIds: [root.id], serverManagedSnapshot: true });
  } catch (e) {
    throw dockerTrustError(remote, e);
  }
  ctx.io.out(`Successfully initialized ${JSON.stringify(remote)}\n`);
}

async function forEachRepository(ctx: DockerContext, refs: readonly ImageReference[], intro: (r: string) => string,
  run: (ref: ImageReference) => Promise<void>): Promise<string[]> {
  const failed: string[] = [];
  for (const ref of refs) {
    ctx.io.out(intro(ref.original));
    try {
      await run(ref);
    } catch (e) {
      ctx.io.err(`${e instanceof Error ? e.message : String(e)}\n\n`);
      failed.push(ref.original);
    }
  }
  return failed;
}

export async function addSigner(ctx: DockerContext, name: string, refs: readonly ImageReference[], keyFiles: readonly string[]): Promise<void> {
  checkSignerName(name);
  if (keyFiles.length === 0) throw new ClientError('INVALID_INPUT', 'path to a public key must be provided using the `--key` flag');
  const keys = await readPublicKeys(keyFiles, (ctx.now ?? (() => new Date()))());
  const failed = await forEachRepository(ctx, refs, (r) => `Adding signer "${name}" to ${r}...\n`, async (ref) => {
    await withTrust(ctx, ref, async ({ repo }) => {
      await initializeIfNeeded(ctx, repo, ref.original);
      try {
        await stageSigner(repo, `targets/${name}`, keys);
      } catch (e) {
        throw wrapError(`could not add signer to repo: ${name}`, e);
      }
      await repo.publish();
    });
    ctx.io.out(`Successfully added signer: ${name} to ${ref.original}\n\n`);
  });
  if (failed.length > 0) throw new DockerTrustError('PARTIAL_FAILURE', `failed to add signer to: ${failed.join(', ')}`);
}

interface SignerState {
  /** Canonical key IDs of the signer's role. */
  readonly keyIds: readonly string[];
  /** True when the signer's keys made every remaining valid signature on targets/releases. */
  readonly isLastSigner: boolean;
  /** Canonical IDs of keys other signers (direct children of targets) still use. */
  readonly sharedKeyIds: ReadonlySet<string>;
}

function canonicalOr(id: string, keys: ReadonlyMap<string, PublicKey>): string {
  const key = keys.get(id);
  if (key === undefined) return id;
  try {
    return canonicalKeyId(key);
  } catch {
    return id;
  }
}

async function signerState(repo: Repository, role: string, name: string, remote: string): Promise<SignerState> {
  const tc = (await repo.update()).collection;
  const parent = tc.targets.get('targets' as RoleName);
  const delegations = parent?.signed.delegations;
  const entry = delegations?.roles.find((r) => r.name === role);
  if (delegations === undefined || entry === undefined) throw new ClientError('INVALID_INPUT', `no signer ${name} for repository ${remote}`);
  const canon = (id: string): string => canonicalOr(id, delegations.keys);
  const keyIds = entry.keyIds.map(canon);
  const releases = delegations.roles.find((r) => r.name === RELEASES_ROLE);
  const signatures = releases === undefined ? [] : (tc.targets.get(RELEASES_ROLE as RoleName)?.signatures ?? []);
  // docker refuses here (`all signed tags are currently revoked, …`); with nothing released there
  // is nothing to lose, so the signer is simply removed.
  const sharedKeyIds = new Set(delegations.roles.filter((r) => r.name !== role && r.name !== RELEASES_ROLE).flatMap((r) => r.keyIds.map(canon)));
  // Only keys that actually leave targets/releases take their signatures with them.
  const leaving = new Set(keyIds.filter((id) => !sharedKeyIds.has(id)));
  const remaining = signatures.filter((s) => !leaving.has(canon(s.keyid))).length;
  return { keyIds, isLastSigner: signatures.length > 0 && remaining < (releases?.threshold ?? 1), sharedKeyIds };
}

/** Removes one signer from one repository; false when the user declined. */
async function removeFromRepository(ctx: DockerContext, ref: ImageReference, name: string, force: boolean): Promise<boolean> {
  const role = `targets/${name}`;
  if (role === RELEASES_ROLE) throw new ClientError('INVALID_INPUT', 'releases is a reserved keyword and cannot be removed');
  const remote = ref.original;
  return withTrust(ctx, ref, async ({ repo }) => {
    let state: SignerState;
    try {
      state = await signerState(repo, role, name, remote);
    } catch (e) {
      if (e instanceof ClientError && e.code === 'INVALID_INPUT') throw e;
      throw wrapError(`error retrieving signers for ${remote}`, dockerTrustError(remote, e));
    }
    if (state.isLastSigner && !force) {
      const question = `The signer "${name}" signed the last released version of ${remote}. Removing this signer will make ${remote} unpullable. Are you sure you want to continue?`;
      if (!(await ctx.io.confirm(question))) return false;
    }
    const drop = state.keyIds.filter((id) => !state.sharedKeyIds.has(id));
    if (drop.length > 0) await repo.removeDelegationKeysAndPaths(RELEASES_ROLE, drop, []);
    await repo.removeDelegationRole(role);
    await repo.publish();
    ctx.io.out(`Successfully removed ${name} from ${remote}\n\n`);
    return true;
  });
}

export async function removeSigner(ctx: DockerContext, name: string, refs: readonly ImageReference[], opts: { force?: boolean } = {}): Promise<void> {
  const failed = await forEachRepository(ctx, refs, (r) => `Removing signer "${name}" from ${r}...\n`, async (ref) => {
    await removeFromRepository(ctx, ref, name, opts.force === true);
  });
  if (failed.length > 0) throw new DockerTrustError('PARTIAL_FAILURE', `error removing signer from: ${failed.join(', ')}`);
}

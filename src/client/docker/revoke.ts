/**
 * `docker trust revoke [-y] IMAGE[:TAG]` (docs/compatibility.md K7).
 *
 * Contract: with a tag, the released target is removed from every role the caller can sign for;
 * without one, after a confirmation (skipped with `yes`), every released tag is. One publish;
 * failures read `could not remove signature for <ref>: <err>`. A declined confirmation is
 * `RevokeCancelled` (docker stays silent and exits 0).
 */
import { VouchError } from '../../errors.ts';
import { ClientError } from '../errors.ts';
import type { TargetWithRole } from '../reader.ts';
import { wrapError } from './errors.ts';
import type { ImageReference } from './reference.ts';
import { RELEASES_ROLE, signableRoles } from './roles.ts';
import { withTrust, type DockerContext, type TrustSession } from './session.ts';

export class RevokeCancelled extends VouchError<'CANCELLED'> {
  constructor() {
    super('CANCELLED', 'trust revoke has been cancelled');
  }
}

export interface RevokeResult {
  /** Tags whose signatures were removed. */
  readonly tags: readonly string[];
}

async function removeEverywhere(ctx: DockerContext, session: TrustSession, target: TargetWithRole): Promise<void> {
  const roles = await signableRoles(session.repo, ctx.keys, target.name);
  await session.repo.removeTarget(target.name, roles);
}

export async function revokeTrust(ctx: DockerContext, ref: ImageReference, opts: { yes?: boolean } = {}): Promise<RevokeResult> {
  const remote = ref.original;
  if (ref.tag === undefined && ref.digest !== undefined) throw new ClientError('INVALID_INPUT', 'cannot use a digest reference for IMAGE:TAG');
  const tag = ref.digest === undefined ? ref.tag : undefined;
  if (tag === undefined && opts.yes !== true) {
    if (!(await ctx.io.confirm(`Confirm you would like to delete all signature data for ${remote}?`))) throw new RevokeCancelled();
  }
  const tags = await withTrust(ctx, ref, async (session) => {
    try {
      let targets: TargetWithRole[];
      if (tag !== undefined) {
        targets = [await session.repo.getTargetByName(tag, [RELEASES_ROLE, 'targets'])];
      } else {
        targets = await session.repo.listTargets([RELEASES_ROLE, 'targets']);
        if (targets.length === 0) throw new ClientError('NO_SUCH_TARGET', 'no signed tags to remove');
      }
      for (const t of targets) await removeEverywhere(ctx, session, t);
      await session.repo.publish();
      return targets.map((t) => t.name);
    } catch (e) {
      throw wrapError(`could not remove signature for ${remote}`, e);
    }
  });
  ctx.io.out(`Successfully deleted signature for ${remote}\n`);
  return { tags };
}

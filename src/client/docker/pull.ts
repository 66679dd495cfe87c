/**
 * `vouch trust pull IMAGE[:TAG]`: what `DOCKER_CONTENT_TRUST=1 docker pull` did (docker's
 * `trustedPull`, docs/docker-engine.md), through the Engine API.
 *
 * Contract, as docker 28:
 * - A tag (default `latest`, announced as `Using default tag: latest`) resolves through the
 *   verified update exactly as `vouch trust resolve` (targets/releases, then targets; trust
 *   pinning from the context); with `allTags` every tag signed in those two roles, in notary's role
 *   order (targets/releases first; docker's order within a role was Go map order) (none: `No trusted tags for <name>`). A digest reference is pulled as it is, untrusted (docker
 *   did the same: a digest is its own proof).
 * - For each: `Pull (i of n): <familiar>:<tag>@<digest>`, the engine pulls `<name>@<digest>`
 *   (progress as docker prints it), then `Tagging <familiar>@<digest> as <familiar>:<tag>` (stderr)
 *   and the engine tags it. Finally the reference pulled is printed in full (docker's last line).
 * - Trust failures carry docker's consumer wording; nothing is pulled or tagged then.
 */
import type { RoleName } from '../../tuf/types.ts';
import { listTargets } from '../reader.ts';
import { dockerTrustError } from './errors.ts';
import { progressLine } from './engine.ts';
import { engineOf, registryAuthFor } from './push.ts';
import type { ImageReference } from './reference.ts';
import { resolveTrustedReference } from './resolve.ts';
import { RELEASES_ROLE, sha256HexOf } from './roles.ts';
import { withTrust, type DockerContext } from './session.ts';
import { DockerTrustError } from './errors.ts';

export interface PulledTag {
  readonly tag: string | undefined;
  readonly digest: string;
}

/** docker's `getTrustedPullTargets` with every tag (`--all-tags`). */
async function allTrustedTags(ctx: DockerContext, ref: ImageReference): Promise<PulledTag[]> {
  return withTrust(ctx, ref, async ({ repo }) => {
    let tags;
    try {
      tags = listTargets((await repo.update()).collection, [RELEASES_ROLE, 'targets']);
    } catch (e) {
      throw dockerTrustError(ref.name, e);
    }
    const out: PulledTag[] = [];
    for (const t of tags) {
      if (t.role !== (RELEASES_ROLE as RoleName) && t.role !== ('targets' as RoleName)) continue;
      const hex = sha256HexOf(t.meta);
      if (hex === '') {
        ctx.io.err(`Skipping target for ${JSON.stringify(ref.familiarName)}\n`);
        continue;
      }
      out.push({ tag: t.name, digest: `sha256:${hex}` });
    }
    if (out.length === 0) throw new DockerTrustError('NO_SUCH_TARGET', `No trusted tags for ${ref.name}`);
    return out;
  }, { clearChanges: false });
}

export async function pullTrusted(ctx: DockerContext, ref: ImageReference, opts: { allTags?: boolean } = {}): Promise<PulledTag[]> {
  const engine = engineOf(ctx);
  const show = (m: Parameters<typeof progressLine>[0]) => {
    const line = progressLine(m);
    if (line !== undefined) ctx.io.out(line);
  };
  const auth = await registryAuthFor(ctx, ref);
  if (ref.digest !== undefined) {
    await engine.pull(ref.familiarName, ref.digest, auth, show);
    ctx.io.out(`${ref.name}@${ref.digest}\n`);
    return [{ tag: undefined, digest: ref.digest }];
  }
  const allTags = opts.allTags === true && ref.tag === undefined;
  let targets: PulledTag[];
  if (allTags) {
    targets = await allTrustedTags(ctx, ref);
  } else {
    if (ref.tag === undefined) ctx.io.out('Using default tag: latest\n');
    const resolved = await resolveTrustedReference(ctx, ref);
    targets = [{ tag: resolved.tag, digest: resolved.digest }];
  }
  for (const [i, t] of targets.entries()) {
    const tag = t.tag ?? 'latest';
    ctx.io.out(`Pull (${i + 1} of ${targets.length}): ${ref.familiarName}:${tag}@${t.digest}\n`);
    await engine.pull(ref.familiarName, t.digest, auth, show);
    ctx.io.err(`Tagging ${ref.familiarName}@${t.digest} as ${ref.familiarName}:${tag}\n`);
    await engine.tag(`${ref.familiarName}@${t.digest}`, ref.familiarName, tag);
  }
  ctx.io.out(`${allTags ? ref.name : `${ref.name}:${ref.tag ?? 'latest'}`}\n`);
  return targets;
}

/**
 * `vouch trust push IMAGE:TAG`: what `DOCKER_CONTENT_TRUST=1 docker push` did (docker's
 * `PushTrustedReference`, docs/docker-engine.md), through the Engine API instead of the docker CLI.
 *
 * Contract, step by step as docker 28:
 * - A digest reference is refused (`cannot push a digest reference`); a reference without a tag
 *   is pushed untrusted and `No tag specified, skipping trust metadata push` goes to stderr.
 * - The engine pushes the tag; its progress is printed as docker prints it without a terminal.
 *   The digest and size to sign are the engine's push result (`aux`), never asked of the registry
 *   again; no push result is `no targets found, provide a specific tag in order to sign it`.
 * - `Signing and pushing trust metadata`. A repository the trust server does not know is
 *   initialised as docker did: the first held root key (else a new one), a new targets key, both
 *   local; snapshot and timestamp keys on the server; `Finished initializing "<name>"`; the tag
 *   is added to `targets`. A known repository gets the tag in every role the user can sign
 *   (`targets/releases` and the user's signer role when a signer key is held, else `targets`).
 * - Publish; `Successfully signed <name>:<tag>`. Failures: docker's `failed to sign <name>:<tag>:
 *   …` wrapped in its consumer wording (`trust.NotaryError`).
 */
import type { FileMeta } from '../../tuf/metadata.ts';
import { hasCode } from '../../errors.ts';
import { ClientError } from '../errors.ts';
import { dockerCredentials, registryAuthKey } from './credentials.ts';
import { EngineClient, engineSocketPath, progressLine, registryAuthHeader, type JsonMessage } from './engine.ts';
import { dockerTrustError, wrapError } from './errors.ts';
import type { ImageReference } from './reference.ts';
import { signableRoles } from './roles.ts';
import { getOrCreateKey, type SignResult } from './sign.ts';
import { withTrust, type DockerContext } from './session.ts';

/** What a signed push reports: a sign's result, the digest always coming from the engine's push. */
export type PushTrustResult = Omit<SignResult, 'source'>;

/** The engine of this context (DOCKER_HOST or the default socket). */
export function engineOf(ctx: DockerContext): EngineClient {
  return new EngineClient({ socketPath: engineSocketPath(ctx.env) });
}

/** The `X-Registry-Auth` header docker would send for `ref`'s registry. */
export async function registryAuthFor(ctx: DockerContext, ref: ImageReference): Promise<string> {
  const key = registryAuthKey(ref);
  return registryAuthHeader(await dockerCredentials(ctx.configDir, key, ctx.log), key);
}

function printer(ctx: DockerContext): (m: JsonMessage) => void {
  return (m) => {
    const line = progressLine(m);
    if (line !== undefined) ctx.io.out(line);
  };
}

function targetMeta(digest: string, size: number): FileMeta {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (m === null) throw new ClientError('BAD_RESPONSE', `the engine reported a push digest that is not sha256: ${JSON.stringify(digest.slice(0, 100))}`);
  return { length: size, hashes: new Map([['sha256', Buffer.from(m[1] as string, 'hex')]]), unrecognized: {} };
}

export async function pushTrusted(ctx: DockerContext, ref: ImageReference, engine = engineOf(ctx)): Promise<PushTrustResult | undefined> {
  if (ref.digest !== undefined) throw new ClientError('INVALID_INPUT', 'cannot push a digest reference');
  const auth = await registryAuthFor(ctx, ref);
  if (ref.tag === undefined) {
    await engine.push(ref.familiarName, '', auth, printer(ctx));
    ctx.io.err('No tag specified, skipping trust metadata push\n');
    return undefined;
  }
  const tag = ref.tag;
  const pushed = await engine.push(ref.familiarName, tag, auth, printer(ctx));
  if (pushed === undefined) throw new ClientError('BAD_RESPONSE', 'no targets found, provide a specific tag in order to sign it');
  const meta = targetMeta(pushed.digest, pushed.size);
  ctx.io.out('Signing and pushing trust metadata\n');
  return withTrust(ctx, ref, async ({ repo }) => {
    let initialized = false;
    let roles: string[];
    try {
      await repo.listTargets();
      roles = await signableRoles(repo, ctx.keys, pushed.tag).catch((e: unknown) => {
        throw wrapError(`failed to sign ${ref.name}:${tag}`, e);
      });
    } catch (e) {
      if (!hasCode(e, 'REPOSITORY_NOT_EXIST') && !hasCode(e, 'NOT_INITIALIZED')) throw dockerTrustError(ref.name, e);
      const rootKey = await getOrCreateKey(ctx, 'root');
      try {
        await repo.initialize({ rootKeyIds: [rootKey.id], serverManagedSnapshot: true });
      } catch (err) {
        throw dockerTrustError(ref.name, err);
      }
      ctx.io.out(`Finished initializing ${JSON.stringify(ref.name)}\n`);
      initialized = true;
      roles = ['targets'];
    }
    try {
      await repo.addTarget(pushed.tag, meta, roles);
      await repo.publish();
    } catch (e) {
      throw dockerTrustError(ref.name, wrapError(`failed to sign ${ref.name}:${tag}`, e));
    }
    ctx.io.out(`Successfully signed ${ref.name}:${tag}\n`);
    return { name: ref.name, tag, digest: pushed.digest, size: pushed.size, roles, initialized };
  });
}

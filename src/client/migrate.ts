/**
 * Moving a collection to another trust server (Vouch extension; notary.docker.io shuts down on
 * 2026-12-08 and every collection on it needs a new home).
 *
 * Contract:
 * - The collection is first brought up to date from the server the repository uses, with every
 *   check a read makes (signatures, thresholds, expiry, rollback, pinning); nothing is sent to the
 *   destination unless that succeeds.
 * - The destination must not know the GUN: a server that answers with a root for it is refused
 *   with `REPOSITORY_EXISTS` before anything is uploaded (migrating never overwrites).
 * - The destination then gets the collection as a first publish: the same root, targets and
 *   delegation files, byte for byte where nothing changes, with the timestamp key — and a
 *   snapshot key that only the old server held, as in every repository `docker trust` made —
 *   rotated to the destination's own keys. That rotation is a new root signed by the root key, so
 *   the root key must be at hand; clients that trusted the old root accept the new one.
 * - When the old server cannot be reached (network, TLS, 5xx), the copy in the local cache is
 *   migrated instead, with a warning: signatures and hashes checked again, expiry not.
 * - The old snapshot and timestamp versions travel in the `Vouch-Previous-Versions` header, so a
 *   Vouch destination's first snapshot and timestamp continue above them: clients that cached
 *   the old ones see no rollback.
 * - Staged changes stay staged; afterwards the local cache holds the destination's state.
 */
import { parseMetadata } from '../tuf/metadata.ts';
import type { TrustedCollection } from '../tuf/trusted.ts';
import { ClientError, ServerRejectedError } from './errors.ts';
import { loadLocal, update, type RepoContext } from './context.ts';
import { publish, type PublishResult } from './publish.ts';
import type { RemoteStore } from './remote.ts';

export type MigrateResult = PublishResult;

const UNREACHABLE = new Set(['NETWORK', 'TLS', 'SERVER_UNAVAILABLE']);

/**
 * The collection as the old server has it, verified; or, when that server cannot be reached any
 * more (the reason to migrate), the copy in the local cache: its signatures and hashes are checked
 * again, its expiry is not — the destination signs a new timestamp, and the publish re-signs
 * expired roles whose keys are held.
 */
async function sourceCollection(ctx: RepoContext, location: string): Promise<TrustedCollection> {
  try {
    const u = await update(ctx);
    if (u.usedCachedTimestamp) ctx.log.warn(`could not reach ${location}: migrating the copy of ${ctx.gun} in the local cache`);
    return u.collection;
  } catch (e) {
    // A server that is gone fails the update with the network error, also once the cached
    // timestamp has expired (then the update cannot fall back to it by itself).
    if (!(e instanceof ClientError && UNREACHABLE.has(e.code))) throw e;
    const local = await loadLocal(ctx);
    if (local === undefined) throw e;
    ctx.log.warn(`could not reach ${location} (${e.message}): migrating the copy of ${ctx.gun} in the local cache; its signatures are checked, its expiry is not`);
    return local;
  }
}

/** The old timestamp's version: verified by the update, or read from the cache (the old server gone). */
async function timestampVersion(ctx: RepoContext, source: TrustedCollection): Promise<{ timestamp?: number }> {
  if (source.timestamp !== undefined) return { timestamp: source.timestamp.signed.version };
  try {
    const bytes = await ctx.cache.read('timestamp');
    return bytes === undefined ? {} : { timestamp: parseMetadata('timestamp', bytes).signed.version };
  } catch {
    return {}; // a cached timestamp that does not parse only costs its version floor
  }
}

export async function migrate(ctx: RepoContext, destination: RemoteStore): Promise<MigrateResult> {
  if (ctx.remote === undefined) throw new ClientError('OFFLINE', 'migrating needs the trust server the collection is on (-s)');
  if (ctx.remote.url === destination.url) throw new ClientError('INVALID_INPUT', `the destination ${destination.url} is the server the collection is already on`);
  // The destination first: once a migration is done the local cache holds the destination's
  // state, so repeating it must say that, not fail on the old server's older root.
  try {
    await destination.getRole('root');
    throw new ClientError('REPOSITORY_EXISTS', `${destination.location} already has trust data for ${ctx.gun}; nothing was migrated`);
  } catch (e) {
    if (!(e instanceof ClientError && e.code === 'METADATA_NOT_FOUND')) throw e;
  }
  const source = await sourceCollection(ctx, ctx.remote.location);
  // Clients that read the collection on the old server cached its snapshot and timestamp, and
  // refuse lower versions as a rollback: the destination's first ones must continue above them.
  const previousVersions = {
    ...(source.snapshot !== undefined ? { snapshot: source.snapshot.signed.version } : {}),
    ...(await timestampVersion(ctx, source)),
  };
  try {
    return await publish({ ...ctx, remote: destination }, {
      useChangelist: false,
      previousVersions,
      initialize: () => Promise.reject(new ClientError('NOT_INITIALIZED', `the trust data of ${ctx.gun} could not be loaded from the local cache after the update`)),
    });
  } catch (e) {
    if (e instanceof ServerRejectedError && e.message.includes('Root modifications must increment the version')) {
      throw new ServerRejectedError(`${e.message} (${destination.location} takes a new collection only at root version 1 or 2, as notary-server does; move it to a Vouch server, which keeps the version its clients trust)`, e.server);
    }
    throw e;
  }
}

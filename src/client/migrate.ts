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
 * - Root versions 1..n-1, fetched by version from the old server and checked to chain to the
 *   current root, go along as `<n>.root` parts, so consumers whose cached root predates a root-key
 *   rotation can walk the chain on the new server; when they cannot all be had, the move goes on
 *   without them, with a warning.
 * - Staged changes stay staged; afterwards the local cache holds the destination's state.
 */
import { parseMetadata } from '../tuf/metadata.ts';
import { TrustedCollection } from '../tuf/trusted.ts';
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
async function sourceCollection(ctx: RepoContext, location: string): Promise<{ collection: TrustedCollection; reachable: boolean }> {
  try {
    const u = await update(ctx);
    if (u.usedCachedTimestamp) ctx.log.warn(`could not reach ${location}: migrating the copy of ${ctx.gun} in the local cache`);
    return { collection: u.collection, reachable: !u.usedCachedTimestamp };
  } catch (e) {
    // A server that is gone fails the update with the network error, also once the cached
    // timestamp has expired (then the update cannot fall back to it by itself).
    if (!(e instanceof ClientError && UNREACHABLE.has(e.code))) throw e;
    const local = await loadLocal(ctx);
    if (local === undefined) throw e;
    ctx.log.warn(`could not reach ${location} (${e.message}): migrating the copy of ${ctx.gun} in the local cache; its signatures are checked, its expiry is not`);
    return { collection: local, reachable: false };
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

/** Earlier root versions are not fetched beyond this many (each root change adds one). */
const MAX_EARLIER_ROOTS = 1000;

/**
 * Root versions 1..n-1 from the old server, when it has them all and they chain to the current
 * root n (returned with it: the move itself usually adds version n+1). Consumers whose cached
 * root predates a root-key rotation walk that chain by version, so the new server must serve it
 * too. Anything less is left out with a warning (the move still works for every consumer whose
 * cached root signs the current one).
 */
async function earlierRoots(ctx: RepoContext, source: TrustedCollection, reachable: boolean): Promise<Map<number, Uint8Array>> {
  const current = source.root;
  const none = new Map<number, Uint8Array>();
  if (current === undefined || current.signed.version <= 1) return none;
  const n = current.signed.version;
  const skip = (why: string) => {
    ctx.log.warn(`root versions 1 to ${n - 1} of ${ctx.gun} are not moved (${why}); consumers whose cached root is older than the last root key rotation will need to trust the new root anew`);
    return none;
  };
  if (!reachable || ctx.remote === undefined) return skip('the old server cannot be reached');
  if (n - 1 > MAX_EARLIER_ROOTS) return skip(`more than ${MAX_EARLIER_ROOTS}`);
  const out = new Map<number, Uint8Array>();
  const chain = new TrustedCollection({ gun: ctx.gun, now: ctx.now() });
  try {
    for (let v = 1; v < n; v++) {
      const bytes = await ctx.remote.getRole('root', { version: v });
      chain.updateRoot(bytes, { allowExpired: true });
      if (chain.root?.signed.version !== v) return skip(`${v}.root.json holds another version`);
      out.set(v, bytes);
    }
    chain.updateRoot(current.bytes, { allowExpired: true });
    out.set(n, current.bytes);
  } catch (e) {
    return skip(e instanceof Error ? e.message : String(e));
  }
  return out;
}

export async function migrate(ctx: RepoContext, destination: RemoteStore): Promise<MigrateResult> {
  if (ctx.remote === undefined) throw new ClientError('OFFLINE', 'migrating needs the trust server the collection is on (-s)');
  if (ctx.remote.url === destination.url) throw new ClientError('INVALID_INPUT', `the destination ${destination.url} is the server the collection is already on`);
  // The destination first: once a migration is done the local cache holds the destination's
  // state, so repeating it must say that, not fail on the old server's older root.
  if (await destination.hasRole('root')) {
    throw new ClientError('REPOSITORY_EXISTS', `${destination.location} already has trust data for ${ctx.gun}; nothing was migrated`);
  }
  const { collection: source, reachable } = await sourceCollection(ctx, ctx.remote.location);
  const earlier = await earlierRoots(ctx, source, reachable);
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
      earlierRoots: earlier,
      initialize: () => Promise.reject(new ClientError('NOT_INITIALIZED', `the trust data of ${ctx.gun} could not be loaded from the local cache after the update`)),
    });
  } catch (e) {
    // notary-server refuses the `<n>.root` parts by name, or a first root above version 2.
    const notaryServer = e instanceof ServerRejectedError && (e.message.includes('Root modifications must increment the version') || (earlier.size > 0 && e.server.code === 'INVALID_ROLE'));
    if (notaryServer) {
      throw new ServerRejectedError(`${e.message} (${destination.location} refuses what a moved collection needs, as notary-server does: a first root above version 2, earlier root versions; move it to a Vouch server)`, e.server);
    }
    throw e;
  }
}

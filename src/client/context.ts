/**
 * What every repository workflow works with: the GUN, its cache and changelist in the trust
 * directory, the remote store (absent when offline), the caller's keys, trust pinning, a clock and
 * a logger; and the two ways to obtain the state a write starts from — the server's current state
 * (verified update) or, for a repository the server has never seen, the local cache.
 */
import type { Metadata, TargetsSigned } from '../tuf/metadata.ts';
import type { RepoState } from '../tuf/edit.ts';
import type { TrustPinning } from '../tuf/root-trust.ts';
import { TARGETS } from '../tuf/roles.ts';
import { TrustedCollection } from '../tuf/trusted.ts';
import type { Gun, RoleName } from '../tuf/types.ts';
import type { MetadataCache } from './cache.ts';
import type { Changelist } from './changelist.ts';
import { ClientError } from './errors.ts';
import type { KeySource } from './keys.ts';
import type { Logger } from './log.ts';
import type { RemoteStore } from './remote.ts';
import { updateCollection, type UpdatedCollection } from './update.ts';

export interface RepoContext {
  readonly gun: Gun;
  readonly trustDir: string;
  readonly gunDir: string;
  readonly cache: MetadataCache;
  readonly changelist: Changelist;
  readonly remote: RemoteStore | undefined;
  readonly keys: KeySource;
  readonly pinning: TrustPinning | undefined;
  readonly now: () => Date;
  readonly log: Logger;
}

/** The state a publish builds on. */
export interface WriteBase {
  readonly state: RepoState;
  /** Delegations that failed verification, by name (a `witness` may bring them back). */
  readonly invalid: ReadonlyMap<RoleName, Metadata<TargetsSigned>>;
  /** True when the server does not know the GUN yet: every local file is uploaded. */
  readonly initial: boolean;
}

export function stateOf(tc: TrustedCollection): RepoState {
  return {
    ...(tc.root !== undefined ? { root: tc.root } : {}),
    targets: new Map(tc.targets),
    ...(tc.snapshot !== undefined ? { snapshot: tc.snapshot } : {}),
  };
}

export function requireRemote(ctx: RepoContext): NonNullable<RepoContext['remote']> {
  if (ctx.remote === undefined) throw new ClientError('OFFLINE', `this operation needs the trust server, and none is configured for ${ctx.gun}`);
  return ctx.remote;
}

/** The verified remote state (§5.1), also for reads. */
export function update(ctx: RepoContext, forWrite = false): Promise<UpdatedCollection> {
  return updateCollection({
    gun: ctx.gun, now: ctx.now(), cache: ctx.cache, remote: ctx.remote, log: ctx.log, forWrite,
    ...(ctx.pinning !== undefined ? { pinning: ctx.pinning } : {}),
  });
}

/**
 * The locally cached, not yet published repository (notary's `bootstrapRepo`): root, snapshot,
 * targets and the delegations the cache holds, checked for signatures and hashes but not expiry.
 * Undefined when nothing is cached.
 */
export async function loadLocal(ctx: RepoContext): Promise<TrustedCollection | undefined> {
  const root = await ctx.cache.read('root');
  if (root === undefined) return undefined;
  const tc = new TrustedCollection({ gun: ctx.gun, now: ctx.now() });
  const lenient = { allowExpired: true };
  tc.updateRoot(root, lenient);
  tc.deferRootChecksum();
  const snapshot = await ctx.cache.read('snapshot');
  if (snapshot !== undefined) tc.updateSnapshot(snapshot, lenient);
  const targets = await ctx.cache.read('targets');
  if (targets === undefined) throw new ClientError('NOT_INITIALIZED', `the cached repository ${ctx.gun} has a root but no targets metadata`);
  tc.updateTargets(targets, lenient);
  const queue: RoleName[] = tc.childrenOf(TARGETS).map((r) => r.name);
  while (queue.length > 0) {
    const role = queue.shift() as RoleName;
    const bytes = await ctx.cache.read(role);
    if (bytes === undefined) continue;
    tc.updateDelegation(role, bytes, lenient);
    queue.push(...tc.childrenOf(role).map((r) => r.name));
  }
  return tc;
}

/**
 * The state a write starts from: the server's verified state, or the local repository when the
 * server does not know the GUN (`initialize` runs when nothing exists at all).
 */
export async function loadForWrite(ctx: RepoContext, initialize: () => Promise<void>): Promise<WriteBase> {
  try {
    const u = await update(ctx, true);
    return { state: stateOf(u.collection), invalid: u.invalid, initial: false };
  } catch (e) {
    if (!(e instanceof ClientError && e.code === 'REPOSITORY_NOT_EXIST')) throw e;
  }
  let local = await loadLocal(ctx);
  if (local === undefined) {
    ctx.log.info(`No TUF data found locally or remotely - initializing repository ${ctx.gun} for the first time`);
    await initialize();
    local = await loadLocal(ctx);
    if (local === undefined) throw new ClientError('NOT_INITIALIZED', 'repository has not been initialized');
  }
  return { state: stateOf(local), invalid: new Map(), initial: true };
}

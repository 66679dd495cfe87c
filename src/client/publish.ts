/**
 * Publish (docs/compatibility.md B8): like a `git rebase` of the staged changes onto the server's current state.
 *
 * Contract:
 * - All or nothing: the changes are read and translated, the server's state is verified (or, for a
 *   GUN the server has never seen, the local repository is loaded), every change is applied and
 *   every file signed before anything is sent; one multipart POST carries the files. Any failure
 *   before the POST succeeds leaves the changelist as it was. Afterwards only the change files that
 *   were applied are removed (changes staged meanwhile stay), and the published files are cached;
 *   failures there are warnings, since the server already holds the new state.
 * - Roles are re-signed when changed or near expiry; the snapshot is signed by the client when it
 *   holds a snapshot key of the root being published, and left to the server otherwise.
 * - First publish of a GUN: every local file is uploaded; when the local root names a timestamp
 *   key the server does not hold (a repository made elsewhere: another server, an old notary
 *   client), the timestamp key is rotated to the server's first, as `init` would have done; so is
 *   a snapshot key that neither this server nor the publisher holds (a server-managed snapshot on
 *   the server the repository moves from).
 */
import { signChanges, signSnapshot, roleVerifier, type Change, type RepoState, type SignedChanges } from '../tuf/builder.ts';
import type { PublicKey } from '../tuf/keys.ts';
import { parseMetadata, type Metadata, type RootSigned } from '../tuf/metadata.ts';
import type { RoleName } from '../tuf/types.ts';
import { toOperation, type Operation } from './changes.ts';
import { loadForWrite, requireRemote, type RepoContext, type WriteBase } from './context.ts';
import { holdsKey } from './keys.ts';
import { prefetchSigningKeys, publishSigners, roleKeys, signingRoles, snapshotMode, toChanges, withWitnessed } from './plan.ts';
import type { StagedChange } from './changelist.ts';
import type { PreviousVersions } from './remote.ts';
import { addLegacySignatures } from './rotate.ts';

export interface PublishOptions {
  /** Apply the staged changelist (default true). */
  readonly useChangelist?: boolean;
  /** Further operations applied after the changelist, never staged (key rotation). */
  readonly operations?: readonly Operation[];
  /** Root keys of older root versions that must sign a new root too (`key rotate --legacy`). */
  readonly legacyRootKeys?: readonly PublicKey[];
  /** Creates the repository when nothing exists locally or remotely. */
  readonly initialize: () => Promise<void>;
  /** Sent with the upload: a moved collection's snapshot and timestamp versions on its old server. */
  readonly previousVersions?: PreviousVersions;
  /** Sent with the upload, not cached: a moved collection's earlier root versions, by version. */
  readonly earlierRoots?: ReadonlyMap<number, Uint8Array>;
}

export interface PublishResult {
  /** Roles whose files were uploaded, in upload order. */
  readonly uploaded: readonly string[];
  /** Near-expiry roles left alone because no key for them is held. */
  readonly skipped: readonly RoleName[];
  /** True when this was the first publish of the GUN. */
  readonly initial: boolean;
  /** The number of staged changes applied. */
  readonly applied: number;
}

/**
 * For a first publish: the server's own keys for the roles it signs. A repository made elsewhere
 * (another server, e.g. one moving off notary.docker.io, or an old notary client) names the
 * timestamp key of that server, and — when it let that server hold the snapshot key, as every
 * repository `docker trust` made does — its snapshot key too. This server holds neither, so both
 * are rotated to its keys, as `init` would have made them; the root key signs the new root.
 */
async function serverKeyFixes(ctx: RepoContext, base: WriteBase, held: ReadonlySet<string>): Promise<Change[]> {
  if (!base.initial) return [];
  const remote = requireRemote(ctx);
  const fixes: Change[] = [];
  const timestampKey: PublicKey = await remote.getKey('timestamp');
  if (!roleKeys(base.state, 'timestamp').some((k) => k.id === timestampKey.id)) {
    ctx.log.info(`the local root of ${ctx.gun} names a timestamp key the server does not hold; rotating it to the server's key ${timestampKey.id}`);
    fixes.push({ kind: 'rotateBaseRole', role: 'timestamp', keys: [timestampKey] });
  }
  const snapshotKeys = roleKeys(base.state, 'snapshot');
  if (snapshotKeys.length > 0 && !snapshotKeys.some((k) => holdsKey(held, k))) {
    const snapshotKey: PublicKey = await remote.getKey('snapshot');
    if (!snapshotKeys.some((k) => k.id === snapshotKey.id)) {
      ctx.log.info(`the snapshot key of ${ctx.gun} is held by another server, not by this one or locally; rotating it to this server's key ${snapshotKey.id}`);
      fixes.push({ kind: 'rotateBaseRole', role: 'snapshot', keys: [snapshotKey] });
    }
  }
  return fixes;
}

async function sign(ctx: RepoContext, base: WriteBase, state: RepoState, changes: Change[], allowPartial: boolean): Promise<{ signed: SignedChanges; mode: 'client' | 'server' }> {
  const held = await ctx.keys.heldKeyIds();
  const signers = publishSigners(ctx.keys, held, state, changes);
  const mode = snapshotMode(state, changes, held);
  const input = { now: ctx.now(), snapshot: mode, signers: () => signers, allowPartial, current: state, changes };
  const signed = await signChanges(input);
  const versionFloors = base.initial ? new Map<string, number>() : await storedVersionsOfNewRoles(ctx, state, signed);
  if (versionFloors.size === 0) return { signed, mode };
  return { signed: await signChanges({ ...input, versionFloors }), mode };
}

/**
 * A delegated targets file this publish creates may have existed before: removing a delegation
 * drops it from the snapshot but not from the server (notary-server keeps it too), and the server
 * refuses a version it already holds. Each new file costs one by-version download that normally
 * finds nothing; a role with history is re-signed above the newest stored version.
 */
async function storedVersionsOfNewRoles(ctx: RepoContext, state: RepoState, signed: SignedChanges): Promise<Map<string, number>> {
  const created = [...signed.files].filter(([role, meta]) => meta.signed.type === 'Targets' && role !== 'targets' && state.targets?.has(role) !== true);
  const remote = requireRemote(ctx);
  const floors = new Map<string, number>();
  await Promise.all(created.map(async ([role]) => {
    const stored = await remote.newestStoredVersion(role);
    if (stored > 0) floors.set(role, stored);
  }));
  for (const [role, version] of floors) ctx.log.info(`${role} was removed earlier; the server holds it up to version ${version}, so it continues from there`);
  return floors;
}

/** Files to upload: the changed ones, plus everything local on a first publish. */
async function uploadSet(ctx: RepoContext, base: WriteBase, signed: SignedChanges, mode: 'client' | 'server'): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Metadata>();
  const { state } = signed;
  if (base.initial) {
    for (const [role, meta] of state.targets ?? []) files.set(role, meta);
  }
  for (const [role, meta] of signed.files) if (meta.signed.type === 'Targets') files.set(role, meta);
  const root = signed.files.get('root' as RoleName) ?? (base.initial ? state.root : undefined);
  if (root !== undefined) files.set('root', root);
  let snapshot = signed.files.get('snapshot' as RoleName) ?? (base.initial && mode === 'client' ? state.snapshot : undefined);
  if (base.initial && mode === 'client' && snapshot === undefined) {
    const held = await ctx.keys.heldKeyIds();
    const rootView = (state.root as Metadata<RootSigned>).signed;
    const bytes = new Map<string, Uint8Array>([...files].map(([r, m]) => [r, m.bytes]));
    snapshot = await signSnapshot({
      now: ctx.now(), files: bytes, signers: publishSigners(ctx.keys, held, state, []),
      verifier: roleVerifier('snapshot', rootView.keys, rootView.roles.get('snapshot') ?? { keyIds: [], threshold: 1, unrecognized: {} }),
    });
  }
  if (snapshot !== undefined) files.set('snapshot', snapshot);
  return new Map([...files].map(([r, m]) => [r, m.bytes]));
}

async function cachePublished(ctx: RepoContext, upload: ReadonlyMap<string, Uint8Array>, removed: readonly string[]): Promise<void> {
  for (const [role, bytes] of upload) await ctx.cache.write(role, bytes);
  for (const role of removed) await ctx.cache.remove(role);
}

/** A publish signed but not yet sent. */
export interface PreparedPublish {
  readonly staged: readonly StagedChange[];
  readonly base: WriteBase;
  readonly signed: SignedChanges;
  readonly mode: 'client' | 'server';
}

/**
 * Key derivation (PBKDF2, ~0.1 s a key) is the slowest part of a small publish: start it from the
 * cached root while the server's state downloads. Only a hint: the keys are checked when used.
 */
async function prefetchFromCachedRoot(ctx: RepoContext, ops: readonly Operation[]): Promise<void> {
  if (ctx.keys.prefetch === undefined) return;
  try {
    const bytes = await ctx.cache.read('root');
    if (bytes === undefined) return;
    const root = parseMetadata('root', bytes);
    prefetchSigningKeys(ctx.keys, { root }, signingRoles(ops.flatMap((op) => (op.kind === 'change' ? [op.change] : []))));
  } catch {
    // No usable cached root: the keys unlock when they sign.
  }
}

/** Everything up to the upload: changes read, state loaded, changes applied, files signed. */
export async function preparePublish(ctx: RepoContext, opts: PublishOptions & { readonly allowPartial?: boolean }): Promise<PreparedPublish> {
  const staged: StagedChange[] = opts.useChangelist === false ? [] : await ctx.changelist.list();
  const ops: Operation[] = [...staged.map((c) => toOperation(c)), ...(opts.operations ?? [])];
  requireRemote(ctx);
  void prefetchFromCachedRoot(ctx, ops);
  const base = await loadForWrite(ctx, opts.initialize);
  const held = await ctx.keys.heldKeyIds();
  const changes = [...(await serverKeyFixes(ctx, base, held)), ...toChanges(ops, base.state, held, ctx.log)];
  prefetchSigningKeys(ctx.keys, base.state, signingRoles(changes));
  const state = withWitnessed(base.state, changes, base.invalid);
  const { signed, mode } = await sign(ctx, base, state, changes, opts.allowPartial === true);
  for (const role of signed.skipped) ctx.log.warn(`${role} is nearing expiry but no key to re-sign it is available`);
  return { staged, base, signed, mode };
}

/** Uploads a prepared publish, then caches the files and clears the applied changes. */
export async function finishPublish(ctx: RepoContext, p: PreparedPublish, legacyRootKeys?: readonly PublicKey[], moved: Pick<PublishOptions, 'previousVersions' | 'earlierRoots'> = {}): Promise<PublishResult> {
  const upload = await uploadSet(ctx, p.base, p.signed, p.mode);
  if (legacyRootKeys !== undefined) await addLegacySignatures(ctx, upload, legacyRootKeys);
  // The chain ends right below the root this publish uploads (one above the old server's, when keys rotated).
  const rootVersion = (p.signed.files.get('root' as RoleName) ?? p.base.state.root)?.signed.version ?? 0;
  const earlier = [...(moved.earlierRoots ?? [])].filter(([v]) => v < rootVersion).map(([v, bytes]) => [`${v}.root`, bytes] as const);
  const parts = new Map([...earlier, ...upload]);
  if (upload.size > 0) await requireRemote(ctx).publish(parts, moved.previousVersions);
  await afterUpload(ctx, upload, p.signed.removed, p.staged);
  return { uploaded: [...upload.keys()], skipped: p.signed.skipped, initial: p.base.initial, applied: p.staged.length };
}

/** The server has the new state: what follows is bookkeeping, and its failures are warnings. */
export async function afterUpload(ctx: RepoContext, upload: ReadonlyMap<string, Uint8Array>, removed: readonly string[], staged: readonly StagedChange[]): Promise<void> {
  try {
    await cachePublished(ctx, upload, removed);
  } catch (e) {
    ctx.log.warn(`published, but could not update the local cache: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    await ctx.changelist.removeFiles(staged.map((c) => c.file));
  } catch {
    ctx.log.warn(`Unable to clear changelist. You may want to manually delete the folder ${ctx.changelist.dir}`);
  }
}

export async function publish(ctx: RepoContext, opts: PublishOptions): Promise<PublishResult> {
  return finishPublish(ctx, await preparePublish(ctx, opts), opts.legacyRootKeys, opts);
}

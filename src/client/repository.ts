/**
 * A notary repository (trusted collection) for one GUN: the library API behind the notary-style
 * CLI and `vouch trust` (docs/compatibility.md L1–L3).
 *
 * Reads verify the server's current state first (§5.1) and answer from it. Edits are staged in
 * notary's changelist (offline, like notary) and applied by `publish`; `rotateKey` publishes at
 * once. Role names are checked when staging, the rest when publishing, so a change notary would
 * accept is never refused early.
 */
import { rm } from 'node:fs/promises';
import type { PublicKey } from '../tuf/keys.ts';
import type { FileMeta, SignatureEntry } from '../tuf/metadata.ts';
import type { TrustPinning } from '../tuf/root-trust.ts';
import { isBaseRole, isDelegationName, parseDelegationName } from '../tuf/roles.ts';
import type { BaseRoleName } from '../tuf/edit.ts';
import { parseGun, type Gun, type RoleName } from '../tuf/types.ts';
import { gunDir, MetadataCache } from './cache.ts';
import { Changelist, type NotaryChange, type StagedChange } from './changelist.ts';
import {
  addTargetChange, baseThresholdChange, delegationChange, removeDelegationChange, removeTargetChange, toOperation, witnessChange, type DelegationEdit,
} from './changes.ts';
import { update, type RepoContext } from './context.ts';
import { cosignBundle, partialPublish, type CosignBundle, type CosignOutcome } from './cosign.ts';
import { ClientError, ioReason } from './errors.ts';
import { initializeRepository, type InitializeOptions, type InitializeResult } from './init.ts';
import type { KeySource } from './keys.ts';
import { silentLogger, type Logger } from './log.ts';
import { migrate, type MigrateResult } from './migrate.ts';
import { publish, type PublishResult } from './publish.ts';
import {
  getAllTargetMetadataByName, getDelegationRoles, getTargetByName, listTargets, type DelegationInfo, type TargetSignedStruct, type TargetWithRole,
} from './reader.ts';
import type { RemoteStore } from './remote.ts';
import { checkRotation, legacyRootKeys, rotationOperation, type RotateOptions } from './rotate.ts';
import type { UpdatedCollection } from './update.ts';

export interface RepositoryOptions {
  readonly gun: string;
  readonly trustDir: string;
  /** The trust server; undefined works from the cache only (reads) and cannot publish. */
  readonly remote?: RemoteStore;
  readonly keys: KeySource;
  readonly pinning?: TrustPinning;
  readonly now?: () => Date;
  readonly log?: Logger;
}

export interface RoleWithSignatures {
  readonly name: string;
  readonly keyIds: readonly string[];
  readonly threshold: number;
  readonly paths?: readonly string[];
  readonly signatures: readonly SignatureEntry[];
}

/** Docker's read order for a tag: `targets/releases`, then `targets`. */
export const DOCKER_RELEASE_ROLES: readonly string[] = ['targets/releases', 'targets'];

function checkTargetsRole(role: string): void {
  if (role !== 'targets' && !isDelegationName(role) && !(role.endsWith('/*') && isDelegationName(role.slice(0, -2)))) {
    throw new ClientError('INVALID_INPUT', `tuf: invalid role ${role}. cannot add targets to this role`);
  }
}

/** The change files `add` stages: one per target and role (`targets` when no role is given). */
export function addTargetsChanges(entries: readonly { name: string; meta: FileMeta }[], roles: readonly string[] = []): NotaryChange[] {
  const scopes = roles.length === 0 ? ['targets'] : roles;
  scopes.forEach(checkTargetsRole);
  for (const e of entries) if (e.meta.hashes.size === 0) throw new ClientError('INVALID_INPUT', `no hashes specified for target "${e.name}"`);
  return scopes.flatMap((role) => entries.map((e) => addTargetChange(role, e.name, e.meta)));
}

export function removeTargetChanges(name: string, roles: readonly string[] = []): NotaryChange[] {
  const scopes = roles.length === 0 ? ['targets'] : roles;
  scopes.forEach(checkTargetsRole);
  return scopes.map((role) => removeTargetChange(role, name));
}

function delegationName(role: string): RoleName {
  try {
    return parseDelegationName(role);
  } catch {
    throw new ClientError('INVALID_INPUT', `tuf: invalid role ${role}. invalid delegation role name`);
  }
}

export class Repository {
  readonly ctx: RepoContext;

  constructor(opts: RepositoryOptions) {
    const gun = parseGun(opts.gun);
    const dir = gunDir(opts.trustDir, gun);
    this.ctx = {
      gun, trustDir: opts.trustDir, gunDir: dir,
      cache: new MetadataCache(dir), changelist: new Changelist(dir),
      remote: opts.remote, keys: opts.keys, pinning: opts.pinning,
      now: opts.now ?? (() => new Date()), log: opts.log ?? silentLogger,
    };
  }

  get gun(): Gun {
    return this.ctx.gun;
  }

  get changelist(): Changelist {
    return this.ctx.changelist;
  }

  // --- reads (online: they verify the server's current state first) ---

  update(): Promise<UpdatedCollection> {
    return update(this.ctx);
  }

  async listTargets(roles: readonly string[] = []): Promise<TargetWithRole[]> {
    return listTargets((await this.update()).collection, roles);
  }

  async getTargetByName(name: string, roles: readonly string[] = []): Promise<TargetWithRole> {
    return getTargetByName((await this.update()).collection, name, roles);
  }

  /** The signed `repo@sha256` content for a docker tag (what a trusted pull resolves). */
  resolveTag(tag: string): Promise<TargetWithRole> {
    return this.getTargetByName(tag, DOCKER_RELEASE_ROLES);
  }

  async getAllTargetMetadataByName(name: string): Promise<TargetSignedStruct[]> {
    return getAllTargetMetadataByName((await this.update()).collection, name);
  }

  async getDelegationRoles(): Promise<DelegationInfo[]> {
    return getDelegationRoles((await this.update()).collection);
  }

  /** Base roles and delegations with the signatures on their current files. */
  async listRoles(): Promise<RoleWithSignatures[]> {
    const tc = (await this.update()).collection;
    const root = tc.root?.signed;
    const out: RoleWithSignatures[] = [];
    const files = { root: tc.root, targets: tc.targets.get('targets' as RoleName), snapshot: tc.snapshot, timestamp: tc.timestamp };
    for (const name of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
      const r = root?.roles.get(name);
      if (r !== undefined) out.push({ name, keyIds: r.keyIds, threshold: r.threshold, signatures: files[name]?.signatures ?? [] });
    }
    for (const d of getDelegationRoles(tc)) {
      out.push({ name: d.name, keyIds: d.keyIds, threshold: d.threshold, paths: d.paths, signatures: tc.targets.get(d.name)?.signatures ?? [] });
    }
    return out;
  }

  // --- staging (offline) ---

  /** Stages changes as they are (already-built notary change files). */
  async stage(changes: readonly NotaryChange[]): Promise<string[]> {
    return this.ctx.changelist.add(changes);
  }

  async addTarget(name: string, meta: FileMeta, roles: readonly string[] = []): Promise<void> {
    await this.addTargets([{ name, meta }], roles);
  }

  /** Stages many targets in one batch (one change file per target and role, notary's format). */
  async addTargets(entries: readonly { name: string; meta: FileMeta }[], roles: readonly string[] = []): Promise<void> {
    await this.stage(addTargetsChanges(entries, roles));
  }

  async removeTarget(name: string, roles: readonly string[] = []): Promise<void> {
    await this.stage(removeTargetChanges(name, roles));
  }

  /** notary's AddDelegation: keys (threshold 1 unless given) then paths, as two changes. */
  async addDelegation(role: string, keys: readonly PublicKey[], paths: readonly string[], threshold?: number): Promise<void> {
    const name = delegationName(role);
    const changes: NotaryChange[] = [];
    if (keys.length > 0) changes.push(delegationChange('create', name, { threshold: threshold ?? 1, addKeys: keys }));
    if (paths.length > 0) changes.push(delegationChange('create', name, { addPaths: paths }));
    if (keys.length === 0 && threshold !== undefined) changes.push(delegationChange('update', name, { threshold }));
    await this.stage(changes);
  }

  async updateDelegation(role: string, edit: DelegationEdit): Promise<void> {
    const wildcard = role.endsWith('/*');
    const name = wildcard ? `${delegationName(role.slice(0, -2))}/*` : delegationName(role);
    await this.stage([delegationChange('update', name, edit)]);
  }

  /** notary's RemoveDelegationKeysAndPaths: paths first, then keys (removing the last key deletes the role). */
  async removeDelegationKeysAndPaths(role: string, keyIds: readonly string[], paths: readonly string[]): Promise<void> {
    const name = delegationName(role);
    const changes: NotaryChange[] = [];
    if (paths.length > 0) changes.push(delegationChange('update', name, { removePaths: paths }));
    if (keyIds.length > 0) changes.push(delegationChange('update', name, { removeKeys: keyIds }));
    await this.stage(changes);
  }

  async clearDelegationPaths(role: string): Promise<void> {
    await this.updateDelegation(role, { clearPaths: true });
  }

  async removeDelegationRole(role: string): Promise<void> {
    await this.stage([removeDelegationChange(delegationName(role))]);
  }

  /** Removes key IDs from every delegation (`targets/*`) the caller can sign for. */
  async purgeDelegationKeys(keyIds: readonly string[], scope = 'targets/*'): Promise<void> {
    await this.updateDelegation(scope, { removeKeys: keyIds });
  }

  /** Vouch's m-of-n: the threshold of a base role or a delegation. */
  async setThreshold(role: string, threshold: number): Promise<void> {
    if (!Number.isSafeInteger(threshold) || threshold < 1) throw new ClientError('INVALID_INPUT', `invalid threshold specified for ${role}: ${threshold}`);
    if (isBaseRole(role)) await this.stage([baseThresholdChange(role as BaseRoleName, threshold)]);
    else await this.updateDelegation(role, { threshold });
  }

  /** Marks roles to be re-signed on the next publish; returns those marked. */
  async witness(roles: readonly string[]): Promise<string[]> {
    for (const r of roles) if (r !== 'targets' && !isDelegationName(r)) throw new ClientError('INVALID_INPUT', `tuf: invalid role ${r}. only targets and delegations can be witnessed`);
    await this.stage(roles.map(witnessChange));
    return [...roles];
  }

  status(): Promise<StagedChange[]> {
    return this.ctx.changelist.list();
  }

  // --- writes (online) ---

  initialize(opts: InitializeOptions = {}): Promise<InitializeResult> {
    return initializeRepository(this.ctx, opts);
  }

  publish(): Promise<PublishResult> {
    return publish(this.ctx, { initialize: async () => void (await this.initialize()) });
  }

  /** Moves the collection from this repository's server to `destination` (see migrate.ts). */
  migrateTo(destination: RemoteStore): Promise<MigrateResult> {
    return migrate(this.ctx, destination);
  }

  /**
   * Stages `changes` and publishes everything staged, as `add … -p` does, without writing the new
   * change files when the publish succeeds (they would be deleted right after). If the publish
   * fails they are staged, so the changelist ends exactly as staging-then-publishing would leave it.
   */
  async stageAndPublish(changes: readonly NotaryChange[]): Promise<PublishResult> {
    const operations = changes.map((c) => toOperation(c));
    try {
      return await publish(this.ctx, { operations, initialize: async () => void (await this.initialize()) });
    } catch (e) {
      await this.stage(changes);
      throw e;
    }
  }

  /**
   * m-of-n: publishes when the caller's keys meet every threshold, else returns a bundle of the
   * signed files for the other signers (see cosign.ts); the changelist stays until it lands.
   */
  publishOrBundle(): Promise<CosignOutcome> {
    return partialPublish(this.ctx, { initialize: async () => void (await this.initialize()) });
  }

  /** Adds the caller's signatures to a bundle; publishes when that completes every threshold. */
  cosign(bundle: CosignBundle): Promise<CosignOutcome> {
    return cosignBundle(this.ctx, bundle, async () => void (await this.initialize()));
  }

  /** Rotates a base role's keys and publishes that change alone. */
  async rotateKey(role: string, opts: RotateOptions & { readonly legacyVersions?: number; readonly extraChanges?: readonly NotaryChange[] } = {}): Promise<PublishResult> {
    const base = checkRotation(role, opts.serverManaged === true);
    const op = await rotationOperation(this.ctx, base, opts);
    const extra = (opts.extraChanges ?? []).map((c) => toOperation(c));
    let legacy: PublicKey[] | undefined;
    if (base === 'root' && opts.legacyVersions !== undefined && opts.legacyVersions !== 0) {
      const current = (await this.update()).collection.root?.signed.version ?? 1;
      legacy = await legacyRootKeys(this.ctx, current, opts.legacyVersions);
    }
    return publish(this.ctx, {
      useChangelist: false, operations: [op, ...extra], initialize: async () => void (await this.initialize()),
      ...(legacy !== undefined ? { legacyRootKeys: legacy } : {}),
    });
  }

  /** Deletes the local trust data (keys are kept) and, with `remote`, the server's too. */
  async deleteTrustData(opts: { remote?: boolean } = {}): Promise<void> {
    if (opts.remote === true) {
      if (this.ctx.remote === undefined) throw new ClientError('OFFLINE', 'no trust server is configured');
      await this.ctx.remote.deleteAll();
    }
    try {
      await rm(this.ctx.gunDir, { recursive: true, force: true });
    } catch (e) {
      throw new ClientError('LOCAL_IO', `error clearing TUF repo data: ${ioReason(e)}`, { cause: e });
    }
  }
}

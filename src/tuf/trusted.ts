/**
 * The trusted-metadata state machine of one collection (docs/formats.md §5; notary's
 * `tuf/builder.go` semantics, python-tuf's `TrustedMetadataSet` shape).
 *
 * Load order: root first (and again for each rotation step), then timestamp, snapshot and
 * targets, then delegations after their parent. Each role is checked for signatures against the
 * keys its parent grants, structure, a version floor, expiry, and the hashes its parent recorded.
 * A role may be loaded before the role that records its hashes (the server validates uploads that
 * way); its bytes are then held as *pending* and checked when that parent arrives.
 *
 * Contract: no I/O and no clock — `now` is fixed per instance (one reference time per operation).
 * Loading out of order is a `MisuseError`; bad data is a `ValidationError`/`VerificationError`
 * and leaves the state unchanged.
 */
import { MisuseError, VerificationError } from './errors.ts';
import type { PublicKey } from './keys.ts';
import {
  parseMetadata,
  type DelegatedRole,
  type FileMeta,
  type Metadata,
  type RootSigned,
  type SnapshotSigned,
  type TargetsSigned,
  type TimestampSigned,
} from './metadata.ts';
import { validateRoot, type TrustPinning } from './root-trust.ts';
import { isDelegationName, parentRole, pathAllowed, restrictPaths, ROOT, SNAPSHOT, TARGETS, TIMESTAMP } from './roles.ts';
import { formatUnixDate, isExpired, type Expiry } from './time.ts';
import type { Gun, RoleName } from './types.ts';
import { checkHashes, verifySignatures, type RoleVerifier } from './verify.ts';

export interface LoadOptions {
  /** Version floor, e.g. the version of the previously trusted cached copy (rollback protection). */
  readonly minVersion?: number;
  /** Skip the expiry check: only for a cached copy used as a version floor, or server-side repair. */
  readonly allowExpired?: boolean;
}

export interface RootLoadOptions extends LoadOptions {
  /** Hashes the root bytes must match (from a bootstrap checksum or the snapshot's `meta.root`). */
  readonly checksum?: Pick<FileMeta, 'hashes'>;
}

export interface TrustedCollectionOptions {
  readonly gun: Gun;
  /** The reference time for every expiry check of this operation. */
  readonly now: Date;
  /** Trust pinning for the first root; omit for TOFU, or once a root is already trusted. */
  readonly pinning?: TrustPinning;
}

/** A delegation that failed its signature threshold or expiry: notary skips it with a warning. */
export interface InvalidRole {
  readonly role: RoleName;
  readonly error: VerificationError;
}

export function expiredError(role: string, expires: Expiry): VerificationError {
  return new VerificationError('EXPIRED', `${role} expired at ${formatUnixDate(expires)}`, role);
}

function checkVersion(role: string, version: number, opts: LoadOptions): void {
  if (opts.minVersion !== undefined && version < opts.minVersion) {
    throw new VerificationError('ROLLBACK', `version ${version} is lower than current version ${opts.minVersion}`, role);
  }
}

function verifierFor(name: string, keys: ReadonlyMap<string, PublicKey>, ids: readonly string[], threshold: number): RoleVerifier {
  const listed = new Map<string, PublicKey>();
  for (const id of ids) {
    const key = keys.get(id);
    if (key !== undefined) listed.set(id, key);
  }
  return { name, keys: listed, threshold };
}

export class TrustedCollection {
  readonly gun: Gun;
  readonly now: Date;
  private readonly pinning: TrustPinning | undefined;
  private rootMeta: Metadata<RootSigned> | undefined;
  private timestampMeta: Metadata<TimestampSigned> | undefined;
  private snapshotMeta: Metadata<SnapshotSigned> | undefined;
  private readonly targetsMeta = new Map<RoleName, Metadata<TargetsSigned>>();
  private readonly effectivePaths = new Map<RoleName, readonly string[]>();
  private readonly invalid = new Map<RoleName, InvalidRole>();
  /** Bytes loaded before the role that records their hashes. */
  private readonly pending = new Map<RoleName, Uint8Array>();
  private readonly warningList: string[] = [];

  constructor(opts: TrustedCollectionOptions) {
    this.gun = opts.gun;
    this.now = opts.now;
    this.pinning = opts.pinning;
  }

  get root(): Metadata<RootSigned> | undefined {
    return this.rootMeta;
  }
  get timestamp(): Metadata<TimestampSigned> | undefined {
    return this.timestampMeta;
  }
  get snapshot(): Metadata<SnapshotSigned> | undefined {
    return this.snapshotMeta;
  }
  /** `targets` and every valid delegation loaded so far. */
  get targets(): ReadonlyMap<RoleName, Metadata<TargetsSigned>> {
    return this.targetsMeta;
  }
  get invalidRoles(): ReadonlyMap<RoleName, InvalidRole> {
    return this.invalid;
  }
  /** Warnings notary would log (root certificates near expiry), for the caller to show. */
  get warnings(): readonly string[] {
    return this.warningList;
  }
  /** Roles whose bytes still await the hashes of a parent that has not been loaded. */
  get pendingChecksums(): ReadonlySet<RoleName> {
    return new Set(this.pending.keys());
  }

  private requireRoot(): Metadata<RootSigned> {
    if (this.rootMeta === undefined) throw new MisuseError('root must be loaded first');
    return this.rootMeta;
  }

  /** Keys and threshold that root grants a base role. */
  baseRoleVerifier(role: RoleName): RoleVerifier {
    const root = this.requireRoot().signed;
    const r = root.roles.get(role);
    if (r === undefined) throw new VerificationError('ROLE_NOT_DELEGATED', `tuf: invalid role ${role}. role not found in root`, role);
    return verifierFor(role, root.keys, r.keyIds, r.threshold);
  }

  /** The parent's record of `role` (snapshot for root/targets/delegations, timestamp for snapshot). */
  private parentMeta(role: RoleName): FileMeta | undefined {
    if (role === SNAPSHOT) return this.timestampMeta?.signed.meta.get('snapshot');
    return this.snapshotMeta?.signed.meta.get(role);
  }

  private checkOrDefer(role: RoleName, bytes: Uint8Array): boolean {
    const parentLoaded = role === SNAPSHOT ? this.timestampMeta !== undefined : this.snapshotMeta !== undefined;
    if (!parentLoaded) return false;
    const meta = this.parentMeta(role);
    if (meta === undefined) {
      throw new VerificationError('NO_CHECKSUM', `no checksums for supported algorithms were provided for ${role}`, role);
    }
    checkHashes(bytes, role, meta);
    return true;
  }

  /**
   * Trusts a root: the first one (checked against trust pinning or TOFU), or the next one of a
   * rotation chain, which must also satisfy the currently trusted root's threshold (§5.4).
   */
  updateRoot(bytes: Uint8Array, opts: RootLoadOptions = {}): Metadata<RootSigned> {
    if (this.timestampMeta !== undefined || this.snapshotMeta !== undefined || this.targetsMeta.size > 0) {
      throw new MisuseError('cannot update root after timestamp, snapshot or targets');
    }
    if (opts.checksum !== undefined) checkHashes(bytes, ROOT, opts.checksum);
    const meta = parseMetadata('root', bytes);
    const { warnings } = validateRoot({ previous: this.rootMeta, root: meta, gun: this.gun, now: this.now, pinning: this.pinning });
    checkVersion(ROOT, meta.signed.version, opts);
    if (this.rootMeta !== undefined && meta.signed.version < this.rootMeta.signed.version) {
      throw new VerificationError('ROLLBACK', `version ${meta.signed.version} is lower than current version ${this.rootMeta.signed.version}`, ROOT);
    }
    if (!opts.allowExpired && isExpired(meta.signed.expires, this.now)) throw expiredError(ROOT, meta.signed.expires);
    this.rootMeta = meta;
    this.warningList.push(...warnings);
    return meta;
  }

  updateTimestamp(bytes: Uint8Array, opts: LoadOptions = {}): Metadata<TimestampSigned> {
    const verifier = this.baseRoleVerifier(TIMESTAMP);
    const meta = parseMetadata('timestamp', bytes);
    verifySignatures(meta, verifier);
    checkVersion(TIMESTAMP, meta.signed.version, opts);
    if (!opts.allowExpired && isExpired(meta.signed.expires, this.now)) throw expiredError(TIMESTAMP, meta.signed.expires);
    const pendingSnapshot = this.pending.get(SNAPSHOT);
    const snapshotMeta = meta.signed.meta.get('snapshot');
    if (pendingSnapshot !== undefined && snapshotMeta !== undefined) checkHashes(pendingSnapshot, SNAPSHOT, snapshotMeta);
    this.timestampMeta = meta;
    this.pending.delete(SNAPSHOT);
    return meta;
  }

  updateSnapshot(bytes: Uint8Array, opts: LoadOptions = {}): Metadata<SnapshotSigned> {
    const verifier = this.baseRoleVerifier(SNAPSHOT);
    const checked = this.checkOrDefer(SNAPSHOT, bytes);
    const meta = parseMetadata('snapshot', bytes);
    verifySignatures(meta, verifier);
    checkVersion(SNAPSHOT, meta.signed.version, opts);
    if (!opts.allowExpired && isExpired(meta.signed.expires, this.now)) throw expiredError(SNAPSHOT, meta.signed.expires);
    // Everything loaded before the snapshot must match what it records, root included.
    for (const [role, pendingBytes] of this.pending) {
      if (role === SNAPSHOT) continue;
      const fm = meta.signed.meta.get(role);
      if (fm === undefined) throw new VerificationError('NO_CHECKSUM', `no checksums for supported algorithms were provided for ${role}`, role);
      checkHashes(pendingBytes, role, fm);
    }
    for (const role of [...this.pending.keys()]) if (role !== SNAPSHOT) this.pending.delete(role);
    if (!checked) this.pending.set(SNAPSHOT, bytes);
    this.snapshotMeta = meta;
    return meta;
  }

  /** Records the root's bytes for checking against a snapshot loaded later (server validation). */
  deferRootChecksum(): void {
    const root = this.requireRoot();
    if (this.snapshotMeta !== undefined) {
      const fm = this.snapshotMeta.signed.meta.get(ROOT);
      if (fm === undefined) throw new VerificationError('NO_CHECKSUM', 'no checksums for supported algorithms were provided for root', ROOT);
      checkHashes(root.bytes, ROOT, fm);
    } else this.pending.set(ROOT, root.bytes);
  }

  updateTargets(bytes: Uint8Array, opts: LoadOptions = {}): Metadata<TargetsSigned> {
    const verifier = this.baseRoleVerifier(TARGETS);
    if (this.targetsMeta.has(TARGETS)) throw new MisuseError('targets has already been loaded');
    const checked = this.checkOrDefer(TARGETS, bytes);
    const meta = parseMetadata(TARGETS, bytes) as Metadata<TargetsSigned>;
    verifySignatures(meta, verifier);
    checkVersion(TARGETS, meta.signed.version, opts);
    if (!opts.allowExpired && isExpired(meta.signed.expires, this.now)) throw expiredError(TARGETS, meta.signed.expires);
    if (!checked) this.pending.set(TARGETS, bytes);
    this.targetsMeta.set(TARGETS, meta);
    this.effectivePaths.set(TARGETS, ['']);
    return meta;
  }

  /** The role object for `name` as declared by its (loaded, valid) parent. */
  delegationOf(name: RoleName): { parent: Metadata<TargetsSigned>; role: DelegatedRole } {
    const parentName = parentRole(name);
    const parent = parentName === undefined ? undefined : this.targetsMeta.get(parentName);
    if (parent === undefined) throw new MisuseError(`${parentName ?? 'the parent of ' + name} must be loaded first`);
    const role = parent.signed.delegations.roles.find((r) => r.name === name);
    if (role === undefined) throw new VerificationError('ROLE_NOT_DELEGATED', `tuf: invalid role ${name}. delegation does not exist`, name);
    return { parent, role };
  }

  /**
   * Loads a delegation. A threshold or expiry failure marks the role invalid (notary skips such
   * roles with a warning) and is thrown; structural and checksum errors are thrown as they are.
   */
  updateDelegation(name: RoleName, bytes: Uint8Array, opts: LoadOptions = {}): Metadata<TargetsSigned> {
    this.requireRoot();
    if (!isDelegationName(name)) throw new VerificationError('ROLE_NOT_DELEGATED', `tuf: invalid role ${name}. not a delegation`, name);
    if (this.targetsMeta.has(name)) throw new MisuseError(`${name} has already been loaded`);
    const { parent, role } = this.delegationOf(name);
    const checked = this.checkOrDefer(name, bytes);
    const meta = parseMetadata(name, bytes) as Metadata<TargetsSigned>;
    checkVersion(name, meta.signed.version, opts);
    try {
      verifySignatures(meta, verifierFor(name, parent.signed.delegations.keys, role.keyIds, role.threshold));
      if (!opts.allowExpired && isExpired(meta.signed.expires, this.now)) throw expiredError(name, meta.signed.expires);
    } catch (e) {
      if (e instanceof VerificationError) this.invalid.set(name, { role: name, error: e });
      throw e;
    }
    if (!checked) this.pending.set(name, bytes);
    this.targetsMeta.set(name, meta);
    const parentPaths = this.effectivePaths.get(parent.role) ?? [];
    this.effectivePaths.set(name, restrictPaths(parentPaths, role.paths ?? []));
    return meta;
  }

  /** Effective paths of a loaded role (§5.6): its own paths restricted by every ancestor's. */
  pathsOf(role: RoleName): readonly string[] {
    return this.effectivePaths.get(role) ?? [];
  }

  /**
   * Delegations of a loaded role that the walk should visit next, in declaration order, with the
   * paths they may sign for. Roles whose effective paths are empty can sign nothing and are skipped.
   */
  childrenOf(role: RoleName): DelegatedRole[] {
    const meta = this.targetsMeta.get(role);
    if (meta === undefined) return [];
    const parentPaths = this.pathsOf(role);
    return meta.signed.delegations.roles.filter((r) => restrictPaths(parentPaths, r.paths ?? []).length > 0);
  }

  /**
   * Targets a loaded role may vouch for: the entries of its file whose names its effective paths
   * allow. Entries outside them are ignored as notary ignores them.
   */
  targetsOf(role: RoleName): Map<string, FileMeta> {
    const meta = this.targetsMeta.get(role);
    const out = new Map<string, FileMeta>();
    if (meta === undefined) return out;
    const paths = this.pathsOf(role);
    for (const [name, fm] of meta.signed.targets) if (pathAllowed(paths, name)) out.set(name, fm);
    return out;
  }

  /**
   * Looks a target up breadth-first over the loaded roles, first match wins (§5.6). With `roles`,
   * only those roles are consulted, in that order (docker asks `targets/releases`, then `targets`).
   */
  lookup(name: string, roles?: readonly RoleName[]): { role: RoleName; meta: FileMeta } | undefined {
    const order = roles ?? this.walkOrder();
    for (const role of order) {
      const fm = this.targetsOf(role).get(name);
      if (fm !== undefined) return { role, meta: fm };
    }
    return undefined;
  }

  /** Loaded valid roles in breadth-first order from `targets`. */
  walkOrder(): RoleName[] {
    const order: RoleName[] = [];
    const queue: RoleName[] = this.targetsMeta.has(TARGETS) ? [TARGETS] : [];
    while (queue.length > 0) {
      const role = queue.shift() as RoleName;
      order.push(role);
      for (const child of this.childrenOf(role)) if (this.targetsMeta.has(child.name)) queue.push(child.name);
    }
    return order;
  }
}

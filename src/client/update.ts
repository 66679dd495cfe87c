/**
 * The client update (docs/formats.md §5.1; notary's `LoadTUFRepo`): bootstrap the root from the
 * cache or the server (TOFU or trust pinning), then timestamp → snapshot → targets → delegations,
 * each checked by `TrustedCollection` and cached as exact bytes once verified.
 *
 * Contract:
 * - §5.1.1 The cached root is the pin: it must load (expiry aside) or the update fails. Pinning
 *   from the config applies only while no usable cached root exists.
 * - §5.1.2 The timestamp is always fetched; only a network failure, 404 or 5xx falls back to the
 *   cached one (with notary's warning and the real cause). Invalid data is never masked.
 * - §5.1.3–4 Snapshot and targets files are taken from the cache when they match the parent's
 *   hashes, else downloaded by hash with the parent's length as cap. Version floors come from the
 *   cached copies that still verify (rollback protection). Delegations are walked pre-order; a
 *   delegation failing its threshold or expiry is set aside with `Error getting <role>: …` (its
 *   bytes kept for `witness`); the same failure on `targets` is fatal.
 * - Cold start (no cached root): the current timestamp, snapshot and targets are requested while
 *   the root downloads (a write with a cached root: the timestamp), never answering an auth
 *   challenge. Each is used only where the sequential algorithm would have downloaded that role,
 *   and only after its parent has been verified; a
 *   snapshot or targets file that no longer matches its parent's hashes (a publish raced the
 *   requests) is downloaded again by hash. Failed early requests are forgotten.
 * - §5.1.5 Any failure re-downloads the root (by the snapshot's hash when a snapshot was trusted),
 *   walking `<v>.root.json` on a rotation, and retries once.
 */
import { MAX_METADATA_BYTES, MAX_TIMESTAMP_BYTES, parseMetadata, type FileMeta, type Metadata, type TargetsSigned } from '../tuf/metadata.ts';
import { VerificationError } from '../tuf/errors.ts';
import type { TrustPinning } from '../tuf/root-trust.ts';
import { TARGETS } from '../tuf/roles.ts';
import { isNearExpiry } from '../tuf/time.ts';
import { TrustedCollection } from '../tuf/trusted.ts';
import type { Gun, RoleName } from '../tuf/types.ts';
import { verifySignatures, type RoleVerifier } from '../tuf/verify.ts';
import type { MetadataCache } from './cache.ts';
import { ClientError } from './errors.ts';
import type { Logger } from './log.ts';
import type { RemoteStore } from './remote.ts';

export interface UpdateOptions {
  readonly gun: Gun;
  readonly now: Date;
  readonly cache: MetadataCache;
  /** Undefined: work from the cache only. */
  readonly remote: RemoteStore | undefined;
  readonly pinning?: TrustPinning;
  /** Always ask the server whether it knows the GUN (publish), even with a cached root. */
  readonly forWrite?: boolean;
  readonly log: Logger;
}

export interface UpdatedCollection {
  readonly collection: TrustedCollection;
  /** Delegations that parsed but failed their threshold or expiry (kept for `witness`). */
  readonly invalid: ReadonlyMap<RoleName, Metadata<TargetsSigned>>;
  /** True when the server could not be reached and the cached timestamp was used. */
  readonly usedCachedTimestamp: boolean;
}

const NETWORK_CODES = new Set(['NETWORK', 'TLS', 'METADATA_NOT_FOUND', 'SERVER_UNAVAILABLE', 'OFFLINE']);

function isNetworkish(e: unknown): e is ClientError {
  return e instanceof ClientError && NETWORK_CODES.has(e.code);
}

function sha256Hex(meta: FileMeta): string | undefined {
  const d = meta.hashes.get('sha256');
  return d === undefined ? undefined : Buffer.from(d).toString('hex');
}

/** The version of cached bytes that still verify with `verifier`, as a rollback floor (else 1). */
function versionFloor(role: string, cached: Uint8Array | undefined, verifier: RoleVerifier | undefined): number {
  if (cached === undefined || verifier === undefined) return 1;
  try {
    const meta = parseMetadata(role, cached);
    verifySignatures(meta, verifier);
    return meta.signed.version;
  } catch {
    return 1;
  }
}

function repoNotExist(remote: RemoteStore, gun: string, cause: unknown): ClientError {
  return new ClientError('REPOSITORY_NOT_EXIST', `${remote.location} does not have trust data for ${gun}`, { cause });
}

class Updater {
  private readonly o: UpdateOptions;
  /** The root currently trusted, and whether config pinning still applies to new roots. */
  private trustedRoot: Uint8Array | undefined;
  private rootPinning: TrustPinning | undefined;
  private cachedRootVersion = 1;
  private tc: TrustedCollection;
  private invalid = new Map<RoleName, Metadata<TargetsSigned>>();
  private usedCachedTimestamp = false;
  /** The newest cache write of each role (each waits for the one before); `flush` waits for them. */
  private readonly lastWrite = new Map<string, Promise<void>>();
  /** Early downloads of current files, by role; each is used at most once. */
  private readonly early = new Map<string, Promise<Uint8Array | undefined>>();

  constructor(o: UpdateOptions) {
    this.o = o;
    this.rootPinning = o.pinning;
    this.tc = new TrustedCollection({ gun: o.gun, now: o.now });
  }

  private fresh(pinning: TrustPinning | undefined): TrustedCollection {
    return new TrustedCollection({ gun: this.o.gun, now: this.o.now, ...(pinning !== undefined ? { pinning } : {}) });
  }

  async bootstrap(): Promise<void> {
    const { cache, remote, gun } = this.o;
    const cached = await cache.read('root');
    let loaded = false;
    if (cached !== undefined) {
      // The cached root pins trust: if it does not load (expiry aside), fail hard.
      const old = this.fresh(undefined);
      this.cachedRootVersion = old.updateRoot(cached, { allowExpired: true }).signed.version;
      this.trustedRoot = cached;
      try {
        this.tc = this.fresh(undefined);
        this.tc.updateRoot(cached);
        this.rootPinning = undefined;
        loaded = true;
      } catch (e) {
        if (!(e instanceof VerificationError && e.code === 'EXPIRED')) throw e;
        this.o.log.debug('the cached root has expired; a new root will be downloaded and checked against it');
      }
    }
    if (loaded && this.o.forWrite !== true) return;
    if (remote === undefined) {
      if (loaded) return;
      throw new ClientError('OFFLINE', `no trust data for ${gun} is cached and no trust server is configured`);
    }
    // Cold: everything the update needs next. A write with a cached root only asks whether the
    // server knows the GUN: the timestamp can come in the same round.
    this.requestEarly(remote, cached === undefined ? ['timestamp', 'snapshot', TARGETS] : ['timestamp']);
    let raw: Uint8Array;
    try {
      raw = await remote.getRole('root', { maxBytes: MAX_METADATA_BYTES });
    } catch (e) {
      if (e instanceof ClientError && e.code === 'METADATA_NOT_FOUND') throw repoNotExist(remote, gun, e);
      throw e;
    }
    if (loaded) return; // a write only needed to know that the server has the repository
    this.tc = this.fresh(this.rootPinning);
    if (this.trustedRoot !== undefined) this.tc.updateRoot(this.trustedRoot, { allowExpired: true });
    this.tc.updateRoot(raw, { minVersion: this.cachedRootVersion });
    this.save('root', raw);
    this.trustedRoot = raw;
    this.rootPinning = undefined;
  }

  /**
   * Caches verified bytes without holding up the next download: each file is written atomically
   * on its own, and `updateCollection` waits for all of them before it returns.
   */
  private save(role: string, bytes: Uint8Array): void {
    // Writes of one role stay in order (a retry re-caches the root), so the newest bytes win.
    const previous = this.lastWrite.get(role) ?? Promise.resolve();
    const p = previous.catch(() => undefined).then(() => this.o.cache.write(role, bytes));
    p.catch(() => undefined); // observed by flush()
    this.lastWrite.set(role, p);
  }

  /** Waits for the cache writes; the newest write of a role decides whether its file is cached. */
  async flush(): Promise<void> {
    await Promise.all(this.lastWrite.values());
  }

  /** Cold start: one round trip for the first four files instead of four in a row. */
  private requestEarly(remote: RemoteStore, roles: readonly string[]): void {
    for (const role of roles) {
      const maxBytes = role === 'timestamp' ? MAX_TIMESTAMP_BYTES : MAX_METADATA_BYTES;
      this.early.set(role, remote.getRole(role, { maxBytes, speculative: true }).catch(() => undefined));
    }
  }

  private takeEarly(role: string): Promise<Uint8Array | undefined> {
    const p = this.early.get(role);
    this.early.delete(role);
    return p ?? Promise.resolve(undefined);
  }

  async timestamp(): Promise<void> {
    const { cache, remote, log } = this.o;
    const cached = await cache.read('timestamp', MAX_TIMESTAMP_BYTES);
    let raw: Uint8Array;
    try {
      if (remote === undefined) throw new ClientError('OFFLINE', 'no trust server is configured');
      raw = (await this.takeEarly('timestamp')) ?? (await remote.getRole('timestamp', { maxBytes: MAX_TIMESTAMP_BYTES }));
    } catch (e) {
      if (!isNetworkish(e) || cached === undefined) throw e;
      log.warn('Error while downloading remote metadata, using cached timestamp - this might not be the latest version available remotely');
      if (e.code !== 'OFFLINE') log.warn(e.message);
      this.tc.updateTimestamp(cached);
      this.usedCachedTimestamp = true;
      return;
    }
    const floor = versionFloor('timestamp', cached, this.tc.baseRoleVerifier('timestamp' as RoleName));
    this.tc.updateTimestamp(raw, { minVersion: floor });
    this.save('timestamp', raw);
  }

  /** §5.1.3: the cached copy when it matches the parent's hashes, else a download by hash. */
  private async cacheThenRemote(role: RoleName, meta: FileMeta, load: (bytes: Uint8Array, floor: number) => void, verifier: RoleVerifier | undefined): Promise<void> {
    // Read even a copy longer than the parent records: it cannot be the current file, but it still
    // sets the version floor (rollback protection must not depend on file sizes).
    const cached = await this.o.cache.read(role, MAX_METADATA_BYTES);
    if (cached !== undefined && cached.length <= meta.length) {
      try {
        load(cached, 1);
        return;
      } catch (e) {
        this.o.log.debug(`cached ${role} is invalid (must download): ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (this.o.remote === undefined) throw new ClientError('OFFLINE', `${role} is not cached and no trust server is configured`);
    const early = await this.takeEarly(role);
    if (early !== undefined && early.length <= meta.length) {
      try {
        load(early, versionFloor(role, cached, verifier));
        this.save(role, early);
        return;
      } catch (e) {
        // Only a file that is no longer current is fetched again; anything else is the answer.
        if (!(e instanceof VerificationError && e.code === 'CHECKSUM_MISMATCH' && e.role === role)) throw e;
        this.o.log.debug(`${role} changed while it downloaded; downloading the version the ${role === 'snapshot' ? 'timestamp' : 'snapshot'} records`);
      }
    }
    const checksum = sha256Hex(meta);
    const raw = await this.o.remote.getRole(role, { ...(checksum !== undefined ? { checksum } : {}), maxBytes: meta.length });
    load(raw, versionFloor(role, cached, verifier));
    this.save(role, raw);
  }

  async snapshot(): Promise<void> {
    const meta = this.tc.timestamp?.signed.meta.get('snapshot');
    if (meta === undefined) throw new VerificationError('NO_CHECKSUM', 'no checksums for supported algorithms were provided for snapshot', 'snapshot');
    const role = 'snapshot' as RoleName;
    await this.cacheThenRemote(role, meta, (b, floor) => this.tc.updateSnapshot(b, { minVersion: floor }), this.tc.baseRoleVerifier(role));
  }

  async targets(): Promise<void> {
    const stack: RoleName[] = [TARGETS];
    while (stack.length > 0) {
      const role = stack.shift() as RoleName;
      const meta = this.tc.snapshot?.signed.meta.get(role);
      if (meta === undefined) {
        this.o.log.debug(`skipping ${role} because there is no checksum for it`);
        continue;
      }
      try {
        await this.loadTargetsRole(role, meta);
      } catch (e) {
        const setAside = e instanceof VerificationError && (e.code === 'EXPIRED' || e.code === 'THRESHOLD_NOT_MET');
        if (role === TARGETS || !setAside) throw e;
        this.o.log.warn(`Error getting ${role}: ${e.message}`);
        continue;
      }
      // Pre-order: a role's children are walked before its siblings, as notary does.
      stack.unshift(...this.tc.childrenOf(role).map((r) => r.name));
    }
  }

  private async loadTargetsRole(role: RoleName, meta: FileMeta): Promise<void> {
    if (role === TARGETS) {
      await this.cacheThenRemote(role, meta, (b, floor) => this.tc.updateTargets(b, { minVersion: floor }), this.tc.baseRoleVerifier(role));
      return;
    }
    const { parent, role: entry } = this.tc.delegationOf(role);
    const listed: readonly string[] = entry.keyIds;
    const keys = new Map([...parent.signed.delegations.keys].filter(([id]) => listed.includes(id)));
    const verifier: RoleVerifier = { name: role, keys, threshold: entry.threshold };
    let lastBytes: Uint8Array | undefined;
    try {
      await this.cacheThenRemote(role, meta, (b, floor) => {
        lastBytes = b;
        this.tc.updateDelegation(role, b, { minVersion: floor });
      }, verifier);
    } catch (e) {
      if (e instanceof VerificationError && lastBytes !== undefined) this.keepInvalid(role, lastBytes);
      throw e;
    }
  }

  private keepInvalid(role: RoleName, bytes: Uint8Array): void {
    try {
      this.invalid.set(role, parseMetadata(role, bytes) as Metadata<TargetsSigned>);
    } catch {
      // Unparseable content cannot be witnessed.
    }
  }

  async update(): Promise<void> {
    this.invalid = new Map();
    await this.timestamp();
    await this.snapshot();
    await this.targets();
  }

  /** §5.1.5: a new root (by the snapshot's hash when one was trusted), walking rotations. */
  async refreshRoot(): Promise<void> {
    const { remote, gun } = this.o;
    if (remote === undefined) throw new ClientError('OFFLINE', 'no trust server is configured');
    this.early.clear();
    const rootMeta = this.tc.snapshot?.signed.meta.get('root');
    const checksum = rootMeta === undefined ? undefined : sha256Hex(rootMeta);
    let raw: Uint8Array;
    try {
      raw = await remote.getRole('root', { ...(checksum !== undefined ? { checksum } : {}), maxBytes: rootMeta?.length ?? MAX_METADATA_BYTES });
    } catch (e) {
      if (e instanceof ClientError && e.code === 'METADATA_NOT_FOUND') throw repoNotExist(remote, gun, e);
      throw e;
    }
    const tc = this.fresh(this.rootPinning);
    if (this.trustedRoot !== undefined) tc.updateRoot(this.trustedRoot, { allowExpired: true });
    const current = tc.root?.signed.version ?? 0;
    try {
      tc.updateRoot(raw, { minVersion: this.cachedRootVersion });
    } catch (e) {
      if (!(e instanceof VerificationError && e.code === 'ROOT_ROTATION_FAILED') || this.trustedRoot === undefined) throw e;
      const newest = parseMetadata('root', raw).signed.version;
      for (let v = current + 1; v < newest; v++) tc.updateRoot(await remote.getRole('root', { version: v }));
      tc.updateRoot(raw, { minVersion: this.cachedRootVersion });
    }
    this.save('root', raw);
    this.trustedRoot = raw;
    this.rootPinning = undefined;
    this.tc = this.fresh(undefined);
    this.tc.updateRoot(raw);
  }

  result(): UpdatedCollection {
    return { collection: this.tc, invalid: this.invalid, usedCachedTimestamp: this.usedCachedTimestamp };
  }

  /** After bootstrap the collection holds just the trusted root: its hash awaits the snapshot. */
  prepare(): void {
    this.tc.deferRootChecksum();
  }

  /** Rebuilds the collection on the trusted root (after a failed attempt left it half loaded). */
  resetToRoot(): void {
    if (this.trustedRoot === undefined) return;
    this.tc = this.fresh(undefined);
    this.tc.updateRoot(this.trustedRoot);
    this.tc.deferRootChecksum();
  }
}

/** Near-expiry warnings notary logs after every update (B21). */
export function nearExpiryWarnings(tc: TrustedCollection, now: Date): string[] {
  const out: string[] = [];
  if (tc.root !== undefined && isNearExpiry(tc.root.signed.expires, now)) out.push('root is nearing expiry, you should re-sign the role metadata');
  for (const [role, meta] of tc.targets) {
    if (isNearExpiry(meta.signed.expires, now)) out.push(`${role} metadata is nearing expiry, you should re-sign the role metadata`);
  }
  if (tc.snapshot !== undefined && isNearExpiry(tc.snapshot.signed.expires, now)) out.push('snapshot is nearing expiry, you should re-sign the role metadata');
  return out;
}

export async function updateCollection(o: UpdateOptions): Promise<UpdatedCollection> {
  const u = new Updater(o);
  await u.bootstrap();
  u.prepare();
  try {
    await u.update();
  } catch (first) {
    if (o.remote === undefined || (first instanceof ClientError && first.code !== 'METADATA_NOT_FOUND' && isNetworkish(first))) throw first;
    o.log.debug(`update failed (${first instanceof Error ? first.message : String(first)}); downloading the root and retrying`);
    await u.refreshRoot();
    u.resetToRoot();
    await u.update();
  }
  await u.flush();
  const result = u.result();
  for (const w of [...result.collection.warnings, ...nearExpiryWarnings(result.collection, o.now)]) o.log.warn(w);
  return result;
}

/**
 * Server-side validation of an upload and generation of the next snapshot and timestamp
 * (docs/formats.md §6.4; notary's `validateUpdate`), on the shared `TrustedCollection`.
 *
 * Contract: given the parts of one POST and the GUN's current metadata, returns the rows to write
 * (uploaded root, targets files parents first, the uploaded or generated snapshot, the generated
 * timestamp), or throws `ServerError('INVALID_UPDATE')` with notary's detail (`ErrBadRoot`,
 * `ErrBadTargets`, `ErrBadSnapshot`, `ErrBadHierarchy`, `ErrValidation`). Signer outages surface
 * as `ServerError('UNAVAILABLE')`. An uploaded timestamp is ignored, as notary ignores it. Nothing
 * is written here.
 */
import { signSnapshot, signTimestamp, SigningError } from '../tuf/builder.ts';
import { VouchError } from '../errors.ts';
import { parseMetadata, type Metadata, type RootSigned, type SnapshotSigned, type TimestampSigned } from '../tuf/metadata.ts';
import { isDelegationName, parentRole, parentsFirst, ROOT, SNAPSHOT, TARGETS, TIMESTAMP } from '../tuf/roles.ts';
import { roleVerifier } from '../tuf/sign.ts';
import { TrustedCollection } from '../tuf/trusted.ts';
import type { Gun, RoleName } from '../tuf/types.ts';
import { invalidUpdate, ServerError, type UpdateErrorName } from './errors.ts';
import type { ChainHead } from './current.ts';
import type { ServerKeys } from './signing.ts';
import type { MetaUpdate, StoredFile } from './store.ts';

export interface UploadedFile {
  readonly role: RoleName;
  readonly version: number;
  readonly data: Uint8Array;
  /** An earlier root version sent along with a moved collection's first root (`<n>.root`). */
  readonly earlierRoot?: boolean;
}

export interface ValidationContext {
  readonly gun: Gun;
  readonly now: Date;
  /** Current root, targets or delegation file (the chain of §9.3). */
  readonly current: (role: string) => Promise<StoredFile | undefined>;
  readonly head: () => Promise<ChainHead | undefined>;
  readonly keys: ServerKeys;
  /**
   * Versions the collection's snapshot and timestamp had on the server it moved from (the
   * `Vouch-Previous-Versions` header). Used only while the GUN has no snapshot and timestamp here:
   * the first ones generated continue above them, so clients that cached the old ones see no
   * rollback.
   */
  readonly previousVersions?: PreviousVersions;
}

export interface PreviousVersions {
  readonly snapshot?: number;
  readonly timestamp?: number;
}

/** notary's message for a timestamp it cannot sign (Debian/v0.7.0 text, double space included). */
export const NO_TIMESTAMP_KEYS = 'no  timestamp keys exist on the server';
export const NO_SNAPSHOT_KEY = 'no snapshot was included in update and server does not hold current snapshot key for repository';

/** Rethrows server errors (signer outages) as they are; wraps validation failures. */
function wrap(name: UpdateErrorName, e: unknown): ServerError {
  if (e instanceof ServerError) return e;
  if (e instanceof VouchError) return invalidUpdate(name, e.message);
  throw e;
}

/**
 * Earlier root versions of a collection moving here (Vouch only): clients whose cached root is
 * older than the newest walk the chain by version (`<n>.root.json`), so a move brings it along.
 * Accepted only with a GUN's first root, as one unbroken chain (each version signed by its
 * predecessor's root keys, §5.4; expiry not checked) that ends right below the uploaded root.
 */
function loadEarlierRoots(tc: TrustedCollection, earlier: readonly UploadedFile[], upload: UploadedFile | undefined): void {
  if (upload === undefined) throw invalidUpdate('ErrBadRoot', 'earlier root versions need the current root in the same update');
  const sorted = [...earlier].sort((a, b) => a.version - b.version);
  const last = sorted[sorted.length - 1] as UploadedFile;
  if (last.version + 1 !== upload.version) throw invalidUpdate('ErrBadRoot', `earlier root versions must end right below the uploaded root version ${upload.version}`);
  for (const [i, f] of sorted.entries()) {
    const expected = i === 0 ? f.version : (sorted[i - 1] as UploadedFile).version + 1;
    if (f.version !== expected) throw invalidUpdate('ErrBadRoot', `earlier root versions must be consecutive: ${expected} is missing`);
    try {
      tc.updateRoot(f.data, { allowExpired: true });
    } catch (e) {
      throw wrap('ErrBadRoot', e);
    }
  }
}

async function loadRoot(ctx: ValidationContext, tc: TrustedCollection, upload: UploadedFile | undefined, earlier: readonly UploadedFile[]): Promise<void> {
  const stored = await ctx.current('root');
  if (earlier.length > 0) {
    if (stored !== undefined) throw invalidUpdate('ErrBadRoot', 'earlier root versions can only come with the first root of a collection');
    loadEarlierRoots(tc, earlier, upload);
  } else if (stored !== undefined) {
    try {
      tc.updateRoot(stored.data, { allowExpired: true });
    } catch (e) {
      throw wrap('ErrValidation', e);
    }
  }
  if (upload === undefined) {
    if (tc.root === undefined) throw invalidUpdate('ErrValidation', 'no pre-existing root and no root provided in update.');
    return;
  }
  const current = tc.root?.signed.version ?? 1;
  // notary-server counts a missing root as version 1, so a GUN's first root must be v1 or v2. Vouch
  // takes any version for a GUN it has never seen: a collection moving from another server
  // (`vouch migrate`) arrives with the root version its clients already trust, and a lower one
  // would look like a rollback to them. There is no stored state a higher version could skip.
  if (tc.root !== undefined && upload.version !== current && upload.version !== current + 1) {
    throw invalidUpdate('ErrBadRoot', `Root modifications must increment the version. Current ${current}, new ${upload.version}`);
  }
  try {
    tc.updateRoot(upload.data, { minVersion: current });
  } catch (e) {
    throw wrap('ErrBadRoot', e);
  }
}

function loadTargetsFile(tc: TrustedCollection, role: RoleName, data: Uint8Array, fromStore: boolean): void {
  const opts = fromStore ? { allowExpired: true } : { minVersion: 1 };
  if (role === TARGETS) {
    tc.updateTargets(data, opts);
    return;
  }
  const parent = parentRole(role);
  if (parent !== undefined && !tc.targets.has(parent)) {
    throw new VouchError('PARENT_NOT_LOADED', parent === TARGETS ? 'targets must be loaded first' : `tuf: invalid role ${role}. parent ${parent} does not exist`);
  }
  tc.updateDelegation(role, data, opts);
}

async function loadTargets(ctx: ValidationContext, tc: TrustedCollection, uploads: ReadonlyMap<string, UploadedFile>): Promise<UploadedFile[]> {
  const names = parentsFirst([...uploads.keys()].filter((r) => r === TARGETS || isDelegationName(r)));
  const applied: UploadedFile[] = [];
  for (const name of names) {
    const role = name as RoleName;
    const ancestors: RoleName[] = [];
    for (let a = parentRole(role); a !== undefined; a = parentRole(a)) if (!tc.targets.has(a)) ancestors.unshift(a);
    for (const a of ancestors) {
      const stored = await ctx.current(a);
      if (stored === undefined) continue; // loading the child will fail as notary's does
      try {
        loadTargetsFile(tc, a, stored.data, true);
      } catch (e) {
        throw wrap('ErrBadTargets', e);
      }
    }
    const upload = uploads.get(name) as UploadedFile;
    try {
      loadTargetsFile(tc, role, upload.data, false);
    } catch (e) {
      throw wrap('ErrBadTargets', e);
    }
    applied.push(upload);
  }
  return applied;
}

function parsePrevious<T extends 'snapshot' | 'timestamp'>(role: T, file: StoredFile | undefined): Metadata<T extends 'snapshot' ? SnapshotSigned : TimestampSigned> | undefined {
  if (file === undefined) return undefined;
  try {
    return parseMetadata(role, file.data) as Metadata<T extends 'snapshot' ? SnapshotSigned : TimestampSigned>;
  } catch (e) {
    throw wrap('ErrValidation', e);
  }
}

/**
 * The server's next snapshot: the previous one's meta with fresh meta for `files`, signed with the
 * snapshot keys the signer holds. The one generator for uploads without a snapshot and for lazy
 * re-signing of an expired server-held snapshot (docs/formats.md §6.4 steps 4 and 7).
 */
export async function generateSnapshot(keys: ServerKeys, root: Metadata<RootSigned>, now: Date, previous: StoredFile | undefined,
  files: ReadonlyMap<string, Uint8Array>, versionFloor?: number): Promise<Metadata<SnapshotSigned>> {
  const prev = parsePrevious('snapshot', previous);
  const signers = await keys.heldSigners(root.signed, SNAPSHOT);
  const role = root.signed.roles.get(SNAPSHOT);
  if (signers.length === 0 || role === undefined) throw invalidUpdate('ErrBadHierarchy', NO_SNAPSHOT_KEY, 'snapshot');
  const verifier = roleVerifier(SNAPSHOT, root.signed.keys, role);
  try {
    return await signSnapshot({ now, previous: prev, files, signers, verifier, ...(versionFloor !== undefined ? { versionFloor } : {}) });
  } catch (e) {
    if (e instanceof SigningError) throw invalidUpdate('ErrBadHierarchy', NO_SNAPSHOT_KEY, 'snapshot');
    throw wrap('ErrValidation', e);
  }
}

/** Signs the next timestamp over `snapshotBytes` (used by uploads and by lazy re-signing). */
export async function generateTimestamp(keys: ServerKeys, root: RootSigned, now: Date, snapshotBytes: Uint8Array, previous: StoredFile | undefined, versionFloor?: number): Promise<Metadata<TimestampSigned>> {
  const prev = parsePrevious('timestamp', previous);
  const signers = await keys.heldSigners(root, TIMESTAMP);
  const signer = signers[0];
  if (signer === undefined) throw invalidUpdate('ErrBadRoot', NO_TIMESTAMP_KEYS);
  const role = root.roles.get(TIMESTAMP);
  const verifier = { name: TIMESTAMP as string, keys: new Map([[signer.keyId, signer.publicKey]]), threshold: role?.threshold ?? 1 };
  try {
    return await signTimestamp({ now, snapshotBytes, previous: prev, signer, verifier, ...(versionFloor !== undefined ? { versionFloor } : {}) });
  } catch (e) {
    if (e instanceof SigningError) throw invalidUpdate('ErrBadRoot', NO_TIMESTAMP_KEYS);
    throw wrap('ErrValidation', e);
  }
}

export async function validateUpdate(ctx: ValidationContext, files: readonly UploadedFile[]): Promise<MetaUpdate[]> {
  const earlier = files.filter((f) => f.earlierRoot === true);
  const uploads = new Map<string, UploadedFile>(files.filter((f) => f.earlierRoot !== true).map((f) => [f.role, f]));
  const tc = new TrustedCollection({ gun: ctx.gun, now: ctx.now });
  const rootUpload = uploads.get(ROOT);
  await loadRoot(ctx, tc, rootUpload, earlier);
  tc.deferRootChecksum();
  const out: MetaUpdate[] = [...earlier.map(({ role, version, data }) => ({ role, version, data })), ...(rootUpload === undefined ? [] : [rootUpload])];
  out.push(...(await loadTargets(ctx, tc, uploads)));
  const head = await ctx.head();
  const floors = head === undefined ? ctx.previousVersions : undefined;
  const snapshotUpload = uploads.get(SNAPSHOT);
  let snapshotBytes: Uint8Array;
  if (snapshotUpload !== undefined) {
    try {
      tc.updateSnapshot(snapshotUpload.data, { minVersion: 1 });
    } catch (e) {
      throw wrap('ErrBadSnapshot', e);
    }
    out.push(snapshotUpload);
    snapshotBytes = snapshotUpload.data;
  } else {
    if (head?.snapshot === undefined && !tc.targets.has(TARGETS)) throw invalidUpdate('ErrValidation', 'targets must be loaded first');
    const root = tc.root as Metadata<RootSigned>;
    const files = new Map<string, Uint8Array>([[ROOT, root.bytes]]);
    for (const [role, meta] of tc.targets) files.set(role, meta.bytes);
    const snapshot = await generateSnapshot(ctx.keys, root, ctx.now, head?.snapshot, files, floors?.snapshot);
    out.push({ role: SNAPSHOT, version: snapshot.signed.version, data: snapshot.bytes });
    snapshotBytes = snapshot.bytes;
  }
  const root = (tc.root as Metadata<RootSigned>).signed;
  const timestamp = await generateTimestamp(ctx.keys, root, ctx.now, snapshotBytes, head?.timestamp, floors?.timestamp);
  out.push({ role: TIMESTAMP, version: timestamp.signed.version, data: timestamp.bytes });
  return out;
}

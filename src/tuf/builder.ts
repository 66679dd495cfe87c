/**
 * Producing the files a publish uploads, in notary 0.7's versioning (docs/formats.md §1.7):
 * a new repository (root v1, targets v1, snapshot v1 when the client holds the snapshot key),
 * a set of typed changes applied and signed, and the snapshot and timestamp a server generates.
 *
 * Contract: pure and deterministic given the signers; the clock is the `now` argument. Each
 * changed role gets version + 1 and the default expiry from `now`; the root is also re-signed when
 * it expires within six months, and any role near expiry is re-signed when its keys are at hand.
 * A client-managed snapshot lists sha256, sha512 and length of every root, targets and delegation
 * file. Every produced file has been parsed back and checked against its role's threshold.
 */
import type { JsonObject } from './canonical.ts';
import { MisuseError, ValidationError } from './errors.ts';
import type { PublicKey } from './keys.ts';
import type { FileMeta, Metadata, RootSigned, SnapshotSigned, TargetsSigned, TimestampSigned, RoleKeys } from './metadata.ts';
import { applyChanges, draftFrom, effectivePaths, roleExists, type Change, type RepoDraft, type RepoState } from './edit.ts';
import { parentRole, parentsFirst } from './roles.ts';
import { rootToJson, snapshotToJson, targetsToJson, timestampToJson } from './serialize.ts';
import { roleVerifier, signRole, SigningError, type SignRoleOptions } from './sign.ts';
import type { Signer } from './signer.ts';
import { DAY_MS, expiryFrom, isNearExpiry, YEAR_MS, type Expiry } from './time.ts';
import { parseGun, type Gun, type RoleName } from './types.ts';
import { fileMetaOf, type RoleVerifier } from './verify.ts';

export { cosign, roleVerifier, signRole, signedJsonOf, SigningError, type SigningCode, type SignRoleOptions } from './sign.ts';
export { applyChange, applyChanges, draftFrom, parseCustom, type Change, type RepoDraft, type RepoState } from './edit.ts';

/** notary's client and server defaults (const.go): 365-day years. */
export const DEFAULT_EXPIRY_MS = {
  root: 10 * YEAR_MS,
  targets: 3 * YEAR_MS,
  snapshot: 3 * YEAR_MS,
  timestamp: 14 * DAY_MS,
} as const;

export type SnapshotMode = 'client' | 'server';

function expiresAfter(now: Date, ms: number): Expiry {
  return expiryFrom(new Date(now.getTime() + ms));
}

export interface NewRepositoryInput {
  readonly gun: string;
  readonly now: Date;
  /** Root keys: x509 certificate keys (`ecdsa-x509`/`rsa-x509`) with their private halves. */
  readonly rootKeys: readonly Signer[];
  readonly targetsKey: Signer;
  /** A signer when the client holds the snapshot key; the server's public key otherwise. */
  readonly snapshotKey: Signer | PublicKey;
  /** The timestamp key the server handed out (public only). */
  readonly timestampKey: PublicKey;
  readonly snapshot: SnapshotMode;
}

export interface NewRepository {
  readonly gun: Gun;
  readonly root: Metadata<RootSigned>;
  readonly targets: Metadata<TargetsSigned>;
  readonly snapshot?: Metadata<SnapshotSigned>;
}

function isSigner(k: Signer | PublicKey): k is Signer {
  return 'sign' in k;
}

function checkNewRepositoryKeys(input: NewRepositoryInput): PublicKey {
  if (input.rootKeys.length === 0) throw new ValidationError('INVALID_KEY', 'a new repository needs at least one root key', 'rootKeys');
  if (input.rootKeys.some((s) => !s.publicKey.keyType.endsWith('-x509'))) {
    throw new ValidationError('INVALID_KEY', 'root keys must be x509 certificates (ecdsa-x509 or rsa-x509)', 'rootKeys');
  }
  const holds = isSigner(input.snapshotKey);
  if (holds !== (input.snapshot === 'client')) {
    throw new MisuseError(`a ${input.snapshot}-managed snapshot needs ${input.snapshot === 'client' ? 'a snapshot signer' : "the server's public snapshot key"}`);
  }
  return isSigner(input.snapshotKey) ? input.snapshotKey.publicKey : input.snapshotKey;
}

function newRoot(input: NewRepositoryInput, snapshotKey: PublicKey): RootSigned {
  const keys = new Map<string, PublicKey>();
  const role = (ks: readonly PublicKey[]): RoleKeys => {
    for (const k of ks) keys.set(k.id, k);
    return { keyIds: [...new Set(ks.map((k) => k.id))], threshold: 1, unrecognized: {} };
  };
  const roles = new Map<string, RoleKeys>([
    ['root', role(input.rootKeys.map((s) => s.publicKey))],
    ['targets', role([input.targetsKey.publicKey])],
    ['snapshot', role([snapshotKey])],
    ['timestamp', role([input.timestampKey])],
  ]);
  return { type: 'Root', version: 1, expires: expiresAfter(input.now, DEFAULT_EXPIRY_MS.root), unrecognized: {}, consistentSnapshot: false, keys, roles };
}

/** `notary init`: root v1, empty targets v1 and, when the client holds the key, snapshot v1. */
export async function newRepository(input: NewRepositoryInput): Promise<NewRepository> {
  const gun = parseGun(input.gun);
  const snapshotKey = checkNewRepositoryKeys(input);
  const rootView = newRoot(input, snapshotKey);
  const verifierOf = (r: string) => roleVerifier(r, rootView.keys, rootView.roles.get(r) as RoleKeys);
  const root = await signRole('root', rootToJson(rootView), input.rootKeys, { verifier: verifierOf('root') });
  const targetsView: TargetsSigned = {
    type: 'Targets',
    version: 1,
    expires: expiresAfter(input.now, DEFAULT_EXPIRY_MS.targets),
    unrecognized: {},
    targets: new Map(),
    delegations: { keys: new Map(), roles: [] },
  };
  const targets = await signRole('targets', targetsToJson(targetsView), [input.targetsKey], { verifier: verifierOf('targets') });
  const out = { gun, root: root as Metadata<RootSigned>, targets: targets as Metadata<TargetsSigned> };
  if (!isSigner(input.snapshotKey)) return out;
  const files = new Map([
    ['root', root.bytes],
    ['targets', targets.bytes],
  ]);
  const snapshot = await signSnapshot({ now: input.now, files, signers: [input.snapshotKey], verifier: verifierOf('snapshot') });
  return { ...out, snapshot };
}

export interface SignSnapshotInput {
  readonly now: Date;
  /** The snapshot being replaced: its entries are kept unless replaced or removed. */
  readonly previous?: Metadata<SnapshotSigned>;
  /** Exact file bytes of the roles whose entries change (root, targets, delegations). */
  readonly files: ReadonlyMap<string, Uint8Array>;
  /** Roles (deleted delegations) whose entries leave the snapshot. */
  readonly removed?: Iterable<string>;
  readonly signers: readonly Signer[];
  readonly verifier?: RoleVerifier;
  readonly allowPartial?: boolean;
  /** A version the new file must exceed (a collection moved from another server, §6.4). */
  readonly versionFloor?: number;
}

/** Snapshot version previous + 1 (or 1, or above `versionFloor`) listing sha256, sha512 and length of each file. */
export async function signSnapshot(input: SignSnapshotInput): Promise<Metadata<SnapshotSigned>> {
  const meta = new Map<string, FileMeta>(input.previous?.signed.meta ?? []);
  for (const r of input.removed ?? []) meta.delete(r);
  for (const [r, bytes] of input.files) meta.set(r, fileMetaOf(bytes));
  const view: SnapshotSigned = {
    type: 'Snapshot',
    version: Math.max(input.previous?.signed.version ?? 0, input.versionFloor ?? 0) + 1,
    expires: expiresAfter(input.now, DEFAULT_EXPIRY_MS.snapshot),
    unrecognized: input.previous?.signed.unrecognized ?? {},
    meta,
  };
  const opts: SignRoleOptions = { previous: input.previous, verifier: input.verifier, allowPartial: input.allowPartial };
  return (await signRole('snapshot', snapshotToJson(view), input.signers, opts)) as Metadata<SnapshotSigned>;
}

export interface SignTimestampInput {
  readonly now: Date;
  readonly snapshotBytes: Uint8Array;
  readonly previous?: Metadata<TimestampSigned>;
  readonly signer: Signer;
  readonly verifier?: RoleVerifier;
  /** A version the new file must exceed (a collection moved from another server, §6.4). */
  readonly versionFloor?: number;
}

/** The server's timestamp: version previous + 1 (or 1, or above `versionFloor`), the snapshot's hashes, 14 days. */
export async function signTimestamp(input: SignTimestampInput): Promise<Metadata<TimestampSigned>> {
  const view: TimestampSigned = {
    type: 'Timestamp',
    version: Math.max(input.previous?.signed.version ?? 0, input.versionFloor ?? 0) + 1,
    expires: expiresAfter(input.now, DEFAULT_EXPIRY_MS.timestamp),
    unrecognized: {},
    meta: new Map([['snapshot', fileMetaOf(input.snapshotBytes)]]),
  };
  const meta = await signRole('timestamp', timestampToJson(view), [input.signer], { verifier: input.verifier });
  return meta as Metadata<TimestampSigned>;
}

export interface SignChangesInput {
  readonly now: Date;
  readonly current: RepoState;
  readonly changes: readonly Change[];
  /** The publisher's signers for a role; for a root rotation, old and new root keys. */
  readonly signers: (role: RoleName) => readonly Signer[];
  readonly snapshot: SnapshotMode;
  /** Produce files below threshold for other publishers to co-sign (m-of-n). */
  readonly allowPartial?: boolean;
  /**
   * Versions the server already holds of roles `current` does not list: a delegation removed by
   * an earlier publish leaves its files on the server, so a recreated one continues above them.
   */
  readonly versionFloors?: ReadonlyMap<string, number>;
}

export interface SignedChanges {
  /** New files by role, in upload order: targets files parents first, root, snapshot. */
  readonly files: ReadonlyMap<RoleName, Metadata>;
  /** Delegations deleted by the changes (their files are no longer listed in the snapshot). */
  readonly removed: readonly RoleName[];
  /** Roles near expiry that were left alone because no signer for them was available. */
  readonly skipped: readonly RoleName[];
  /** `current` with the new files in place: the state after a successful publish. */
  readonly state: RepoState;
}

function verifierFor(d: RepoDraft, role: RoleName): RoleVerifier {
  const root = d.root as RootSigned;
  if (role === 'root' || role === 'targets' || role === 'snapshot' || role === 'timestamp') {
    return roleVerifier(role, root.keys, root.roles.get(role) as RoleKeys);
  }
  const parent = d.targets.get(parentRole(role) as RoleName);
  const entry = parent?.delegations.roles.find((r) => r.name === role);
  if (parent === undefined || entry === undefined) throw new MisuseError(`no delegation entry for ${role}`);
  return roleVerifier(role, parent.delegations.keys, entry);
}

function sameRoleKeys(a: RoleKeys | undefined, b: RoleKeys | undefined): boolean {
  return a !== undefined && b !== undefined && a.threshold === b.threshold && [...a.keyIds].sort().join() === [...b.keyIds].sort().join();
}

interface RolePlan {
  readonly role: RoleName;
  readonly changed: boolean;
  readonly verifiers: readonly RoleVerifier[];
  readonly previous: Metadata | undefined;
}

/** Signs one role of the plan, or returns undefined for a near-expiry role nobody can sign. */
async function signPlanned(plan: RolePlan, signed: JsonObject, input: SignChangesInput): Promise<Metadata | undefined> {
  const signers = input.signers(plan.role);
  const opts: SignRoleOptions = { previous: plan.previous, verifier: plan.verifiers, allowPartial: input.allowPartial };
  try {
    return await signRole(plan.role, signed, signers, opts);
  } catch (e) {
    if (!plan.changed && e instanceof SigningError) return undefined;
    throw e;
  }
}

function rootPlan(d: RepoDraft, input: SignChangesInput): RolePlan | undefined {
  const root = d.root as RootSigned;
  const changed = d.dirty.has('root' as RoleName);
  if (!changed && !isNearExpiry(root.expires, input.now)) return undefined;
  const verifiers = [verifierFor(d, 'root' as RoleName)];
  const previousRoot = input.current.root;
  if (previousRoot !== undefined && !sameRoleKeys(d.originalRootRole, root.roles.get('root'))) {
    // A rotation must also satisfy the root that clients trust today (§5.5).
    verifiers.push(roleVerifier('root', previousRoot.signed.keys, d.originalRootRole as RoleKeys));
  }
  return { role: 'root' as RoleName, changed, verifiers, previous: previousRoot };
}

async function signTargetsFiles(d: RepoDraft, input: SignChangesInput, files: Map<RoleName, Metadata>, skipped: RoleName[]): Promise<void> {
  for (const role of parentsFirst(d.targets.keys())) {
    if (!roleExists(d, role)) continue; // a file whose delegation is gone is left to rot, as notary does
    const view = d.targets.get(role) as TargetsSigned;
    const changed = d.dirty.has(role);
    if (!changed && !isNearExpiry(view.expires, input.now)) continue;
    const plan: RolePlan = { role, changed, verifiers: [verifierFor(d, role)], previous: input.current.targets?.get(role) };
    // A delegation removed and recreated in one publish starts from an empty file, but its version
    // continues: the server keeps every stored version and refuses one that is not newer.
    const version = Math.max(view.version, plan.previous?.signed.version ?? 0, input.versionFloors?.get(role) ?? 0) + 1;
    const signed = targetsToJson({ ...view, version, expires: expiresAfter(input.now, DEFAULT_EXPIRY_MS.targets) });
    const meta = await signPlanned(plan, signed, input);
    if (meta === undefined) skipped.push(role);
    else files.set(role, meta);
  }
}

function snapshotFiles(d: RepoDraft, current: RepoState, files: ReadonlyMap<RoleName, Metadata>): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const root = files.get('root' as RoleName) ?? current.root;
  if (root !== undefined) out.set('root', root.bytes);
  for (const role of d.targets.keys()) {
    const meta = files.get(role) ?? current.targets?.get(role);
    if (meta !== undefined && roleExists(d, role)) out.set(role, meta.bytes);
  }
  return out;
}

/**
 * Applies `changes` to `current` and signs every role that needs it. Throws `ValidationError`
 * for an invalid change, `SigningError` when a changed role cannot be signed to its threshold.
 */
export async function signChanges(input: SignChangesInput): Promise<SignedChanges> {
  const d = applyChanges(draftFrom(input.current), input.changes);
  if (d.root === undefined) throw new MisuseError('root role has not been loaded');
  const files = new Map<RoleName, Metadata>();
  const skipped: RoleName[] = [];
  await signTargetsFiles(d, input, files, skipped);
  const rp = rootPlan(d, input);
  if (rp !== undefined) {
    const signed = rootToJson({ ...d.root, version: d.root.version + 1, expires: expiresAfter(input.now, DEFAULT_EXPIRY_MS.root) });
    const meta = await signPlanned(rp, signed, input);
    if (meta === undefined) skipped.push(rp.role);
    else files.set(rp.role, meta);
  }
  const removed = [...d.removed].filter((r) => !d.targets.has(r));
  const prevSnapshot = input.current.snapshot;
  const snapshotDue = files.size > 0 || removed.length > 0 || d.dirty.has('snapshot' as RoleName) || (prevSnapshot !== undefined && isNearExpiry(prevSnapshot.signed.expires, input.now));
  if (input.snapshot === 'client' && snapshotDue) {
    const snapshot = await signSnapshot({
      now: input.now,
      previous: prevSnapshot,
      files: snapshotFiles(d, input.current, files),
      removed,
      signers: input.signers('snapshot' as RoleName),
      verifier: verifierFor(d, 'snapshot' as RoleName),
      allowPartial: input.allowPartial,
    });
    files.set('snapshot' as RoleName, snapshot);
  }
  return { files, removed, skipped, state: nextState(input.current, d, files) };
}

function nextState(current: RepoState, d: RepoDraft, files: ReadonlyMap<RoleName, Metadata>): RepoState {
  const targets = new Map<string, Metadata<TargetsSigned>>();
  for (const [role, meta] of current.targets ?? []) if (d.targets.has(role as RoleName)) targets.set(role, meta);
  for (const [role, meta] of files) if (meta.signed.type === 'Targets') targets.set(role, meta as Metadata<TargetsSigned>);
  return {
    root: (files.get('root' as RoleName) as Metadata<RootSigned> | undefined) ?? current.root,
    targets,
    snapshot: (files.get('snapshot' as RoleName) as Metadata<SnapshotSigned> | undefined) ?? current.snapshot,
  };
}

/** The effective paths a delegation may sign (for listing and `add --roles` checks). */
export function delegatedPaths(state: RepoState, role: RoleName): string[] {
  return effectivePaths(draftFrom(state), role);
}

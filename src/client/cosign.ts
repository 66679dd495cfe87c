/**
 * m-of-n signing across publishers (Vouch extension; notary can verify thresholds but never lets
 * two people sign one version). notary-server refuses a file below its role's threshold, so the
 * signatures are collected before the upload, in a bundle that travels between signers:
 *
 * 1. the first publisher applies the staged changes and signs what their keys can
 *    (`partialPublish`); when every threshold is met it publishes at once, otherwise it returns a
 *    bundle of the signed role files (never the snapshot);
 * 2. each further signer checks the bundle against the server's current state and adds their
 *    signatures (`cosignBundle`); the signer who completes every threshold publishes, signing a
 *    new snapshot when they hold the snapshot key (else the server does).
 *
 * Contract: a file is only signed as the role it names, with the keys the (bundle's or current)
 * root or parent delegation lists for that role; thresholds are counted by distinct valid keys;
 * a bundle for another GUN, a file that does not parse, or one that does not advance its role's
 * version is refused. `summarize` describes what a bundle changes, for the signer to review.
 */
import { roleVerifier, signedJsonOf, signRole, signSnapshot, type RepoState } from '../tuf/builder.ts';
import { isJsonObject, parseJson } from '../tuf/canonical.ts';
import { parseMetadata, type FileMeta, type Metadata, type RootSigned, type TargetsSigned } from '../tuf/metadata.ts';
import { parentRole } from '../tuf/roles.ts';
import type { RoleName } from '../tuf/types.ts';
import { countValidSignatures, type RoleVerifier } from '../tuf/verify.ts';
import { loadForWrite, requireRemote, type RepoContext } from './context.ts';
import { ClientError } from './errors.ts';
import { publishSigners } from './plan.ts';
import { afterUpload, finishPublish, preparePublish, type PublishOptions, type PublishResult } from './publish.ts';

export interface CosignBundle {
  readonly gun: string;
  /** Signed role files (root, targets, delegations), exact bytes. */
  readonly files: ReadonlyMap<string, Uint8Array>;
  /** Delegations the change deletes (their snapshot entries go). */
  readonly removed: readonly string[];
}

export interface RoleSignatures {
  readonly role: string;
  readonly have: number;
  readonly need: number;
}

export type CosignOutcome =
  | { readonly published: PublishResult }
  | { readonly bundle: CosignBundle; readonly pending: readonly RoleSignatures[] };

const FORMAT = 'vouch-cosign-bundle/1';

export function encodeBundle(b: CosignBundle): string {
  const files = Object.fromEntries([...b.files].map(([r, bytes]) => [r, Buffer.from(bytes).toString('base64')]));
  return `${JSON.stringify({ format: FORMAT, gun: b.gun, files, removed: b.removed }, null, 1)}\n`;
}

export function decodeBundle(bytes: Uint8Array): CosignBundle {
  const bad = (why: string) => new ClientError('INVALID_INPUT', `not a Vouch cosign bundle: ${why}`);
  let doc;
  try {
    doc = parseJson(bytes, 'cosign bundle');
  } catch (e) {
    throw bad(e instanceof Error ? e.message : String(e));
  }
  if (!isJsonObject(doc) || doc['format'] !== FORMAT) throw bad(`the format must be ${FORMAT}`);
  const { gun, files, removed } = doc;
  if (typeof gun !== 'string' || !isJsonObject(files) || !Array.isArray(removed) || removed.some((r) => typeof r !== 'string')) throw bad('gun, files and removed are required');
  const out = new Map<string, Uint8Array>();
  for (const [role, b64] of Object.entries(files)) {
    if (typeof b64 !== 'string' || role === 'snapshot' || role === 'timestamp') throw bad(`file ${role} is not allowed`);
    out.set(role, new Uint8Array(Buffer.from(b64, 'base64')));
  }
  return { gun, files: out, removed: removed as string[] };
}

function parsed(b: CosignBundle): Map<string, Metadata> {
  const out = new Map<string, Metadata>();
  for (const [role, bytes] of b.files) {
    try {
      out.set(role, parseMetadata(role, bytes));
    } catch (e) {
      throw new ClientError('INVALID_INPUT', `cosign bundle file ${role}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
  return out;
}

/** The state the bundle would create: current files with the bundle's in place. */
function overlay(current: RepoState, files: ReadonlyMap<string, Metadata>): RepoState {
  const targets = new Map(current.targets ?? []);
  for (const [role, m] of files) if (m.signed.type === 'Targets') targets.set(role, m as Metadata<TargetsSigned>);
  const root = (files.get('root') as Metadata<RootSigned> | undefined) ?? current.root;
  return { ...(root !== undefined ? { root } : {}), targets, ...(current.snapshot !== undefined ? { snapshot: current.snapshot } : {}) };
}

/** The verifiers a role file must satisfy: its role in the new state (and, for a root rotation, the old root). */
export function verifiersFor(role: string, next: RepoState, current: RepoState): RoleVerifier[] {
  const root = next.root?.signed;
  if (root === undefined) throw new ClientError('NOT_INITIALIZED', 'repository has not been initialized');
  if (role === 'root' || role === 'targets') {
    const rk = root.roles.get(role);
    if (rk === undefined) throw new ClientError('INVALID_INPUT', `the root lists no ${role} role`);
    const out = [roleVerifier(role, root.keys, rk)];
    const old = current.root?.signed;
    const oldRk = old?.roles.get('root');
    if (role === 'root' && old !== undefined && oldRk !== undefined && [...oldRk.keyIds].sort().join() !== [...rk.keyIds].sort().join()) {
      out.push(roleVerifier('root', old.keys, oldRk));
    }
    return out;
  }
  const parent = next.targets?.get(parentRole(role as RoleName) ?? '');
  const entry = parent?.signed.delegations.roles.find((r) => r.name === role);
  if (parent === undefined || entry === undefined) throw new ClientError('INVALID_INPUT', `tuf: invalid role ${role}. delegation does not exist`);
  return [roleVerifier(role, parent.signed.delegations.keys, entry)];
}

function pendingOf(files: ReadonlyMap<string, Metadata>, next: RepoState, current: RepoState): RoleSignatures[] {
  const out: RoleSignatures[] = [];
  for (const [role, m] of files) {
    for (const v of verifiersFor(role, next, current)) {
      const have = countValidSignatures(m, v).validKeyIds.size;
      if (have < v.threshold) out.push({ role, have, need: v.threshold });
    }
  }
  return out;
}

function checkAdvances(files: ReadonlyMap<string, Metadata>, current: RepoState): void {
  for (const [role, m] of files) {
    const cur = role === 'root' ? current.root : current.targets?.get(role);
    if (cur !== undefined && m.signed.version <= cur.signed.version) {
      throw new ClientError('INVALID_INPUT', `cosign bundle file ${role} is version ${m.signed.version}, but the server already has version ${cur.signed.version}; the bundle is out of date`);
    }
  }
}

/** Uploads completed files with a snapshot the client signs when it holds the snapshot key. */
async function uploadComplete(ctx: RepoContext, current: RepoState, files: ReadonlyMap<string, Metadata>, removed: readonly string[]): Promise<PublishResult> {
  const next = overlay(current, files);
  const held = await ctx.keys.heldKeyIds();
  const upload = new Map<string, Uint8Array>([...files].map(([r, m]) => [r, m.bytes]));
  const root = next.root?.signed;
  const snapRole = root?.roles.get('snapshot');
  const signers = publishSigners(ctx.keys, held, next, []);
  if (root !== undefined && snapRole !== undefined && signers.some((s) => snapRole.keyIds.includes(s.keyId))) {
    const snapshot = await signSnapshot({
      now: ctx.now(), previous: current.snapshot, files: upload, removed, signers,
      verifier: roleVerifier('snapshot', root.keys, snapRole),
    });
    upload.set('snapshot', snapshot.bytes);
  }
  await requireRemote(ctx).publish(upload);
  await afterUpload(ctx, upload, removed, []);
  return { uploaded: [...upload.keys()], skipped: [], initial: false, applied: 0 };
}

/**
 * First publisher: publishes when every threshold is met with the caller's keys, else returns a
 * bundle for the other signers (the changelist is kept until the publish lands).
 */
export async function partialPublish(ctx: RepoContext, opts: PublishOptions): Promise<CosignOutcome> {
  const p = await preparePublish(ctx, { ...opts, allowPartial: true });
  const files = new Map<string, Metadata>([...p.signed.files].filter(([role]) => role !== 'snapshot'));
  const pending = pendingOf(files, p.signed.state, p.base.state);
  if (pending.length === 0) return { published: await finishPublish(ctx, p) };
  if (p.base.initial) throw new ClientError('INVALID_INPUT', 'a repository\'s first publish cannot be co-signed: publish it once with thresholds your keys meet');
  return { bundle: { gun: ctx.gun, files: new Map([...files].map(([r, m]) => [r, m.bytes])), removed: [...p.signed.removed] }, pending };
}

/** A further signer: adds their signatures; publishes when that completes every threshold. */
export async function cosignBundle(ctx: RepoContext, bundle: CosignBundle, initialize: () => Promise<void>): Promise<CosignOutcome> {
  if (bundle.gun !== ctx.gun) throw new ClientError('INVALID_INPUT', `the cosign bundle is for ${bundle.gun}, not ${ctx.gun}`);
  const base = await loadForWrite(ctx, initialize);
  if (base.initial) throw new ClientError('REPOSITORY_NOT_EXIST', `${requireRemote(ctx).location} does not have trust data for ${ctx.gun}`);
  const files = parsed(bundle);
  checkAdvances(files, base.state);
  const next = overlay(base.state, files);
  const held = await ctx.keys.heldKeyIds();
  const signers = publishSigners(ctx.keys, held, next, []);
  const signed = new Map<string, Metadata>();
  for (const [role, m] of files) {
    const verifier = verifiersFor(role, next, base.state);
    signed.set(role, await signRole(role, signedJsonOf(m), signers, { previous: m, verifier, allowPartial: true }));
  }
  const after = overlay(base.state, signed);
  const pending = pendingOf(signed, after, base.state);
  if (pending.length > 0) return { bundle: { ...bundle, files: new Map([...signed].map(([r, m]) => [r, m.bytes])) }, pending };
  return { published: await uploadComplete(ctx, base.state, signed, bundle.removed) };
}

/** What a bundle changes relative to the current state, one line per change, for review. */
export function summarize(bundle: CosignBundle, current: RepoState): string[] {
  const lines: string[] = [];
  for (const [role, m] of parsed(bundle)) {
    const cur = role === 'root' ? current.root : current.targets?.get(role);
    lines.push(`${role}: version ${cur?.signed.version ?? 0} -> ${m.signed.version}`);
    if (m.signed.type !== 'Targets') continue;
    const was: ReadonlyMap<string, FileMeta> = (cur?.signed as TargetsSigned | undefined)?.targets ?? new Map<string, FileMeta>();
    for (const [name, fm] of m.signed.targets) {
      const old = was.get(name);
      const sha = Buffer.from(fm.hashes.get('sha256') ?? []).toString('hex');
      if (old === undefined) lines.push(`  + ${name} sha256:${sha} ${fm.length}`);
      else if (Buffer.from(old.hashes.get('sha256') ?? []).toString('hex') !== sha || old.length !== fm.length) lines.push(`  ~ ${name} sha256:${sha} ${fm.length}`);
    }
    for (const name of was.keys()) if (!m.signed.targets.has(name)) lines.push(`  - ${name}`);
    const wasRoles = new Map(((cur?.signed as TargetsSigned | undefined)?.delegations.roles ?? []).map((r) => [r.name, r]));
    for (const r of m.signed.delegations.roles) {
      const old = wasRoles.get(r.name);
      const desc = `${r.name} threshold ${r.threshold} of ${r.keyIds.length} keys, paths ${JSON.stringify(r.paths ?? [])}`;
      if (old === undefined) lines.push(`  + delegation ${desc}`);
      else if (old.threshold !== r.threshold || old.keyIds.join() !== r.keyIds.join() || JSON.stringify(old.paths) !== JSON.stringify(r.paths)) lines.push(`  ~ delegation ${desc}`);
    }
  }
  for (const r of bundle.removed) lines.push(`${r}: deleted`);
  return lines;
}

/**
 * `notary init` (docs/compatibility.md B1–B3): a new repository in the local cache, not yet published.
 *
 * Contract:
 * - Root keys: the given key IDs, else the first root key held, else a new one. Each is wrapped
 *   in a new self-signed certificate (CN = GUN, 10 years), or in the given certificate, which must
 *   hold the same public key (`--rootcert`).
 * - A new ECDSA targets key, and a new snapshot key unless the server is to manage the snapshot
 *   (docker's default); the timestamp key (and a server-managed snapshot key) come from the
 *   server, so `init` needs it to be reachable.
 * - Root v1, targets v1 and (client snapshot) snapshot v1 are written to the cache; an existing
 *   cached repository is replaced. Thresholds above 1 are Vouch's m-of-n extension.
 */
import { canonicalKeyId, type PublicKey } from '../tuf/keys.ts';
import { newRepository } from '../tuf/builder.ts';
import type { Signer } from '../tuf/signer.ts';
import type { KeyId } from '../tuf/types.ts';
import { requireRemote, type RepoContext } from './context.ts';
import { ClientError } from './errors.ts';

export interface InitializeOptions {
  /** Canonical IDs of held root keys to use; default: the first root key held, else a new one. */
  readonly rootKeyIds?: readonly string[];
  /** Certificates (`ecdsa-x509`/`rsa-x509` keys) for those root keys, in the same order. */
  readonly rootCertificates?: readonly PublicKey[];
  /** Let the server hold the snapshot key (docker creates every repository this way). */
  readonly serverManagedSnapshot?: boolean;
}

export interface InitializeResult {
  /** The canonical ID of each root key used. */
  readonly rootKeyIds: readonly KeyId[];
  /** True when no root key was held and one was generated. */
  readonly createdRootKey: boolean;
}

async function rootSigners(ctx: RepoContext, opts: InitializeOptions, now: Date): Promise<{ signers: Signer[]; ids: KeyId[]; created: boolean }> {
  const certs = opts.rootCertificates ?? [];
  let ids: string[] = [...(opts.rootKeyIds ?? [])];
  let created = false;
  if (ids.length === 0 && certs.length > 0) {
    // notary: with certificates but no key, the matching keys are looked up in the key store.
    const held = await ctx.keys.heldKeyIds();
    ids = certs.map((c) => {
      const id = canonicalKeyId(c);
      if (!held.has(id)) throw new ClientError('KEY_UNAVAILABLE', 'error initializing repository with certificate: cannot find matching private key id');
      return id;
    });
  }
  if (ids.length === 0) {
    const existing = await ctx.keys.rootKeyIds();
    if (existing[0] !== undefined) ids = [existing[0]];
    else {
      const signer = await ctx.keys.createKey('root', undefined);
      ids = [signer.publicKey.id];
      created = true;
    }
  }
  if (certs.length > 0 && certs.length !== ids.length) {
    throw new ClientError('INVALID_INPUT', `require matching number of keyIDs and public keys but got ${ids.length} IDs and ${certs.length} public keys`);
  }
  const signers: Signer[] = [];
  for (const [i, id] of ids.entries()) {
    const plain = await ctx.keys.signer(id, 'root');
    const cert = certs[i] ?? (await ctx.keys.rootCertificateKey(id, ctx.gun, now));
    if (canonicalKeyId(cert) !== id) throw new ClientError('INVALID_INPUT', `could not obtain public key from IDs: the certificate does not hold the public key of root key ${id}`);
    signers.push({ keyId: cert.id, publicKey: cert, sign: (m) => plain.sign(m) });
  }
  return { signers, ids: ids as KeyId[], created };
}

export async function initializeRepository(ctx: RepoContext, opts: InitializeOptions = {}): Promise<InitializeResult> {
  const remote = requireRemote(ctx);
  const now = ctx.now();
  const root = await rootSigners(ctx, opts, now);
  const serverSnapshot = opts.serverManagedSnapshot === true;
  // Keys are made before the network calls, as notary does, so a failed call wastes no passphrase.
  const targetsKey = await ctx.keys.createKey('targets', ctx.gun);
  const snapshotKey = serverSnapshot ? await remote.getKey('snapshot') : await ctx.keys.createKey('snapshot', ctx.gun);
  const timestampKey = await remote.getKey('timestamp');
  const repo = await newRepository({
    gun: ctx.gun, now, rootKeys: root.signers, targetsKey, snapshotKey, timestampKey,
    snapshot: serverSnapshot ? 'server' : 'client',
  });
  await ctx.cache.clear();
  await ctx.cache.write('root', repo.root.bytes);
  await ctx.cache.write('targets', repo.targets.bytes);
  if (repo.snapshot !== undefined) await ctx.cache.write('snapshot', repo.snapshot.bytes);
  return { rootKeyIds: root.ids, createdRootKey: root.created };
}

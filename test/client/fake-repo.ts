/**
 * Collections made with the Vouch core and in-memory keys, for the scripted server: the test holds
 * every key, including the timestamp key the server would hold, so it can produce metadata the
 * real server never would (expired, rolled back, signed by a removed key).
 */
import { generateKeyPairSync } from '../helpers/keys.ts';
import { createRootCertificate } from '../../src/crypto/x509.ts';
import { rootCertificateKey } from '../../src/tuf/certs.ts';
import { localSigner } from '../../src/tuf/local-signer.ts';
import { newRepository, signChanges, signSnapshot, signTimestamp, type Change, type RepoState } from '../../src/tuf/builder.ts';
import type { Metadata, TimestampSigned } from '../../src/tuf/metadata.ts';
import type { Signer } from '../../src/tuf/signer.ts';
import type { RoleName } from '../../src/tuf/types.ts';
import { sha256Hex } from '../../src/tuf/verify.ts';
import type { FakeServer } from './fake-server.ts';

export const ecSigner = (): Signer => localSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);

export interface FakeRepo {
  readonly gun: string;
  readonly keys: { root: Signer; targets: Signer; snapshot: Signer; timestamp: Signer; extra: Map<string, Signer> };
  state: RepoState;
  timestamp: Metadata<TimestampSigned>;
  readonly roots: Metadata[];
}

export async function makeRepo(gun: string, now: Date): Promise<FakeRepo> {
  const rootPriv = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const root = localSigner(rootPriv, rootCertificateKey(createRootCertificate({ gun, privateKey: rootPriv, now })));
  const keys = { root, targets: ecSigner(), snapshot: ecSigner(), timestamp: ecSigner(), extra: new Map<string, Signer>() };
  const repo = await newRepository({ gun, now, rootKeys: [root], targetsKey: keys.targets, snapshotKey: keys.snapshot, timestampKey: keys.timestamp.publicKey, snapshot: 'client' });
  const state: RepoState = { root: repo.root, targets: new Map([['targets', repo.targets]]), snapshot: repo.snapshot! };
  const timestamp = await signTimestamp({ now, snapshotBytes: repo.snapshot!.bytes, signer: keys.timestamp });
  return { gun, keys, state, timestamp, roots: [repo.root] };
}

function signersOf(r: FakeRepo): (role: RoleName) => Signer[] {
  return () => [r.keys.root, r.keys.targets, r.keys.snapshot, ...r.keys.extra.values()];
}

/** Applies changes as a publisher would, then the server's new timestamp. */
export async function publishTo(r: FakeRepo, changes: Change[], now: Date, timestampNow: Date = now): Promise<void> {
  const out = await signChanges({ now, current: r.state, changes, snapshot: 'client', signers: signersOf(r) });
  r.state = out.state;
  if (out.files.has('root' as RoleName)) r.roots.push(out.state.root!);
  r.timestamp = await signTimestamp({ now: timestampNow, previous: r.timestamp, snapshotBytes: r.state.snapshot!.bytes, signer: r.keys.timestamp });
}

/** A new snapshot over the given files (exact bytes), and a timestamp over it. */
export async function resnapshot(r: FakeRepo, files: Map<string, Uint8Array>, now: Date): Promise<void> {
  const snapshot = await signSnapshot({ now, previous: r.state.snapshot, files, signers: [r.keys.snapshot] });
  r.state = { ...r.state, snapshot: snapshot };
  r.timestamp = await signTimestamp({ now, previous: r.timestamp, snapshotBytes: snapshot.bytes, signer: r.keys.timestamp });
}

/** Serves the repository's current files by name, by hash and (roots) by version. */
export function serve(fake: FakeServer, r: FakeRepo): void {
  const put = (role: string, m: Metadata) => {
    fake.put(r.gun, `${role}.json`, m.bytes);
    fake.put(r.gun, `${role}.${sha256Hex(m.bytes)}.json`, m.bytes);
  };
  for (const root of r.roots) {
    fake.put(r.gun, `${root.signed.version}.root.json`, root.bytes);
    fake.put(r.gun, `root.${sha256Hex(root.bytes)}.json`, root.bytes);
  }
  put('root', r.state.root!);
  for (const [role, m] of r.state.targets ?? []) put(role, m);
  put('snapshot', r.state.snapshot!);
  fake.put(r.gun, 'timestamp.json', r.timestamp.bytes);
}

/**
 * Test keys for the builder tests: plain ECDSA P-256 signers, root signers whose public key is a
 * notary-shaped self-signed `ecdsa-x509` certificate, and a verifier of a whole published state.
 */
import { generateKeyPairSync } from '../helpers/keys.ts';
import { encodePem } from '../../src/crypto/pem.ts';
import { createRootCertificate } from '../../src/crypto/x509.ts';
import { makePublicKey, publicKeyFromPrivate, type PublicKey } from '../../src/tuf/keys.ts';
import { localSigner } from '../../src/tuf/local-signer.ts';
import type { Signer } from '../../src/tuf/signer.ts';
import type { Metadata, TargetsSigned } from '../../src/tuf/metadata.ts';
import type { RepoState } from '../../src/tuf/edit.ts';
import { roleVerifier } from '../../src/tuf/sign.ts';
import { checkHashes, verifySignatures } from '../../src/tuf/verify.ts';
import { parentRole } from '../../src/tuf/roles.ts';
import type { RoleName } from '../../src/tuf/types.ts';

export function ecdsaSigner(): Signer {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return localSigner(privateKey);
}

export function rootSigner(gun: string, now: Date): Signer {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = createRootCertificate({ gun, privateKey, now });
  const cert = makePublicKey('ecdsa-x509', Buffer.from(encodePem({ type: 'CERTIFICATE', bytes: der }), 'utf8'));
  return localSigner(privateKey, cert);
}

export function publicOnly(): PublicKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return publicKeyFromPrivate(privateKey);
}

/** A signer lookup over a fixed set of signers, whatever role is asked for. */
export function allSigners(...signers: Signer[]): () => readonly Signer[] {
  return () => signers;
}

/**
 * Verifies a published state the way a client would: root by itself, targets and snapshot by root,
 * every reachable delegation by its parent, and every file's bytes against the snapshot. With
 * `only`, signatures are checked for those roles alone (a file signed before its delegation's keys
 * changed rightly fails until witnessed); hashes are always checked.
 */
export function verifyState(state: RepoState, only?: ReadonlySet<string>): void {
  const root = state.root;
  if (root === undefined) throw new Error('no root');
  const r = root.signed;
  const base = (name: string) => roleVerifier(name, r.keys, r.roles.get(name)!);
  const check = (name: string) => only === undefined || only.has(name);
  if (check('root')) verifySignatures(root, base('root'));
  const snapshot = state.snapshot;
  if (snapshot !== undefined) {
    if (check('snapshot')) verifySignatures(snapshot, base('snapshot'));
    checkHashes(root.bytes, 'root', snapshot.signed.meta.get('root')!);
  }
  const files = state.targets ?? new Map<string, Metadata<TargetsSigned>>();
  for (const [name, meta] of files) {
    const parent = parentRole(name as RoleName);
    let verifier = base('targets');
    if (parent !== undefined) {
      const p = files.get(parent);
      const entry = p?.signed.delegations.roles.find((x) => x.name === name);
      if (p === undefined || entry === undefined) continue; // unreachable: clients never fetch it
      verifier = roleVerifier(name, p.signed.delegations.keys, entry);
    }
    if (check(name)) verifySignatures(meta, verifier);
    if (snapshot !== undefined) {
      const fm = snapshot.signed.meta.get(name);
      if (fm === undefined) throw new Error(`snapshot does not list ${name}`);
      checkHashes(meta.bytes, name, fm);
    }
  }
}

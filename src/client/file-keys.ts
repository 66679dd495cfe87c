/**
 * `KeySource` over the on-disk key store (`<trust>/private/<canonical id>.key`, src/keystore).
 * Passphrases are asked through the store's retriever when a key is first used.
 */
import type { KeyFileStore } from '../keystore/file-store.ts';
import type { PublicKey } from '../tuf/keys.ts';
import type { Signer } from '../tuf/signer.ts';
import type { Gun, KeyId } from '../tuf/types.ts';
import type { KeySource } from './keys.ts';

export function fileKeySource(store: KeyFileStore): KeySource {
  return {
    heldKeyIds: () => Promise.resolve(new Set(store.list().keys.map((k) => k.keyId))),
    signer: (canonicalId: string): Promise<Signer> => store.signer(canonicalId),
    createKey: async (role: string, gun: Gun | undefined): Promise<Signer> => {
      const needsGun = role === 'targets' || role === 'snapshot' || role === 'timestamp';
      return (await store.generate(role, needsGun && gun !== undefined ? { gun } : {})).signer;
    },
    rootKeyIds: (): Promise<KeyId[]> => Promise.resolve(store.list().keys.filter((k) => k.role === 'root').map((k) => k.keyId)),
    rootCertificateKey: (canonicalId: string, gun: Gun, now: Date): Promise<PublicKey> => store.rootCertificateKey(canonicalId, gun, now),
  };
}

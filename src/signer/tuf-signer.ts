/**
 * A TUF `Signer` (src/tuf/signer.ts) backed by a `SigningService` key, local or remote: how the
 * trust server signs timestamp and snapshot metadata with keys it never sees.
 *
 * Contract: the signer lists the key under the ID computed from its public bytes; `sign` sends the
 * full canonical message and returns the service's raw signature and method. A reply naming
 * another method than the key type implies is refused (`SIGNING_FAILED`).
 */
import { makePublicKey } from '../tuf/keys.ts';
import type { SignatureMethod, SignatureValue, Signer } from '../tuf/signer.ts';
import { SignerError } from './errors.ts';
import type { SignerPublicKey, SigningService } from './service.ts';

const METHOD_OF: Readonly<Record<string, SignatureMethod>> = { ecdsa: 'ecdsa', ed25519: 'eddsa', rsa: 'rsapss' };

export function signingServiceSigner(service: SigningService, key: SignerPublicKey): Signer {
  const publicKey = makePublicKey(key.algorithm, key.publicKey);
  const expected = METHOD_OF[key.algorithm];
  return {
    keyId: publicKey.id,
    publicKey,
    async sign(message: Uint8Array): Promise<SignatureValue> {
      const s = await service.sign(publicKey.id, message);
      if (s.method !== expected) {
        throw new SignerError('SIGNING_FAILED', `signer answered with method ${s.method} for ${key.algorithm} key ${publicKey.id}`);
      }
      return { method: s.method, sig: s.signature };
    },
  };
}

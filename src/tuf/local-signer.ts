/**
 * A `Signer` over a private key held in this process (a decrypted key file, a test key).
 *
 * The signature method follows the key: `ecdsa` (raw r‖s over SHA-256), `rsapss` (SHA-256,
 * salt 32) or `eddsa`. When `publicKey` is given (for root: the `ecdsa-x509` certificate key) it
 * must hold the same public key as `privateKey`, and the signer signs under its ID; otherwise the
 * public key and ID are derived from the private key.
 */
import type { KeyObject } from 'node:crypto';
import { CryptoError, ecdsaSign, ed25519Sign, keyAlgorithm, rsaPssSign, spkiOf } from '../crypto/signatures.ts';
import { firstCertificate } from '../crypto/x509.ts';
import { ValidationError } from './errors.ts';
import { publicKeyFromPrivate } from './keys.ts';
import type { PublicKey } from './keys.ts';
import type { SignatureMethod, SignatureValue, Signer } from './signer.ts';

export function localSigner(privateKey: KeyObject, publicKey?: PublicKey): Signer {
  if (privateKey.type !== 'private') throw new ValidationError('INVALID_KEY', 'a local signer needs a private key');
  const derived = publicKeyFromPrivate(privateKey);
  const listed = publicKey ?? derived;
  if (publicKey !== undefined) requireSameKey(privateKey, derived, publicKey);
  const alg = keyAlgorithm(privateKey);
  const method: SignatureMethod = alg === 'ecdsa' ? 'ecdsa' : alg === 'rsa' ? 'rsapss' : 'eddsa';
  const signRaw = alg === 'ecdsa' ? ecdsaSign : alg === 'rsa' ? rsaPssSign : ed25519Sign;
  return {
    keyId: listed.id,
    publicKey: listed,
    sign(message: Uint8Array): Promise<SignatureValue> {
      try {
        return Promise.resolve({ method, sig: signRaw(privateKey, message) });
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    },
  };
}

/** Refuses a listed key (plain or certificate) whose public key is not `privateKey`'s. */
function requireSameKey(privateKey: KeyObject, derived: PublicKey, listed: PublicKey): void {
  let spki: Uint8Array;
  if (listed.keyType === 'ecdsa-x509' || listed.keyType === 'rsa-x509') {
    try {
      const certKey = firstCertificate(Buffer.from(listed.publicBytes).toString('utf8')).publicKey;
      if (certKey === undefined) throw new CryptoError('UNSUPPORTED_KEY', 'certificate key algorithm is not supported');
      spki = spkiOf(certKey);
    } catch (cause) {
      throw new ValidationError('INVALID_KEY', `key ${listed.id} holds no usable certificate`, '', { cause });
    }
    if (listed.keyType !== `${derived.keyType}-x509`) throw mismatch(listed);
    if (Buffer.compare(spki, spkiOf(privateKey)) !== 0) throw mismatch(listed);
    return;
  }
  if (listed.id !== derived.id) throw mismatch(listed);
}

function mismatch(listed: PublicKey): ValidationError {
  return new ValidationError('INVALID_KEY', `public key ${listed.id} does not match the private key`);
}

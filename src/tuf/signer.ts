/**
 * Key custody as a capability: the core asks a `Signer` for a signature and never sees private key
 * bytes. File keys, PKCS#11 tokens and the remote gRPC signer all implement this one interface.
 */
import type { PublicKey } from './keys.ts';
import type { KeyId } from './types.ts';

/** Signature methods notary writes (`rsapkcs1v15` is verify-only and never produced). */
export type SignatureMethod = 'ecdsa' | 'rsapss' | 'eddsa';

export interface SignatureValue {
  readonly method: SignatureMethod;
  /** Raw signature bytes: r‖s for ECDSA, 64 bytes for Ed25519, modulus-length for RSA-PSS. */
  readonly sig: Uint8Array;
}

export interface Signer {
  /** The ID under which a role lists this key: the certificate key ID for root keys. */
  readonly keyId: KeyId;
  /** The key as it appears in metadata (for root: the `ecdsa-x509` certificate key). */
  readonly publicKey: PublicKey;
  /** Signs the full canonical message (never a digest). */
  sign(message: Uint8Array): Promise<SignatureValue>;
}

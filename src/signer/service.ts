/**
 * The signing service as the rest of Vouch sees it: notary-signer's four operations, served either
 * in-process (`LocalSigningService`, the trust server's embedded default) or over gRPC
 * (`RemoteSigningService`, talking to `vouch signer` or notary-signer). Callers cannot tell the
 * two apart; both raise `SignerError` with the same codes.
 */
import type { SignatureMethod } from '../tuf/signer.ts';
import type { KeyId } from '../tuf/types.ts';

/** Key types the signer can create (docs/formats.md §8.1; RSA is never created). */
export const CREATABLE_ALGORITHMS = ['ecdsa', 'ed25519'] as const;
export type CreatableAlgorithm = (typeof CREATABLE_ALGORITHMS)[number];

export interface CreateKeyRequest {
  /** Key type: `ecdsa` or `ed25519`. */
  readonly algorithm: string;
  readonly gun: string;
  readonly role: string;
}

export interface SignerPublicKey {
  readonly keyId: KeyId;
  /** Key type (`ecdsa`, `ed25519`). */
  readonly algorithm: string;
  /** DER SPKI for ecdsa, 32 raw bytes for ed25519. */
  readonly publicKey: Uint8Array;
}

export interface SignerKeyInfo extends SignerPublicKey {
  readonly role: string;
}

export interface SignerSignature {
  readonly keyId: KeyId;
  /** Key type of the signing key. */
  readonly keyAlgorithm: string;
  /** Signature method: `ecdsa` (raw r‖s) or `eddsa`. */
  readonly method: SignatureMethod;
  readonly signature: Uint8Array;
}

export interface SigningService {
  /** An unused key for the gun/role/algorithm if one exists, else a new one. */
  createKey(req: CreateKeyRequest): Promise<SignerPublicKey>;
  getKeyInfo(keyId: string): Promise<SignerKeyInfo>;
  /** Signs the full canonical message (never a digest); marks the key used. */
  sign(keyId: string, content: Uint8Array): Promise<SignerSignature>;
  /** Soft-deletes; deleting an unknown key succeeds, as in notary. */
  deleteKey(keyId: string): Promise<void>;
  close(): Promise<void>;
}

export function isCreatableAlgorithm(a: string): a is CreatableAlgorithm {
  return (CREATABLE_ALGORITHMS as readonly string[]).includes(a);
}

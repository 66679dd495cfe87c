/**
 * What the client needs from a key store, as a small port: which private keys are held (by
 * canonical key ID), a `Signer` for one of them, and new keys. The real key store (src/keystore)
 * and test doubles implement it; passphrase prompts happen inside `signer()`/`createKey()`.
 *
 * This module also maps the keys a role lists to the caller's signers: a root role lists
 * `ecdsa-x509` certificate keys, whose private halves are stored under the canonical ID of the
 * certificate's public key (docs/formats.md §3.3). Signers are created lazily, so a passphrase is
 * asked for only when a role is actually signed.
 */
import { canonicalKeyId, type PublicKey } from '../tuf/keys.ts';
import type { Signer, SignatureValue } from '../tuf/signer.ts';
import type { Gun, KeyId } from '../tuf/types.ts';

export interface KeySource {
  /** Canonical IDs of every private key available (files, tokens). */
  heldKeyIds(): Promise<ReadonlySet<string>>;
  /**
   * A signer for the private key with this canonical ID; `role` names the key for passphrase
   * prompts. Its `publicKey` is the plain key (`ecdsa`, `rsa`, `ed25519`). Throws when absent.
   */
  signer(canonicalId: string, role: string): Promise<Signer>;
  /** Generates and stores a new ECDSA P-256 key for `role` (with `gun` for targets/snapshot). */
  createKey(role: string, gun: Gun | undefined): Promise<Signer>;
  /** Canonical IDs of the root keys held, the preferred one (hardware first) first. */
  rootKeyIds(): Promise<KeyId[]>;
  /** A new self-signed root certificate key (`ecdsa-x509`, CN = GUN) for a held root key. */
  rootCertificateKey(canonicalId: string, gun: Gun, now: Date): Promise<PublicKey>;
  /**
   * Optional: start unlocking these keys in the background where that needs no prompt (a hint,
   * so key derivations overlap each other and the network; never throws, never asks).
   */
  prefetch?(canonicalIds: readonly string[]): void;
}

function tryCanonical(key: PublicKey): string | undefined {
  try {
    return canonicalKeyId(key);
  } catch {
    return undefined; // a certificate that does not parse has no private half we could hold
  }
}

/** A signer listed under `key` (plain or certificate) that fetches the private key on first use. */
function lazySigner(source: KeySource, key: PublicKey, canonicalId: string, role: string): Signer {
  let inner: Promise<Signer> | undefined;
  return {
    keyId: key.id,
    publicKey: key,
    async sign(message: Uint8Array): Promise<SignatureValue> {
      inner ??= source.signer(canonicalId, role);
      return (await inner).sign(message);
    },
  };
}

/** Signers for those of `keys` whose private halves `held` contains, listed under each key's ID. */
export function signersForKeys(source: KeySource, held: ReadonlySet<string>, keys: Iterable<PublicKey>, role: string): Signer[] {
  const out: Signer[] = [];
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key.id)) continue;
    seen.add(key.id);
    const canonical = tryCanonical(key);
    if (canonical !== undefined && held.has(canonical)) out.push(lazySigner(source, key, canonical, role));
  }
  return out;
}

/** True when the caller holds the private half of `key`. */
export function holdsKey(held: ReadonlySet<string>, key: PublicKey): boolean {
  const canonical = tryCanonical(key);
  return canonical !== undefined && held.has(canonical);
}

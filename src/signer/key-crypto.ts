/**
 * Opening and sealing `private_keys` rows: JWE under the alias passphrase around notary's private
 * bytes (SEC1 DER for ecdsa, 96 bytes for ed25519), checked against the row's public column and
 * key ID.
 *
 * Contract: `openStoredKey` returns a private `KeyObject` only if the row decrypts, parses, its
 * public half equals the `public` column and the key ID recomputed from that column equals
 * `key_id`; otherwise `SignerError` (`PASSPHRASE_UNAVAILABLE` or `KEY_UNDECRYPTABLE`) naming the key
 * and alias. Plaintext key bytes are zeroed after use and never leave this module.
 */
import type { KeyObject } from 'node:crypto';

import { decryptPbes2JweAsync, encryptPbes2JweAsync } from '../crypto/jwe.ts';
import { notaryPublicBytes, privateKeyFromNotaryBytes, privateKeyToNotaryBytes } from '../crypto/private-keys.ts';
import type { NotaryKeyType } from '../crypto/private-keys.ts';
import { computeKeyId } from '../tuf/keys.ts';
import type { KeyId } from '../tuf/types.ts';
import { SignerError, passphraseEnvName, passphraseUnavailable } from './errors.ts';
import type { StoredKey } from './key-store.ts';

/** Looks up the passphrase of an alias; undefined when it is not configured. */
export type PassphraseLookup = (alias: string) => string | undefined;

/** Reads `NOTARY_SIGNER_<ALIAS>` from an environment snapshot; empty values count as unset. */
export function envPassphrases(env: Readonly<Record<string, string | undefined>>): PassphraseLookup {
  const snapshot = { ...env };
  return (alias) => {
    const v = snapshot[passphraseEnvName(alias)];
    return v === undefined || v === '' ? undefined : v;
  };
}

export interface OpenedKey {
  readonly keyId: KeyId;
  readonly algorithm: string;
  readonly role: string;
  readonly gun: string;
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

const KEY_TYPES: readonly string[] = ['ecdsa', 'ed25519', 'rsa'];

function undecryptable(row: StoredKey, why: string, cause?: unknown): SignerError {
  return new SignerError('KEY_UNDECRYPTABLE',
    `key ${row.keyId} (passphrase alias "${row.passphraseAlias}") cannot be used: ${why}`, { cause });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

export async function openStoredKey(row: StoredKey, passphrases: PassphraseLookup): Promise<OpenedKey> {
  if (!KEY_TYPES.includes(row.algorithm)) throw undecryptable(row, `unsupported algorithm ${JSON.stringify(row.algorithm)}`);
  const passphrase = passphrases(row.passphraseAlias);
  if (passphrase === undefined) throw passphraseUnavailable(row.passphraseAlias, row.keyId);
  let plain: Uint8Array;
  try {
    plain = await decryptPbes2JweAsync(row.jwe, passphrase);
  } catch (e) {
    throw undecryptable(row, e instanceof Error ? e.message : String(e), e);
  }
  let privateKey: KeyObject;
  try {
    privateKey = privateKeyFromNotaryBytes(row.algorithm as NotaryKeyType, plain);
  } catch (e) {
    throw undecryptable(row, `the decrypted private key is invalid (${e instanceof Error ? e.message : String(e)})`, e);
  } finally {
    plain.fill(0);
  }
  if (!sameBytes(notaryPublicBytes(privateKey), row.publicKey)) throw undecryptable(row, 'the private key does not match the public column');
  const keyId = computeKeyId(row.algorithm, row.publicKey);
  if (keyId !== row.keyId) throw undecryptable(row, `the public column has key ID ${keyId}`);
  return { keyId, algorithm: row.algorithm, role: row.role, gun: row.gun, publicKey: row.publicKey, privateKey };
}

/**
 * The JWE text of a private key under `passphrase`. The key derivation runs off the event loop:
 * a server's first publishes each create timestamp (and snapshot) keys, many at once.
 */
export async function sealPrivateKey(privateKey: KeyObject, passphrase: string): Promise<string> {
  const { bytes } = privateKeyToNotaryBytes(privateKey);
  try {
    return await encryptPbes2JweAsync(bytes, passphrase);
  } finally {
    bytes.fill(0);
  }
}

/** Decrypts with the row's alias and re-encrypts under another passphrase (for rekey). */
export async function resealStoredKey(row: StoredKey, passphrases: PassphraseLookup, toPassphrase: string): Promise<string> {
  const opened = await openStoredKey(row, passphrases);
  return sealPrivateKey(opened.privateKey, toPassphrase);
}

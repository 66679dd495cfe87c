/**
 * One private key file as notary 0.4+ keeps it (docs/formats.md §10.2): `private/<id>.key`,
 * a PEM block (`ENCRYPTED PRIVATE KEY`, or a readable legacy type) whose `role` and `gun` headers
 * say what the key is for, named by the key's canonical ID (§3.3).
 *
 * Contract: `parseKeyFile` accepts only private-key PEM and reports anything else as
 * `INVALID_KEY_FILE` with the file named; `storedHeaders` applies notary's rule for which roles
 * keep a GUN; `keyIdOfPrivate` is the ID notary files a key under (the plain public key's ID, also
 * for root keys that metadata lists by certificate).
 */
import type { KeyObject } from 'node:crypto';
import { VouchError } from '../errors.ts';
import { decodePemBlocks, type PemBlock } from '../crypto/pem.ts';
import { ENCRYPTED_PRIVATE_KEY, PRIVATE_KEY } from '../crypto/private-key-pem.ts';
import { isLegacyPrivateKeyPem } from '../crypto/legacy-pem.ts';
import { publicKeyFromPrivate } from '../tuf/keys.ts';
import { isBaseRole } from '../tuf/roles.ts';
import { parseGun, type KeyId } from '../tuf/types.ts';
import { KeyStoreError } from './errors.ts';

export const PRIVATE_DIR = 'private';
export const KEY_EXTENSION = '.key';
/** A 16384-bit RSA key in encrypted PKCS#8 is about 13 KB of PEM; anything far larger is not a key. */
export const MAX_KEY_FILE_BYTES = 256 * 1024;
export const KEY_ID_PATTERN = /^[0-9a-f]{64}$/;
const KEY_FILE_NAME = /^([0-9a-f]{64})\.key$/;

export interface ParsedKeyFile {
  readonly block: PemBlock;
  /** The `role` header ('' when absent, as notary lists it). */
  readonly role: string;
  /** The `gun` header ('' when absent). */
  readonly gun: string;
}

export function isPrivateKeyBlock(block: PemBlock): boolean {
  return block.type === ENCRYPTED_PRIVATE_KEY || block.type === PRIVATE_KEY || isLegacyPrivateKeyPem(block);
}

/** The key ID a file name `<id>.key` stands for, or undefined for any other name. */
export function keyIdFromFileName(name: string): string | undefined {
  return KEY_FILE_NAME.exec(name)?.[1];
}

/** Parses key file text; `where` names the file in errors. Only the first PEM block counts, as in Go. */
export function parseKeyFile(text: string, where: string): ParsedKeyFile {
  let blocks: PemBlock[];
  try {
    blocks = decodePemBlocks(text);
  } catch (e) {
    throw new KeyStoreError('INVALID_KEY_FILE', `${where}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const block = blocks[0];
  if (block === undefined) throw new KeyStoreError('INVALID_KEY_FILE', `${where}: PEM block is empty`);
  if (!isPrivateKeyBlock(block)) {
    throw new KeyStoreError('INVALID_KEY_FILE', `${where}: unknown key format ${JSON.stringify(block.type)}`);
  }
  return { block, role: block.headers['role'] ?? '', gun: block.headers['gun'] ?? '' };
}

/** The ID notary files `key` under: that of its plain public key (`ecdsa`, `rsa` or `ed25519`). */
export function keyIdOfPrivate(key: KeyObject): KeyId {
  return publicKeyFromPrivate(key).id;
}

/** Refuses role names that cannot sit in a PEM header or that no notary client would use. */
export function checkRole(role: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$/.test(role) || role.includes('//') || role.endsWith('/')) {
    throw new KeyStoreError('INVALID_ROLE', `invalid role ${JSON.stringify(role)}: use letters, digits, ".", "_", "-" and "/"`);
  }
}

/**
 * notary's `AddKey` rule: only `targets`, `snapshot` and `timestamp` keys keep a GUN; root keys,
 * delegation keys and keys of other names (docker signers) are shared across repositories.
 */
export function storedHeaders(role: string, gun: string | undefined): { role: string; gun: string } {
  checkRole(role);
  const keepsGun = isBaseRole(role) && role !== 'root';
  if (!keepsGun || gun === undefined || gun === '') return { role, gun: '' };
  try {
    parseGun(gun);
  } catch (e) {
    throw new KeyStoreError('INVALID_ROLE', e instanceof VouchError ? e.message : `invalid GUN ${JSON.stringify(gun)}`, { cause: e });
  }
  return { role, gun };
}

/** Checks a user-supplied key ID with notary's message. */
export function checkKeyId(keyId: string): KeyId {
  if (!KEY_ID_PATTERN.test(keyId)) throw new KeyStoreError('INVALID_KEY_ID', `invalid key ID provided: ${keyId}`);
  return keyId as KeyId;
}

/**
 * The PKCS#11 key store: keys on a hardware token (a Yubikey, or any token a PKCS#11 module
 * exposes), beside the file store (docs/formats.md §11, docs/compatibility.md F).
 *
 * Contract:
 * - Private keys never leave the token: `getSigner` returns a `TokenSigner`, `exportKey` always
 *   refuses (EXPORT_REFUSED). Keys are ECDSA P-256, for any role (notary allowed root only).
 * - `createKey` with a `BackupWriter` (notary's flow for root keys): the key is generated on this
 *   host, put on the token, then written encrypted by the backup writer; if that backup fails the
 *   key is removed from the token again (BACKUP_FAILED, notary's `Failed to backup private key
 *   to: …`). Without one, the key is generated on the token and exists nowhere else — except on
 *   Yubikeys, which always take notary's host-generated import.
 * - `importKey` puts an existing private key on the token (a root backup onto a second device);
 *   a key already there is left as it is (`added: false`) and not backed up again.
 * - Listing needs no PIN; signing logs in as user, writing as user (or SO with the PIV
 *   management key on Yubikeys, as notary does).
 * - Every error is a `Pkcs11Error`. A failed write leaves the token as it was (see write.ts) and
 *   never touches the file store.
 */
import type { KeyObject } from 'node:crypto';
import { generateKey, publicKeySpki } from '../../crypto/private-keys.ts';
import { keyAlgorithm } from '../../crypto/signatures.ts';
import { parseCertificate } from '../../crypto/x509.ts';
import { computeKeyId } from '../../tuf/keys.ts';
import type { PublicKey } from '../../tuf/keys.ts';
import type { KeyId } from '../../tuf/types.ts';
import { Pkcs11Error, backupFailed, keyNotFound } from './errors.ts';
import { login, logout } from './login.ts';
import type { PinCache, PinSettings } from './login.ts';
import { ecPointToSpki, isRoleLike, isVouchObjectId, parseVouchLabel, vouchObjectId } from './objects.ts';
import type { ObjectScheme } from './objects.ts';
import { CK } from './port.ts';
import type { PinUser } from './port.ts';
import { withToken } from './session.ts';
import type { ModuleTarget, OpenToken } from './session.ts';
import { tokenSigner } from './signer.ts';
import type { SigningAccess, TokenKeyRef, TokenSigner, TouchSettings } from './signer.ts';
import { generateOnToken, writeHostKey } from './write.ts';
import type { KeyMeta } from './write.ts';

/** Writes the encrypted file-store copy of a key put on a token (notary's backup). */
export interface BackupWriter {
  /**
   * Stores `privateKey` encrypted (notary's `private/<keyId>.key`) and resolves with where it
   * went. On failure it must leave nothing behind and reject.
   */
  backup(privateKey: KeyObject, info: { readonly keyId: KeyId } & KeyMeta): Promise<string>;
}

export interface TokenKeyInfo extends TokenKeyRef {
  readonly role: string;
  readonly gun?: string;
  /** `yubikey` (notary's location name) or `pkcs11:<token label>`. */
  readonly location: string;
  readonly scheme: ObjectScheme;
}

export interface Pkcs11StoreOptions {
  readonly module: ModuleTarget;
  readonly pins?: PinSettings;
  readonly touch?: TouchSettings;
  /** Object layout; `auto` (default) = `yubikey` on Yubikeys, `vouch` elsewhere. */
  readonly scheme?: ObjectScheme | 'auto';
  /** Who logs in to write: default SO on Yubikeys (notary), user elsewhere. */
  readonly writeUser?: PinUser;
  /** Yubikey key mode (CKA_VENDOR_DEFINED) for new keys: default notary's 3 (touch + PIN once); null omits it. */
  readonly yubikeyKeyMode?: number | null;
  readonly clock?: () => Date;
}

export interface AddedKey {
  readonly info: TokenKeyInfo;
  /** False when the key was on the token already (nothing was written or backed up). */
  readonly added: boolean;
  /** Where the backup copy went, when one was written. */
  readonly backup?: string;
}

export class Pkcs11KeyStore {
  private readonly pinCache: PinCache = new Map();
  private readonly access: SigningAccess;

  constructor(private readonly options: Pkcs11StoreOptions) {
    this.access = {
      touch: options.touch ?? {},
      withUserSession: (action, op) => this.run(false, action, async (t) => {
        await this.login(t, 'user');
        return op(t);
      }),
    };
  }

  get modulePath(): string {
    return this.options.module.path;
  }

  private run<T>(readWrite: boolean, action: string, op: (t: OpenToken) => Promise<T>): Promise<T> {
    return withToken(this.options.module, readWrite, action, op);
  }

  private async login(t: OpenToken, user: PinUser): Promise<void> {
    await login(t, user, this.options.pins ?? {}, this.pinCache);
  }

  private scheme(t: OpenToken): ObjectScheme {
    const s = this.options.scheme ?? 'auto';
    return s === 'auto' ? (t.isYubikey ? 'yubikey' : 'vouch') : s;
  }

  private writeUser(t: OpenToken): PinUser {
    return this.options.writeUser ?? (t.isYubikey ? 'so' : 'user');
  }

  private now(): Date {
    return this.options.clock?.() ?? new Date();
  }

  /** Where keys on the selected token are listed: `yubikey` or `pkcs11:<label>`. Fails if there is no token. */
  location(): Promise<string> {
    return this.run(false, 'read the token', (t) => Promise.resolve(locationOf(t)));
  }

  /** The keys on the token. */
  listKeys(): Promise<TokenKeyInfo[]> {
    return this.run(false, 'list keys', (t) => Promise.resolve(listOn(t, this.scheme(t))));
  }

  /** The key `keyId` (canonical ID), or undefined. */
  async findKey(keyId: string): Promise<TokenKeyInfo | undefined> {
    return (await this.listKeys()).find((k) => k.keyId === keyId);
  }

  /** A Signer for key `keyId`; `listed` is the key as metadata lists it (root: `ecdsa-x509`). */
  async getSigner(keyId: string, listed?: PublicKey): Promise<TokenSigner> {
    const info = await this.findKey(keyId);
    if (info === undefined) throw keyNotFound(keyId);
    return tokenSigner(this.access, info, info.location, listed);
  }

  /** A Signer for a key already listed. */
  signerFor(info: TokenKeyInfo, listed?: PublicKey): TokenSigner {
    return tokenSigner(this.access, info, info.location, listed);
  }

  /** Creates a key for `meta.role` on the token (see the module contract for `backup`). */
  async createKey(meta: KeyMeta, backup?: BackupWriter): Promise<AddedKey> {
    checkMeta(meta);
    const onYubikey = await this.run(false, 'read the token', (t) => Promise.resolve(this.scheme(t) === 'yubikey'));
    if (backup !== undefined || onYubikey) return this.importKey(generateKey('ecdsa'), meta, backup);
    const info = await this.run(true, 'generate a key', async (t) => {
      await this.login(t, this.writeUser(t));
      try {
        const written = generateOnToken(t, meta);
        return { ...written, ...meta, location: locationOf(t), scheme: 'vouch' as const };
      } finally {
        logout(t);
      }
    });
    return { info, added: true };
  }

  /** Puts `privateKey` (ECDSA P-256) on the token; with `backup`, also writes the encrypted copy. */
  async importKey(privateKey: KeyObject, meta: KeyMeta, backup?: BackupWriter): Promise<AddedKey> {
    checkMeta(meta);
    const spki = requireP256(privateKey);
    const now = this.now();
    const result = await this.run(true, 'store a key', async (t) => {
      await this.login(t, this.writeUser(t));
      try {
        const scheme = this.scheme(t);
        const existing = listOn(t, scheme).find((k) => k.keyId === computeKeyId('ecdsa', spki));
        if (existing !== undefined) return { info: existing, added: false };
        const written = writeHostKey(t, scheme, privateKey, spki, meta, now, this.options.yubikeyKeyMode);
        return { info: { ...written, ...meta, location: locationOf(t), scheme }, added: true };
      } finally {
        logout(t);
      }
    });
    if (!result.added || backup === undefined) return result;
    try {
      const where = await backup.backup(privateKey, { keyId: result.info.keyId, ...meta });
      return { ...result, backup: where };
    } catch (e) {
      await this.undoAfterFailedBackup(result.info, e);
      throw backupFailed(e);
    }
  }

  private async undoAfterFailedBackup(info: TokenKeyInfo, backupError: unknown): Promise<void> {
    try {
      await this.removeKey(info.keyId);
    } catch (removeError) {
      const detail = backupError instanceof Error ? backupError.message : String(backupError);
      const why = removeError instanceof Error ? removeError.message : String(removeError);
      throw new Pkcs11Error('BACKUP_FAILED',
        `Failed to backup private key to: ${detail}; the key ${info.keyId} is still on ${info.location} (removing it failed: ${why})`,
        { cause: backupError });
    }
  }

  /** Removes key `keyId` from the token (only the token copy; the file store is not touched). */
  removeKey(keyId: string): Promise<TokenKeyInfo> {
    return this.run(true, 'remove a key', async (t) => {
      await this.login(t, this.writeUser(t));
      try {
        const info = listOn(t, this.scheme(t)).find((k) => k.keyId === keyId);
        if (info === undefined) throw keyNotFound(keyId);
        destroyKeyObjects(t, info);
        return info;
      } finally {
        logout(t);
      }
    });
  }

  /** Always refuses: a token key's private half cannot leave the token. */
  async exportKey(keyId: string): Promise<never> {
    const info = await this.findKey(keyId);
    if (info === undefined) throw keyNotFound(keyId);
    throw new Pkcs11Error('EXPORT_REFUSED',
      `key ${keyId} is stored on ${info.location} and cannot be exported; export its backup copy from the file store instead, if one was made`);
  }
}

function checkMeta(meta: KeyMeta): void {
  if (!isRoleLike(meta.role)) throw new Pkcs11Error('INVALID_CONFIG', `invalid role for a token key: ${meta.role}`);
  if (meta.gun !== undefined && (meta.gun === '' || meta.gun.length > 255 || [...meta.gun].some((c) => c.charCodeAt(0) < 0x20))) {
    throw new Pkcs11Error('INVALID_CONFIG', `invalid GUN for a token key: ${JSON.stringify(meta.gun)}`);
  }
}

function requireP256(key: KeyObject): Uint8Array {
  if (key.type !== 'private' || keyAlgorithm(key) !== 'ecdsa' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Pkcs11Error('UNSUPPORTED_KEY', 'tokens hold ECDSA P-256 keys only');
  }
  return publicKeySpki(key);
}

export function locationOf(t: OpenToken): string {
  return t.isYubikey ? 'yubikey' : `pkcs11:${t.info.label}`;
}

/** Reads the listed keys of `scheme` from the open session; unreadable or foreign objects are skipped. */
function listOn(t: OpenToken, scheme: ObjectScheme): TokenKeyInfo[] {
  return scheme === 'yubikey' ? listYubikey(t) : listVouch(t);
}

function listVouch(t: OpenToken): TokenKeyInfo[] {
  const out: TokenKeyInfo[] = [];
  const found = t.port.findObjects(t.session, [
    { type: CK.CKA_CLASS, value: CK.CKO_PUBLIC_KEY }, { type: CK.CKA_TOKEN, value: true },
  ]);
  for (const h of found) {
    try {
      const [labelBytes, id] = t.port.getAttributes(t.session, h, [CK.CKA_LABEL, CK.CKA_ID]);
      const label = parseVouchLabel(labelBytes?.toString('utf8') ?? '');
      if (label === undefined || id === undefined || !isVouchObjectId(id)) continue;
      if (Buffer.compare(id, vouchObjectId(label.keyId)) !== 0) continue;
      const [point] = t.port.getAttributes(t.session, h, [CK.CKA_EC_POINT]);
      const spki = ecPointToSpki(point ?? new Uint8Array());
      // A label that does not name the key it is on is not one Vouch wrote: skip it.
      if (computeKeyId('ecdsa', spki) !== label.keyId) continue;
      out.push({
        keyId: label.keyId, objectId: new Uint8Array(id), spki, role: label.role,
        ...(label.gun !== undefined ? { gun: label.gun } : {}), location: locationOf(t), scheme: 'vouch',
      });
    } catch {
      // Objects of other applications may lack these attributes.
    }
  }
  return out;
}

function listYubikey(t: OpenToken): TokenKeyInfo[] {
  const out: TokenKeyInfo[] = [];
  const found = t.port.findObjects(t.session, [
    { type: CK.CKA_CLASS, value: CK.CKO_CERTIFICATE }, { type: CK.CKA_TOKEN, value: true },
  ]);
  for (const h of found) {
    try {
      const [id, value] = t.port.getAttributes(t.session, h, [CK.CKA_ID, CK.CKA_VALUE]);
      if (id === undefined || value === undefined) continue;
      const cert = parseCertificate(value);
      // notary keeps only certificates whose CN is a role (attestation certificates are not).
      if (!isRoleLike(cert.commonName) || cert.publicKeyAlgorithm !== 'ecdsa') continue;
      const spki = cert.spki;
      if (Buffer.compare(ecPointToSpki(spkiPoint(spki)), spki) !== 0) continue;
      out.push({
        keyId: computeKeyId('ecdsa', spki), objectId: new Uint8Array(id), spki, role: cert.commonName,
        location: locationOf(t), scheme: 'yubikey',
      });
    } catch {
      continue;
    }
  }
  return out;
}

/** The bare point of a P-256 SPKI (its last 65 bytes), to check the key is P-256. */
function spkiPoint(spki: Uint8Array): Uint8Array {
  return spki.subarray(spki.length - 65);
}

/** Deletes a key's objects, the listed one first so that a cut-short removal hides the key. */
function destroyKeyObjects(t: OpenToken, info: TokenKeyInfo): void {
  const objects = t.port.findObjects(t.session, [{ type: CK.CKA_ID, value: Buffer.from(info.objectId) }]);
  const listedClass = info.scheme === 'yubikey' ? CK.CKO_CERTIFICATE : CK.CKO_PUBLIC_KEY;
  const classOf = (h: Buffer): number => t.port.getAttributes(t.session, h, [CK.CKA_CLASS])[0]?.readUInt32LE(0) ?? -1;
  const ordered = [...objects].sort((a, b) => Number(classOf(b) === listedClass) - Number(classOf(a) === listedClass));
  for (const [i, h] of ordered.entries()) {
    try {
      t.port.destroyObject(t.session, h);
    } catch (e) {
      // notary removes only the certificate on a Yubikey; a PIV key that cannot be deleted stays unlisted.
      if (i === 0 || info.scheme !== 'yubikey') throw e;
    }
  }
}

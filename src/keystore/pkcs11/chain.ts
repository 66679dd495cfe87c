/**
 * The key stores in notary's order: the token first, then the files (docs/formats.md §11,
 * docs/compatibility.md F3). Its methods have the shape of the client's `KeySource` port
 * (src/client/keys.ts), so the CLI can hand it to the client as it is.
 *
 * Contract:
 * - Signing prefers the token: a key held on both is used from the token.
 * - New keys for the token roles (default: root only, as notary; `pkcs11.roles` adds others) go
 *   on the token when one is present. A root key gets notary's encrypted backup in the file
 *   store (removed from the token again if the backup fails); keys of other roles are generated
 *   on the token and exist nowhere else. Other roles, or no token: the file store.
 * - A token that is absent is no error when the module was only found on notary's default
 *   Yubikey paths (no Yubikey plugged in); with a module configured explicitly (`required`), a
 *   missing or failing token is an error, so nothing is silently written to files instead.
 * - `listKeys` merges both stores in the file store's `KeyInfo` shape, location `yubikey` or
 *   `pkcs11:<label>` for token keys.
 */
import type { KeyFileStore, KeyInfo } from '../file-store.ts';
import { hasCode } from '../../errors.ts';
import { rootCertificateKey } from '../../tuf/certs.ts';
import { decodeFirstPem } from '../../crypto/pem.ts';
import type { PublicKey } from '../../tuf/keys.ts';
import type { Signer } from '../../tuf/signer.ts';
import type { KeyId } from '../../tuf/types.ts';
import { Pkcs11Error } from './errors.ts';
import { fileStoreBackupWriter, keepsGun } from './file-store-link.ts';
import type { Pkcs11KeyStore, TokenKeyInfo } from './store.ts';

export interface TokenFirstOptions {
  /** Roles whose new keys go on the token; default `['root']`. */
  readonly tokenRoles?: readonly string[];
  /** The module was configured explicitly: an unusable token is an error, not "no token". */
  readonly required?: boolean;
}

/** Codes that mean "no token here" for an auto-discovered Yubikey module. */
const ABSENT = ['TOKEN_NOT_FOUND', 'MODULE_LOAD_FAILED', 'NO_MODULE'];

export class TokenFirstKeys {
  private cached: Promise<TokenKeyInfo[] | undefined> | undefined;

  constructor(readonly files: KeyFileStore, readonly token: Pkcs11KeyStore | undefined,
    private readonly options: TokenFirstOptions = {}) {}

  /** The token's keys, or undefined when there is no usable token (and none is required). */
  tokenKeys(): Promise<TokenKeyInfo[] | undefined> {
    const token = this.token;
    if (token === undefined) return Promise.resolve(undefined);
    this.cached ??= token.listKeys().catch((e: unknown) => {
      this.cached = undefined;
      if (this.options.required !== true && ABSENT.some((c) => hasCode(e, c))) return undefined;
      throw e;
    });
    return this.cached;
  }

  private async tokenKey(canonicalId: string): Promise<TokenKeyInfo | undefined> {
    return (await this.tokenKeys())?.find((k) => k.keyId === canonicalId);
  }

  async heldKeyIds(): Promise<ReadonlySet<string>> {
    const ids = new Set<string>(this.files.list().keys.map((k) => k.keyId));
    for (const k of (await this.tokenKeys()) ?? []) ids.add(k.keyId);
    return ids;
  }

  /**
   * Starts unlocking file keys without prompting (`KeyFileStore.prefetch`). Skipped when a token
   * is configured: a key may live on both, and the token is used first.
   */
  prefetch(canonicalIds: readonly string[]): void {
    if (this.token === undefined) this.files.prefetch(canonicalIds);
  }

  async signer(canonicalId: string, _role?: string): Promise<Signer> {
    const onToken = await this.tokenKey(canonicalId);
    if (onToken !== undefined && this.token !== undefined) return this.token.signerFor(onToken);
    return this.files.signer(canonicalId);
  }

  async createKey(role: string, gun: string | undefined): Promise<Signer> {
    const token = this.token;
    const toToken = token !== undefined && (this.options.tokenRoles ?? ['root']).includes(role) && (await this.tokenKeys()) !== undefined;
    if (!toToken) {
      return (await this.files.generate(role, gun !== undefined && keepsGun(role) ? { gun } : {})).signer;
    }
    const meta = { role, ...(gun !== undefined && keepsGun(role) ? { gun } : {}) };
    const added = await token.createKey(meta, role === 'root' ? fileStoreBackupWriter(this.files) : undefined);
    this.cached = undefined;
    return token.signerFor(added.info);
  }

  /** Root keys, token keys first (notary's `init` picks the hardware root first). */
  async rootKeyIds(): Promise<KeyId[]> {
    const ids: KeyId[] = ((await this.tokenKeys()) ?? []).filter((k) => k.role === 'root').map((k) => k.keyId);
    for (const k of this.files.list().keys) if (k.role === 'root' && !ids.includes(k.keyId)) ids.push(k.keyId);
    return ids;
  }

  async rootCertificateKey(canonicalId: string, gun: string, now: Date): Promise<PublicKey> {
    const onToken = await this.tokenKey(canonicalId);
    if (onToken === undefined || this.token === undefined) return this.files.rootCertificateKey(canonicalId, gun, now);
    const pem = await this.token.signerFor(onToken).createCertificate(gun, now);
    return rootCertificateKey(decodeFirstPem(pem).bytes);
  }

  /** Both stores' keys; a key held in both is listed once per location, as notary lists it. */
  async listKeys(): Promise<KeyInfo[]> {
    const onToken: KeyInfo[] = ((await this.tokenKeys()) ?? []).map((k) => ({
      keyId: k.keyId, role: k.role, gun: k.gun ?? '', location: k.location, path: '',
    }));
    return [...onToken, ...this.files.list().keys];
  }

  /** Where copies of `canonicalId` are: the token location and/or the file path. */
  async locations(canonicalId: string): Promise<{ token?: TokenKeyInfo; file?: KeyInfo }> {
    const token = await this.tokenKey(canonicalId);
    const file = this.files.has(canonicalId) ? this.files.get(canonicalId) : undefined;
    return { ...(token !== undefined ? { token } : {}), ...(file !== undefined ? { file } : {}) };
  }

  /** Refuses keys that live only on the token; the file copy of a key is exported as usual. */
  async checkExportable(canonicalId: string): Promise<void> {
    const { token, file } = await this.locations(canonicalId);
    if (token !== undefined && file === undefined) {
      throw new Pkcs11Error('EXPORT_REFUSED',
        `key ${canonicalId} is stored on ${token.location} and cannot be exported; export its backup copy from the file store instead, if one was made`);
    }
  }
}

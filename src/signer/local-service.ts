/**
 * `SigningService` over the `private_keys` table in this process: what `vouch signer` serves over
 * gRPC and what the trust server embeds by default.
 *
 * Contract (notary-signer semantics, docs/formats.md §8.2):
 * - `createKey` returns the lowest-key_id unused key for the same gun, role and algorithm, else
 *   generates one, encrypts it under the default alias and stores it. Concurrent calls for the
 *   same triple in this process are serialised, so they agree on one pending key.
 * - `getKeyInfo` and `sign` decrypt the row (once; decrypted keys are cached in memory only, and
 *   loads of one key are coalesced) and fail with `KEY_NOT_FOUND`, `PASSPHRASE_UNAVAILABLE` or
 *   `KEY_UNDECRYPTABLE`. Deleted rows are invisible.
 * - A successful `sign` makes the key used: `last_used` is written before the first signature of
 *   a key returns, and refreshed at most once per `lastUsedRefreshMs` afterwards (notary writes on
 *   every signature; the refresh interval keeps signing off the database's write path).
 * - `deleteKey` soft-deletes and drops the cached key.
 */
import type { KeyObject } from 'node:crypto';

import { ecdsaSign, ed25519Sign, rsaPssSign } from '../crypto/signatures.ts';
import { generateKey, notaryPublicBytes } from '../crypto/private-keys.ts';
import { StorageError } from '../storage/errors.ts';
import { computeKeyId } from '../tuf/keys.ts';
import type { SignatureMethod } from '../tuf/signer.ts';
import { SignerError, passphraseUnavailable } from './errors.ts';
import { openStoredKey, sealPrivateKey } from './key-crypto.ts';
import type { OpenedKey, PassphraseLookup } from './key-crypto.ts';
import type { SqlKeyStore, StoredKey } from './key-store.ts';
import { isCreatableAlgorithm } from './service.ts';
import type { CreateKeyRequest, SignerKeyInfo, SignerPublicKey, SignerSignature, SigningService } from './service.ts';

export interface LocalSigningServiceOptions {
  readonly store: SqlKeyStore;
  readonly passphrases: PassphraseLookup;
  /** `storage.default_alias`: new keys are encrypted under it. */
  readonly defaultAlias: string;
  readonly now?: () => Date;
  readonly lastUsedRefreshMs?: number;
  /** Closes the store's database with the service (default true). */
  readonly ownsDatabase?: boolean;
}

interface CachedKey extends OpenedKey {
  /** Clock reading of the last `last_used` write, undefined when none is known. */
  lastMarkedMs: number | undefined;
}

/** notary's column widths (§9.2); longer values are refused before they reach the database. */
const MAX_NAME_BYTES = 255;
const MAX_KEY_ID_CHARS = 255;

function methodFor(algorithm: string): { method: SignatureMethod; sign: (k: KeyObject, m: Uint8Array) => Uint8Array } {
  if (algorithm === 'ecdsa') return { method: 'ecdsa', sign: ecdsaSign };
  if (algorithm === 'ed25519') return { method: 'eddsa', sign: ed25519Sign };
  return { method: 'rsapss', sign: rsaPssSign };
}

function asSignerError(e: unknown, code: 'KEY_CREATION_FAILED' | 'SIGNING_FAILED', what: string): SignerError {
  if (e instanceof SignerError) return e;
  if (e instanceof StorageError) return new SignerError('STORAGE_UNAVAILABLE', e.message, { cause: e });
  return new SignerError(code, `${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

export class LocalSigningService implements SigningService {
  readonly store: SqlKeyStore;
  readonly defaultAlias: string;
  private readonly passphrases: PassphraseLookup;
  private readonly now: () => Date;
  private readonly refreshMs: number;
  private readonly ownsDatabase: boolean;
  private readonly cache = new Map<string, CachedKey>();
  private readonly loading = new Map<string, Promise<CachedKey>>();
  private readonly createLocks = new Map<string, Promise<unknown>>();

  constructor(opts: LocalSigningServiceOptions) {
    this.store = opts.store;
    this.passphrases = opts.passphrases;
    this.defaultAlias = opts.defaultAlias;
    this.now = opts.now ?? (() => new Date());
    this.refreshMs = opts.lastUsedRefreshMs ?? 60_000;
    this.ownsDatabase = opts.ownsDatabase ?? true;
  }

  async createKey(req: CreateKeyRequest): Promise<SignerPublicKey> {
    if (!isCreatableAlgorithm(req.algorithm)) {
      throw new SignerError('UNSUPPORTED_ALGORITHM', `algorithm ${req.algorithm} not supported for create key`);
    }
    if (Buffer.byteLength(req.gun) > MAX_NAME_BYTES || Buffer.byteLength(req.role) > MAX_NAME_BYTES) {
      throw new SignerError('KEY_CREATION_FAILED', `gun and role must be at most ${MAX_NAME_BYTES} bytes`);
    }
    const lockKey = `${req.gun}\0${req.role}\0${req.algorithm}`;
    const previous = this.createLocks.get(lockKey) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(() => this.createUnlocked(req));
    this.createLocks.set(lockKey, mine);
    try {
      return await mine;
    } finally {
      if (this.createLocks.get(lockKey) === mine) this.createLocks.delete(lockKey);
    }
  }

  private async createUnlocked(req: CreateKeyRequest): Promise<SignerPublicKey> {
    try {
      const pending = await this.store.findPending(req.gun, req.role, req.algorithm);
      if (pending !== undefined) {
        return { keyId: computeKeyId(pending.algorithm, pending.publicKey), algorithm: pending.algorithm, publicKey: pending.publicKey };
      }
      const passphrase = this.passphrases(this.defaultAlias);
      if (passphrase === undefined) throw passphraseUnavailable(this.defaultAlias);
      const privateKey = generateKey(req.algorithm as 'ecdsa' | 'ed25519');
      const publicKey = notaryPublicBytes(privateKey);
      const keyId = computeKeyId(req.algorithm, publicKey);
      const row = { keyId, algorithm: req.algorithm, passphraseAlias: this.defaultAlias, publicKey,
        jwe: await sealPrivateKey(privateKey, passphrase), gun: req.gun, role: req.role };
      await this.store.insert(row, this.now());
      this.cache.set(keyId, { ...row, keyId, privateKey, lastMarkedMs: undefined });
      return { keyId, algorithm: req.algorithm, publicKey };
    } catch (e) {
      throw asSignerError(e, 'KEY_CREATION_FAILED', 'Key creation failed');
    }
  }

  private async load(keyId: string): Promise<CachedKey> {
    const cached = this.cache.get(keyId);
    if (cached !== undefined) return cached;
    if (keyId.length === 0 || keyId.length > MAX_KEY_ID_CHARS) throw new SignerError('KEY_NOT_FOUND', `key ${keyId} not found`);
    let inflight = this.loading.get(keyId);
    if (inflight === undefined) {
      inflight = this.loadUncached(keyId).finally(() => this.loading.delete(keyId));
      this.loading.set(keyId, inflight);
    }
    return inflight;
  }

  private async loadUncached(keyId: string): Promise<CachedKey> {
    let row: StoredKey | undefined;
    try {
      row = await this.store.get(keyId);
    } catch (e) {
      throw asSignerError(e, 'SIGNING_FAILED', 'reading the key failed');
    }
    if (row === undefined) throw new SignerError('KEY_NOT_FOUND', `key ${keyId} not found`);
    const opened = await openStoredKey(row, this.passphrases);
    const entry: CachedKey = { ...opened, lastMarkedMs: row.lastUsed ? this.now().getTime() : undefined };
    this.cache.set(keyId, entry);
    return entry;
  }

  async getKeyInfo(keyId: string): Promise<SignerKeyInfo> {
    const k = await this.load(keyId);
    return { keyId: k.keyId, algorithm: k.algorithm, publicKey: k.publicKey, role: k.role };
  }

  async sign(keyId: string, content: Uint8Array): Promise<SignerSignature> {
    const k = await this.load(keyId);
    const { method, sign } = methodFor(k.algorithm);
    let signature: Uint8Array;
    try {
      signature = sign(k.privateKey, content);
    } catch (e) {
      throw asSignerError(e, 'SIGNING_FAILED', `Signing failed for KeyID ${k.keyId}`);
    }
    await this.markUsed(k);
    return { keyId: k.keyId, keyAlgorithm: k.algorithm, method, signature };
  }

  private async markUsed(k: CachedKey): Promise<void> {
    const now = this.now();
    if (k.lastMarkedMs !== undefined && now.getTime() - k.lastMarkedMs < this.refreshMs) return;
    try {
      await this.store.markUsed(k.keyId, now);
      k.lastMarkedMs = now.getTime();
    } catch (e) {
      // A key that was never marked must not be handed out again as pending: fail the signature.
      if (k.lastMarkedMs === undefined) throw asSignerError(e, 'SIGNING_FAILED', 'marking the key used failed');
    }
  }

  async deleteKey(keyId: string): Promise<void> {
    this.cache.delete(keyId);
    if (keyId.length === 0 || keyId.length > MAX_KEY_ID_CHARS) return;
    try {
      await this.store.softDelete(keyId, this.now());
    } catch (e) {
      throw asSignerError(e, 'SIGNING_FAILED', `Key deletion for KeyID ${keyId} failed`);
    }
    this.cache.delete(keyId);
  }

  /** Drops every decrypted key held in memory (e.g. after a rekey or on shutdown). */
  forgetKeys(): void {
    this.cache.clear();
  }

  async close(): Promise<void> {
    this.forgetKeys();
    if (this.ownsDatabase) await this.store.database.close();
  }
}

/**
 * The client key store: `<trust dir>/private/<canonical key ID>.key`, the same files notary 0.7
 * and docker use, so an existing `~/.docker/trust` or `~/.notary` works unchanged.
 *
 * Contract:
 * - Opening migrates a legacy 0.1–0.3 layout (see migrate.ts) and creates nothing otherwise;
 *   directories are created 0700 on the first write, files are written 0600 and atomically.
 * - A new key is never written over an existing file (`KEY_EXISTS`).
 * - Unlocking decrypts with passphrases from the retriever (notary's attempt rules) and refuses a
 *   key whose ID is not its file name (`KEY_ID_MISMATCH`); unlocked keys are cached for the life
 *   of the store, as notary's cache does. Unlocks that may prompt run one at a time, in call
 *   order; the key derivation itself runs on libuv's thread pool.
 * - `prefetch` starts unlocking keys whose passphrases the retriever has without asking (its
 *   `quiet` answer: environment variables), all in parallel and in the background; it never
 *   prompts and never fails; a key it could not unlock is unlocked the ordinary way when used.
 * - With an `unlockedKeys` cache (the agent's), an encrypted key found there is used without a
 *   passphrase, and a key unlocked here is handed to it; the key-ID check applies to both.
 * - Upper layers get `Signer`s and public keys; private key material never leaves this layer.
 */
import { readdirSync } from 'node:fs';
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { join, normalize } from 'node:path';
import { hasCode, VouchError } from '../errors.ts';
import { VOUCH_PBKDF2_ITERATIONS } from '../crypto/pkcs8.ts';
import { isEncryptedPrivateKeyPem, readPrivateKeyPemAsync, writeEncryptedPrivateKeyPem } from '../crypto/private-key-pem.ts';
import { generateKey } from '../crypto/private-keys.ts';
import { createRootCertificate } from '../crypto/x509.ts';
import { rootCertificateKey } from '../tuf/certs.ts';
import { canonicalKeyId, type PublicKey } from '../tuf/keys.ts';
import { localSigner } from '../tuf/local-signer.ts';
import type { Signer } from '../tuf/signer.ts';
import type { KeyId } from '../tuf/types.ts';
import { describeIoError, isNodeError, KeyStoreError } from './errors.ts';
import { ensurePrivateDir, pathExists, readFileCapped, removeFile, replaceFileAtomic, writeFileExclusive } from './fs-util.ts';
import type { WriteChunk } from './fs-util.ts';
import {
  KEY_EXTENSION, MAX_KEY_FILE_BYTES, PRIVATE_DIR, checkKeyId, keyIdFromFileName, keyIdOfPrivate, parseKeyFile,
  storedHeaders, type ParsedKeyFile,
} from './key-file.ts';
import { hasLegacyLayout, migrateLegacyLayout, type MigrationReport } from './migrate.ts';
import { chooseNewPassphrase, unlockWithRetriever, type PassphraseRetriever } from './passphrase.ts';

export interface KeyInfo {
  readonly keyId: KeyId;
  /** The `role` header: a base role, a delegation, or a docker signer name ('' if absent). */
  readonly role: string;
  /** The `gun` header ('' for root, delegation and signer keys). */
  readonly gun: string;
  /** The key directory, as `notary key list` shows it under LOCATION. */
  readonly location: string;
  readonly path: string;
}

export interface StoreProblem {
  readonly path: string;
  readonly message: string;
}

export type GeneratedKeyType = 'ecdsa' | 'ed25519';

/**
 * Unlocked keys kept by another process (the agent, src/agent), so a passphrase-protected key is
 * derived once per cache lifetime rather than once per command. Entries are keyed by the SHA-256
 * of the whole encrypted key file: a changed file (new passphrase, other key) is a miss.
 */
export interface UnlockedKeyCache {
  /** The PKCS#8 DER of the key in the file whose bytes hash to `fileDigest`, if held. */
  get(fileDigest: string): Promise<Uint8Array | undefined>;
  put(fileDigest: string, pkcs8: Uint8Array): void;
}

export interface KeyFileStoreOptions {
  readonly retriever: PassphraseRetriever;
  /**
   * Only for stores that sign: a key found here unlocks without its passphrase, which commands
   * that prove knowledge of it (changing it, re-encrypting a copy) must not allow.
   */
  readonly unlockedKeys?: UnlockedKeyCache | undefined;
  /** PBKDF2 iterations for keys this store encrypts; notary reads any count from the file. */
  readonly iterations?: number;
  /** Test hook: simulates a failing disk for the writes of this store. */
  readonly write?: WriteChunk;
}

interface KeyFileRead {
  readonly parsed: ParsedKeyFile;
  /** SHA-256 of the file's bytes, hex ('' without an unlocked-key cache). */
  readonly digest: string;
}

interface Unlocked {
  readonly key: KeyObject;
  readonly parsed: ParsedKeyFile;
}

export class KeyFileStore {
  readonly trustDir: string;
  readonly privateDir: string;
  readonly migration: MigrationReport;
  readonly iterations: number;
  private readonly retriever: PassphraseRetriever;
  private readonly unlockedKeys: UnlockedKeyCache | undefined;
  private readonly write: WriteChunk | undefined;
  private readonly unlocked = new Map<string, Unlocked>();
  /** Unlocks under way (prefetches included), so a key is never derived twice at once. */
  private readonly pending = new Map<string, Promise<Unlocked | undefined>>();
  /** The tail of the queue of unlocks that may prompt. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(trustDir: string, opts: KeyFileStoreOptions) {
    this.trustDir = normalize(trustDir);
    this.privateDir = join(this.trustDir, PRIVATE_DIR);
    this.retriever = opts.retriever;
    this.unlockedKeys = opts.unlockedKeys;
    this.iterations = opts.iterations ?? VOUCH_PBKDF2_ITERATIONS;
    this.write = opts.write;
    this.migration = hasLegacyLayout(this.privateDir) ? migrateLegacyLayout(this.privateDir) : { migrated: [], problems: [] };
  }

  /** Opens the store in `trustDir` (which need not exist yet), migrating a legacy layout. */
  static open(trustDir: string, opts: KeyFileStoreOptions): KeyFileStore {
    return new KeyFileStore(trustDir, opts);
  }

  /** The same store with another passphrase retriever (e.g. a fresh one for a new passphrase). */
  withRetriever(retriever: PassphraseRetriever): KeyFileStore {
    return new KeyFileStore(this.trustDir, {
      retriever, iterations: this.iterations, unlockedKeys: this.unlockedKeys, ...(this.write ? { write: this.write } : {}),
    });
  }

  keyPath(keyId: string): string {
    return join(this.privateDir, checkKeyId(keyId) + KEY_EXTENSION);
  }

  /** Every key file, in file-name order; files that cannot be read are reported, not thrown. */
  list(): { keys: KeyInfo[]; problems: StoreProblem[] } {
    const keys: KeyInfo[] = [];
    const problems: StoreProblem[] = [...this.migration.problems];
    for (const name of this.keyFileNames()) {
      const path = join(this.privateDir, name);
      const keyId = keyIdFromFileName(name);
      if (keyId === undefined) {
        problems.push({ path, message: 'file name is not <64 hex digit key ID>.key; ignored' });
        continue;
      }
      try {
        keys.push(this.infoOf(keyId as KeyId, path, this.readParsed(path)));
      } catch (e) {
        problems.push({ path, message: e instanceof Error ? e.message : String(e) });
      }
    }
    return { keys, problems };
  }

  has(keyId: string): boolean {
    return pathExists(this.keyPath(keyId));
  }

  /** The key's headers; `KEY_NOT_FOUND` (notary's `signing key not found: <id>`) when absent. */
  get(keyId: string): KeyInfo {
    const path = this.keyPath(keyId);
    if (!pathExists(path)) throw new KeyStoreError('KEY_NOT_FOUND', `signing key not found: ${keyId}`);
    return this.infoOf(keyId as KeyId, path, this.readParsed(path));
  }

  /** The stored file exactly as on disk (for export and backup: still encrypted). */
  readKeyFile(keyId: string): Buffer {
    const info = this.get(keyId);
    return readFileCapped(info.path, MAX_KEY_FILE_BYTES);
  }

  /** A signer for the key filed under `keyId`, listed under `publicKey` when given (root certificates). */
  async signer(keyId: string, publicKey?: PublicKey): Promise<Signer> {
    const { key } = await this.unlock(keyId);
    return localSigner(key, publicKey);
  }

  /** A signer for a key as metadata lists it: found by its canonical ID (§3.3). */
  async signerFor(publicKey: PublicKey): Promise<Signer> {
    return this.signer(canonicalKeyId(publicKey), publicKey);
  }

  /** A new self-signed root certificate key (`ecdsa-x509`, CN = GUN) for the key `keyId`. */
  async rootCertificateKey(keyId: string, gun: string, now: Date): Promise<PublicKey> {
    const { key } = await this.unlock(keyId);
    return rootCertificateKey(createRootCertificate({ gun, privateKey: key, now }));
  }

  /** Generates a key, stores it encrypted with a new passphrase, and returns it as a signer. */
  async generate(role: string, opts: { gun?: string; keyType?: GeneratedKeyType } = {}): Promise<{ info: KeyInfo; signer: Signer }> {
    const headers = storedHeaders(role, opts.gun);
    const key = generateKey(opts.keyType ?? 'ecdsa');
    const info = await this.add(key, headers);
    return { info, signer: localSigner(key) };
  }

  /** Stores `key` with a new passphrase from the retriever. */
  async add(key: KeyObject, target: { role: string; gun?: string }): Promise<KeyInfo> {
    const headers = storedHeaders(target.role, target.gun);
    const keyId = keyIdOfPrivate(key);
    const path = this.keyPath(keyId);
    if (pathExists(path)) {
      throw new KeyStoreError('KEY_EXISTS', `key with same ID already exists for role: ${this.get(keyId).role}`);
    }
    const passphrase = await chooseNewPassphrase(this.retriever, keyId, headers.role);
    const text = writeEncryptedPrivateKeyPem(key, passphrase, headers, { iterations: this.iterations });
    this.writeNew(keyId, Buffer.from(text, 'utf8'));
    const parsed = parseKeyFile(text, path);
    this.unlocked.set(keyId, { key, parsed });
    return this.infoOf(keyId, path, parsed);
  }

  /** Writes a validated key file; never over an existing file. */
  writeNew(keyId: string, bytes: Uint8Array): void {
    ensurePrivateDir(this.privateDir);
    writeFileExclusive(this.keyPath(keyId), bytes, { existsCode: 'KEY_EXISTS', ...(this.write ? { write: this.write } : {}) });
  }

  /** Re-encrypts a key with a new passphrase from `newRetriever`, keeping its headers. */
  async changePassphrase(keyId: string, newRetriever: PassphraseRetriever): Promise<KeyInfo> {
    const { key, parsed } = await this.unlock(keyId);
    const path = this.keyPath(keyId);
    if (parsed.role === '') throw new KeyStoreError('INVALID_ROLE', `${path} has no role header; import it again with --role`);
    const passphrase = await chooseNewPassphrase(newRetriever, keyId, parsed.role);
    const text = writeEncryptedPrivateKeyPem(key, passphrase, { role: parsed.role, gun: parsed.gun }, { iterations: this.iterations });
    replaceFileAtomic(path, Buffer.from(text, 'utf8'), this.write ? { write: this.write } : {});
    const reparsed = parseKeyFile(text, path);
    this.unlocked.set(keyId, { key, parsed: reparsed });
    return this.infoOf(keyId as KeyId, path, reparsed);
  }

  /** Deletes the key file. */
  remove(keyId: string): KeyInfo {
    const info = this.get(keyId);
    removeFile(info.path);
    this.unlocked.delete(keyId);
    return info;
  }

  /**
   * The key file re-encrypted with `passphrase` (same headers), for a backup that needs one
   * passphrase only. The stored file is unchanged.
   */
  async encryptedCopy(keyId: string, passphrase: string): Promise<Buffer> {
    const { key, parsed } = await this.unlock(keyId);
    if (parsed.role === '') throw new KeyStoreError('INVALID_ROLE', `${this.keyPath(keyId)} has no role header`);
    return Buffer.from(writeEncryptedPrivateKeyPem(key, passphrase, { role: parsed.role, gun: parsed.gun },
      { iterations: this.iterations }), 'utf8');
  }

  /**
   * Starts unlocking, in the background, those of `keyIds` this store holds whose passphrase the
   * retriever gives without asking (see the module contract). Never prompts, never throws.
   */
  prefetch(keyIds: Iterable<string>): void {
    const quiet = this.retriever.quiet;
    if (quiet === undefined && this.unlockedKeys === undefined) return;
    for (const keyId of keyIds) {
      if (this.unlocked.has(keyId) || this.pending.has(keyId)) continue;
      let file: KeyFileRead;
      let path: string;
      try {
        path = this.keyPath(keyId);
        if (!pathExists(path)) continue;
        file = this.readForUnlock(path);
      } catch {
        continue; // reported when the key is actually used
      }
      const { parsed } = file;
      const encrypted = isEncryptedPrivateKeyPem(parsed.block);
      const passphrase = encrypted ? quiet?.({ keyName: keyId, alias: parsed.role, createNew: false, attempt: 0 }) : undefined;
      if (encrypted && passphrase === undefined && this.unlockedKeys === undefined) continue;
      // Without a passphrase only the cache can unlock it: the decryption refuses at once.
      const attempt = this.unlockFile(keyId, path, file, () => readPrivateKeyPemAsync(parsed.block, passphrase)).catch(() => undefined);
      this.pending.set(keyId, attempt);
      void attempt.finally(() => {
        if (this.pending.get(keyId) === attempt) this.pending.delete(keyId);
      });
    }
  }

  /** Decrypts a stored key (once per store), checking it is the key its file name says. */
  private async unlock(keyId: string): Promise<Unlocked> {
    const cached = this.unlocked.get(keyId);
    if (cached !== undefined) return cached;
    const early = await this.pending.get(keyId);
    if (early !== undefined) return early;
    // One prompting unlock at a time, in call order, as notary asks for passphrases one by one.
    const run = this.queue.then(() => this.unlockNow(keyId));
    const settled = run.catch(() => undefined);
    this.queue = settled;
    this.pending.set(keyId, settled);
    void settled.finally(() => {
      if (this.pending.get(keyId) === settled) this.pending.delete(keyId);
    });
    return run;
  }

  private async unlockNow(keyId: string): Promise<Unlocked> {
    const cached = this.unlocked.get(keyId);
    if (cached !== undefined) return cached;
    const path = this.get(keyId).path;
    const file = this.readForUnlock(path);
    return this.unlockFile(keyId, path, file, () => readKeyBlock(file.parsed, path, this.retriever, keyId));
  }

  /** The key from the unlocked-key cache, else from `decrypt` (then handed to the cache). */
  private async unlockFile(keyId: string, path: string, file: KeyFileRead, decrypt: () => Promise<KeyObject>): Promise<Unlocked> {
    const encrypted = isEncryptedPrivateKeyPem(file.parsed.block);
    const held = encrypted ? await this.heldKey(file) : undefined;
    if (held !== undefined) return this.remember(keyId, path, held, file.parsed);
    const entry = this.remember(keyId, path, await decrypt(), file.parsed);
    if (encrypted) this.hold(file, entry.key);
    return entry;
  }

  /** The key the cache holds for this file; a cache that fails or holds junk is a miss. */
  private async heldKey(file: KeyFileRead): Promise<KeyObject | undefined> {
    if (this.unlockedKeys === undefined) return undefined;
    try {
      const der = await this.unlockedKeys.get(file.digest);
      return der === undefined ? undefined : createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
    } catch {
      return undefined;
    }
  }

  private hold(file: KeyFileRead, key: KeyObject): void {
    this.unlockedKeys?.put(file.digest, key.export({ format: 'der', type: 'pkcs8' }));
  }

  private readForUnlock(path: string): KeyFileRead {
    const bytes = readFileCapped(path, MAX_KEY_FILE_BYTES);
    const digest = this.unlockedKeys === undefined ? '' : createHash('sha256').update(bytes).digest('hex');
    return { parsed: parseKeyFile(bytes.toString('utf8'), path), digest };
  }

  private remember(keyId: string, path: string, key: KeyObject, parsed: ParsedKeyFile): Unlocked {
    const actual = keyIdOfPrivate(key);
    if (actual !== keyId) {
      throw new KeyStoreError('KEY_ID_MISMATCH', `key file ${path} holds key ${actual}, not ${keyId}; refusing to use it`);
    }
    const entry = { key, parsed };
    this.unlocked.set(keyId, entry);
    return entry;
  }

  private keyFileNames(): string[] {
    let entries;
    try {
      entries = readdirSync(this.privateDir, { withFileTypes: true });
    } catch (e) {
      if (isNodeError(e, 'ENOENT')) return [];
      throw new KeyStoreError('STORE_UNREADABLE', `cannot read key store ${this.privateDir}: ${describeIoError(e)}`, { cause: e });
    }
    // Symlinks and directories are not keys (notary's walk skips them too).
    return entries.filter((e) => e.isFile() && e.name.endsWith(KEY_EXTENSION)).map((e) => e.name).sort();
  }

  private readParsed(path: string): ParsedKeyFile {
    return parseKeyFile(readFileCapped(path, MAX_KEY_FILE_BYTES).toString('utf8'), path);
  }

  private infoOf(keyId: KeyId, path: string, parsed: ParsedKeyFile): KeyInfo {
    return { keyId, role: parsed.role, gun: parsed.gun, location: this.privateDir, path };
  }
}

/**
 * Decrypts a private-key block, asking `retriever` for passphrases (alias = the role header).
 * Damage, unsupported algorithms and short RSA keys are `INVALID_KEY_FILE` naming `where`.
 */
export async function readKeyBlock(parsed: ParsedKeyFile, where: string, retriever: PassphraseRetriever,
  keyName: string, alias = parsed.role): Promise<KeyObject> {
  const attempt = async (passphrase: string | undefined): Promise<KeyObject> => {
    try {
      return await readPrivateKeyPemAsync(parsed.block, passphrase);
    } catch (e) {
      if (hasCode(e, 'INCORRECT_PASSPHRASE')) throw e;
      const msg = e instanceof VouchError ? e.message : String(e);
      throw new KeyStoreError('INVALID_KEY_FILE', `${where}: ${msg}`, { cause: e });
    }
  };
  if (!isEncryptedPrivateKeyPem(parsed.block)) return attempt(undefined);
  return (await unlockWithRetriever(retriever, keyName, alias, attempt)).value;
}

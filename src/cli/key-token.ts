/**
 * Hardware tokens (PKCS#11) in the `vouch key …` commands, as notary's key commands treat an
 * attached Yubikey (docs/compatibility.md F3, F4, F7, F8; docs/formats.md §11), for any token:
 * - `list` shows the token's keys beside the files, with their location (`yubikey` or
 *   `pkcs11:<label>`);
 * - `generate` puts a new ECDSA key of a token role (default root) on the token, a root key with
 *   notary's encrypted backup copy in the file store;
 * - `export` refuses a key that exists only on the token, before anything is written;
 * - `import` loads an encrypted root key file (a backup) onto the token, writing the file-store
 *   copy too unless the store already holds it; everything else imports into files as before;
 * - `remove` asks which copy to delete when the key is on the token and in files (notary's
 *   numbered question, answered on stdin), then removes only that copy.
 *
 * Contract: with no module configured and no Yubikey library at notary's paths, nothing here
 * touches a token and every method leaves the command's file-store behaviour as it was. A module
 * configured explicitly (flag, VOUCH_PKCS11_MODULE, config) makes the token required: if it is
 * unusable the command fails rather than quietly using files.
 */
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { decodePemBlocks } from '../crypto/pem.ts';
import { isEncryptedPrivateKeyPem } from '../crypto/private-key-pem.ts';
import { hasCode } from '../errors.ts';
import type { ImportOptions, ImportSource } from '../keystore/bundle.ts';
import { KeyStoreError } from '../keystore/errors.ts';
import type { KeyFileStore, KeyInfo } from '../keystore/file-store.ts';
import type { PassphraseRetriever } from '../keystore/passphrase.ts';
import type { TokenFirstKeys } from '../keystore/pkcs11/chain.ts';
import { fileStoreBackupWriter, importKeyFileToToken } from '../keystore/pkcs11/file-store-link.ts';
import type { BackupWriter, Pkcs11KeyStore } from '../keystore/pkcs11/store.ts';
import { askConfirm, type LineReader } from './passphrase.ts';
import { loadPkcs11Section, pkcs11FlagsOf, resolvePkcs11Settings, terminalPinSource, tokenFirstKeys } from './pkcs11.ts';
import type { Pkcs11Settings } from './pkcs11.ts';

export interface KeyTokenIo {
  /** The prompt reader, asked for only when a question is put (stdin stays untouched otherwise). */
  readonly reader: () => LineReader;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/** One copy of a key, as `remove` offers it. */
interface KeyCopy {
  readonly role: string;
  readonly location: string;
  readonly remove: () => Promise<void>;
}

export class KeyCommandTokens {
  constructor(readonly keys: TokenFirstKeys, private readonly settings: Pkcs11Settings, private readonly io: KeyTokenIo) {}

  /** The token-first keys for a key command: PKCS#11 flags, VOUCH_PKCS11_*, then the config file. */
  static open(cmd: CommandUnknownOpts, files: KeyFileStore, configFile: string | undefined, io: KeyTokenIo): KeyCommandTokens {
    const settings = resolvePkcs11Settings({ flags: pkcs11FlagsOf(cmd), env: process.env, config: loadPkcs11Section(configFile) });
    const keys = tokenFirstKeys(files, settings, {
      ...(process.stdin.isTTY ? { pinSource: terminalPinSource(lazyReader(io.reader), io.stderr) } : {}),
      notify: (m) => void io.stderr.write(`${m}\n`),
    });
    return new KeyCommandTokens(keys, settings, io);
  }

  /** The usable token, or undefined when there is none (and none is required). */
  private async usableToken(): Promise<Pkcs11KeyStore | undefined> {
    return (await this.keys.tokenKeys()) === undefined ? undefined : this.keys.token;
  }

  /** Every key, token keys first (a key in both places is listed once per location, as notary). */
  listKeys(): Promise<KeyInfo[]> {
    return this.keys.listKeys();
  }

  /**
   * Creates an ECDSA key for `role` on the token when the role is a token role and a token is
   * usable; resolves undefined otherwise (the caller generates into files as before).
   */
  async generate(role: string): Promise<{ keyId: string; location: string; backup?: string } | undefined> {
    if (!this.settings.roles.includes(role) || await this.usableToken() === undefined) return undefined;
    const signer = await this.keys.createKey(role, undefined);
    const keyId = 'canonicalKeyId' in signer && typeof signer.canonicalKeyId === 'string' ? signer.canonicalKeyId : signer.keyId;
    const location = 'location' in signer && typeof signer.location === 'string' ? signer.location : 'token';
    const files = this.keys.files;
    const backup = files.has(keyId) ? files.keyPath(keyId) : undefined;
    this.io.stderr.write(`The ${role} key is on ${location}${backup !== undefined ? `; its encrypted backup copy is ${backup}` : ''}\n`);
    return { keyId, location, ...(backup !== undefined ? { backup } : {}) };
  }

  /** Refuses (EXPORT_REFUSED) any of `keyIds` that lives only on the token; file keys pass untouched. */
  async checkExportable(keyIds: readonly string[]): Promise<void> {
    for (const id of keyIds) {
      if (!this.keys.files.has(id)) await this.keys.checkExportable(id);
    }
  }

  /**
   * Loads the encrypted root key files among `sources` onto the token (notary's import of a root
   * backup onto a Yubikey) and resolves with the sources left for the file import. Without a
   * usable token, or for keys a token cannot hold (not ECDSA P-256), sources stay for the files.
   */
  async importRootBackups(sources: readonly ImportSource[], opts: ImportOptions, retriever: PassphraseRetriever): Promise<ImportSource[]> {
    const candidates = sources.filter((s) => isEncryptedRootKeyFile(s.text, opts.role));
    if (candidates.length === 0) return [...sources];
    const token = await this.usableToken();
    if (token === undefined) return [...sources];
    const rest = sources.filter((s) => !candidates.includes(s));
    for (const source of candidates) {
      const backup = backupUnlessStored(this.keys.files);
      let added;
      try {
        added = await importKeyFileToToken(token, source.text, source.name, retriever, { ...opts, backup });
      } catch (e) {
        if (!hasCode(e, 'UNSUPPORTED_KEY')) throw e;
        rest.push(source);
        continue;
      }
      const { info } = added;
      if (!added.added) {
        this.io.stderr.write(`Skipped key ${info.keyId}: already on ${info.location}\n`);
        continue;
      }
      this.io.stderr.write(`Imported ${info.role} key ${info.keyId} onto ${info.location}\n`);
      if (backup.wrote !== undefined) this.io.stderr.write(`Wrote its encrypted backup copy to ${backup.wrote}\n`);
    }
    return rest;
  }

  /**
   * `key remove` for a key that has a token copy: asks which copy when there are two (notary's
   * numbered question), confirms, removes that copy. Resolves false when the key has no token copy
   * (the caller removes the file as before).
   */
  async remove(keyId: string): Promise<boolean> {
    const { token, file } = await this.keys.locations(keyId);
    const store = this.keys.token;
    if (token === undefined || store === undefined) return false;
    const copies: KeyCopy[] = [{ role: token.role, location: token.location, remove: async () => { await store.removeKey(keyId); } }];
    if (file !== undefined) {
      copies.push({ role: file.role, location: file.location, remove: () => { this.keys.files.remove(keyId); return Promise.resolve(); } });
    }
    const chosen = copies.length === 1 ? copies[0] : await this.askWhichCopy(keyId, copies);
    if (chosen === undefined) return true;
    const description = `${keyId} (role ${chosen.role}) from ${chosen.location}`;
    if (!await askConfirm(this.io.reader(), `Are you sure you want to remove ${description}?  (yes/no)  `, this.io.stdout)) {
      this.io.stdout.write('\nAborting action.\n\n');
      return true;
    }
    await chosen.remove();
    this.io.stdout.write(`\nDeleted ${description}.\n\n`);
    return true;
  }

  /** notary's question: the copies numbered from 1, asked again after an invalid answer; end of input fails. */
  private async askWhichCopy(keyId: string, copies: readonly KeyCopy[]): Promise<KeyCopy> {
    for (;;) {
      this.io.stdout.write('Found the following matching keys:\n');
      for (const [i, c] of copies.entries()) this.io.stdout.write(`\t${i + 1}. ${keyId}: ${c.role} (${c.location})\n`);
      this.io.stdout.write('Which would you like to delete?  Please enter a number:  ');
      const answer = await this.io.reader().question('');
      if (answer === null) throw new KeyStoreError('INVALID_ARGUMENT', 'no choice entered (end of input): nothing was removed');
      const word = answer.trim();
      const index = /^[0-9]{1,3}$/.test(word) ? Number(word) : 0;
      const chosen = index >= 1 ? copies[index - 1] : undefined;
      if (chosen !== undefined) {
        this.io.stdout.write('\n');
        return chosen;
      }
      this.io.stdout.write(`\nInvalid choice: ${word}\n`);
    }
  }
}

function lazyReader(get: () => LineReader): LineReader {
  return { question: (prompt, opts) => get().question(prompt, opts), close: () => { get().close(); } };
}

/** A single encrypted private-key block whose role (header, else `--role`) is root. */
export function isEncryptedRootKeyFile(text: string, roleOption: string | undefined): boolean {
  let blocks;
  try {
    blocks = decodePemBlocks(text);
  } catch {
    return false; // the file import reports it
  }
  const [block] = blocks;
  if (blocks.length !== 1 || block === undefined || !isEncryptedPrivateKeyPem(block)) return false;
  const header = block.headers['role'] ?? '';
  return (header !== '' ? header : roleOption ?? '') === 'root';
}

/** The file store's backup writer, skipped when the store already holds the key (its own backup). */
function backupUnlessStored(files: KeyFileStore): BackupWriter & { wrote?: string } {
  const inner = fileStoreBackupWriter(files);
  const writer: BackupWriter & { wrote?: string } = {
    async backup(privateKey, info) {
      if (files.has(info.keyId)) return files.keyPath(info.keyId);
      const path = await inner.backup(privateKey, info);
      writer.wrote = path;
      return path;
    },
  };
  return writer;
}

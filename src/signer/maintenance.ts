/**
 * Signer operations beyond notary's API: the health report (database reachable, every alias's
 * passphrase present and able to decrypt its keys) and `rekey` (re-encrypt every key under one
 * alias in a single transaction; notary has only a per-key library method).
 *
 * Contract:
 * - `signerHealthReport` never throws: a database failure is reported, not raised. By default it
 *   decrypts one key per alias (the passphrase check); `checkAllKeys` decrypts every key and lists
 *   the ones that fail. `healthy` is true only when the database answers, the default alias's
 *   passphrase is set, and every checked key decrypts.
 * - `rekeyAll` checks the target passphrase first, then rewrites every non-deleted row not
 *   already under the target alias; if any row cannot be decrypted nothing is changed and the
 *   `REKEY_FAILED` error names the key and alias. Soft-deleted rows are left as they are.
 */
import { SignerError, passphraseEnvName, passphraseUnavailable } from './errors.ts';
import { openStoredKey, resealStoredKey } from './key-crypto.ts';
import type { PassphraseLookup } from './key-crypto.ts';
import type { SqlKeyStore } from './key-store.ts';

export interface AliasHealth {
  readonly alias: string;
  /** Non-deleted keys under the alias. */
  readonly keys: number;
  readonly passphraseSet: boolean;
  /** Whether the checked keys decrypted; undefined when nothing was checked. */
  readonly decryptable?: boolean;
  readonly error?: string;
}

export interface SignerHealthReport {
  readonly healthy: boolean;
  readonly database: { readonly ok: boolean; readonly description: string; readonly error?: string };
  readonly defaultAlias: string;
  readonly activeKeys: number;
  readonly aliases: readonly AliasHealth[];
  /** Keys that failed to decrypt (only with `checkAllKeys`, or the sampled key per alias). */
  readonly undecryptableKeyIds: readonly string[];
}

export interface HealthOptions {
  readonly checkAllKeys?: boolean;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function checkAlias(store: SqlKeyStore, passphrases: PassphraseLookup, alias: string, keys: number,
  all: boolean, undecryptable: string[]): Promise<AliasHealth> {
  const passphraseSet = passphrases(alias) !== undefined;
  if (!passphraseSet) return { alias, keys, passphraseSet, ...(keys > 0 ? { decryptable: false, error: `${passphraseEnvName(alias)} is not set` } : {}) };
  if (keys === 0) return { alias, keys, passphraseSet };
  const rows = await store.list(alias, all ? undefined : 1);
  let firstError: string | undefined;
  for (const row of rows) {
    try {
      await openStoredKey(row, passphrases);
    } catch (e) {
      undecryptable.push(row.keyId);
      firstError ??= message(e);
    }
  }
  return { alias, keys, passphraseSet, decryptable: firstError === undefined, ...(firstError !== undefined ? { error: firstError } : {}) };
}

export async function signerHealthReport(store: SqlKeyStore, passphrases: PassphraseLookup, defaultAlias: string,
  opts: HealthOptions = {}): Promise<SignerHealthReport> {
  const description = store.database.description;
  const undecryptable: string[] = [];
  const defaultSet = passphrases(defaultAlias) !== undefined;
  try {
    await store.database.ping();
    const counts = await store.aliasCounts();
    if (!counts.some((c) => c.alias === defaultAlias)) counts.push({ alias: defaultAlias, keys: 0 });
    counts.sort((a, b) => (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : 0));
    const aliases: AliasHealth[] = [];
    for (const c of counts) aliases.push(await checkAlias(store, passphrases, c.alias, c.keys, opts.checkAllKeys === true, undecryptable));
    return {
      healthy: defaultSet && aliases.every((a) => a.decryptable !== false),
      database: { ok: true, description }, defaultAlias,
      activeKeys: counts.reduce((n, c) => n + c.keys, 0), aliases, undecryptableKeyIds: undecryptable,
    };
  } catch (e) {
    return {
      healthy: false, database: { ok: false, description, error: message(e) }, defaultAlias, activeKeys: 0,
      aliases: [{ alias: defaultAlias, keys: 0, passphraseSet: defaultSet }], undecryptableKeyIds: undecryptable,
    };
  }
}

export interface RekeyResult {
  readonly toAlias: string;
  /** Rows re-encrypted. */
  readonly rekeyed: number;
  /** Aliases the rewritten rows were under before. */
  readonly fromAliases: readonly string[];
}

export async function rekeyAll(store: SqlKeyStore, passphrases: PassphraseLookup, toAlias: string, now: Date): Promise<RekeyResult> {
  if (toAlias === '' || toAlias.length > 50) throw new SignerError('REKEY_FAILED', 'the target alias must be 1 to 50 characters (column passphrase_alias)');
  const toPassphrase = passphrases(toAlias);
  if (toPassphrase === undefined) throw passphraseUnavailable(toAlias);
  const from = new Set<string>();
  const rekeyed = await store.rewriteActive(async (row) => {
    if (row.passphraseAlias === toAlias) return undefined;
    try {
      const jwe = await resealStoredKey(row, passphrases, toPassphrase);
      from.add(row.passphraseAlias);
      return { jwe, passphraseAlias: toAlias };
    } catch (e) {
      throw new SignerError('REKEY_FAILED', `no key was changed: ${message(e)}`, { cause: e });
    }
  }, now);
  return { toAlias, rekeyed, fromAliases: [...from].sort() };
}

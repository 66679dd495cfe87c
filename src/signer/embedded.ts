/**
 * The signing service embedded in another Vouch process (the trust server's default when no
 * remote signer is configured): the same `private_keys` table, JWE encryption and semantics as
 * `vouch signer`, without gRPC.
 *
 * Contract: `openKeyStore` opens and migrates the key database, failing with
 * `SignerError('STORAGE_UNAVAILABLE')` and leaving nothing open. `openEmbeddedSigningService`
 * additionally refuses (`PASSPHRASE_UNAVAILABLE`) when the default alias has no passphrase, and
 * returns a `LocalSigningService` that closes the database with itself.
 * `openMemorySigningService` is notary's `local`/memory trust service: the same service over an
 * in-memory SQLite table, keys sealed under notary's fixed memory passphrase and lost on close
 * (docs/formats.md §9.1). For tests and throwaway servers only: a restart loses every key.
 */
import type { StorageConfig } from '../storage/config.ts';
import { openDatabase } from '../storage/database.ts';
import { StorageError } from '../storage/errors.ts';
import { migrateToLatest } from '../storage/migrations.ts';
import { SignerError, passphraseEnvName } from './errors.ts';
import type { PassphraseLookup } from './key-crypto.ts';
import { SqlKeyStore } from './key-store.ts';
import { LocalSigningService } from './local-service.ts';
import { SIGNER_COMPONENT, SIGNER_MIGRATIONS } from './schema.ts';
import type { SignerTables } from './schema.ts';
import type { SigningService } from './service.ts';

export async function openKeyStore(storage: StorageConfig): Promise<SqlKeyStore> {
  let database;
  try {
    database = openDatabase<SignerTables>(storage);
  } catch (e) {
    if (e instanceof StorageError) throw new SignerError('STORAGE_UNAVAILABLE', e.message, { cause: e });
    throw e;
  }
  try {
    await database.ping();
    await migrateToLatest(database, SIGNER_COMPONENT, SIGNER_MIGRATIONS);
  } catch (e) {
    await database.close();
    throw new SignerError('STORAGE_UNAVAILABLE', e instanceof Error ? e.message : String(e), { cause: e });
  }
  return new SqlKeyStore(database);
}

export interface EmbeddedSignerOptions {
  readonly storage: StorageConfig;
  readonly defaultAlias: string;
  readonly passphrases: PassphraseLookup;
  readonly now?: () => Date;
  readonly lastUsedRefreshMs?: number;
}

export async function openEmbeddedSigningService(opts: EmbeddedSignerOptions): Promise<LocalSigningService> {
  if (opts.passphrases(opts.defaultAlias) === undefined) {
    throw new SignerError('PASSPHRASE_UNAVAILABLE',
      `the passphrase for the default alias "${opts.defaultAlias}" is not set: export ${passphraseEnvName(opts.defaultAlias)}`);
  }
  const store = await openKeyStore(opts.storage);
  return new LocalSigningService({
    store, passphrases: opts.passphrases, defaultAlias: opts.defaultAlias,
    ...(opts.now !== undefined ? { now: opts.now } : {}),
    ...(opts.lastUsedRefreshMs !== undefined ? { lastUsedRefreshMs: opts.lastUsedRefreshMs } : {}),
  });
}

/** notary-signer's passphrase for its memory backend (docs/formats.md §9.1). */
const MEMORY_PASSPHRASE = 'memory-db-ignore';
const MEMORY_ALIAS = 'memory';

/**
 * A `SigningService` whose keys live in this process. It is usable at once: the in-memory table is
 * created before the first call completes, so callers that construct servers synchronously need
 * not wait.
 */
export function openMemorySigningService(): SigningService {
  const ready = openKeyStore({ backend: 'sqlite3', dbUrl: ':memory:' }).then((store) =>
    new LocalSigningService({ store, passphrases: (alias) => (alias === MEMORY_ALIAS ? MEMORY_PASSPHRASE : undefined), defaultAlias: MEMORY_ALIAS }));
  // Seen by the first caller instead; this keeps an unused service from an unhandled rejection.
  ready.catch(() => undefined);
  return {
    createKey: async (req) => (await ready).createKey(req),
    getKeyInfo: async (keyId) => (await ready).getKeyInfo(keyId),
    sign: async (keyId, content) => (await ready).sign(keyId, content),
    deleteKey: async (keyId) => (await ready).deleteKey(keyId),
    close: async () => (await ready).close(),
  };
}

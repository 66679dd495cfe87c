/**
 * The signing service embedded in another Vouch process (the trust server's default when no
 * remote signer is configured): the same `private_keys` table, JWE encryption and semantics as
 * `vouch signer`, without gRPC.
 *
 * Contract: `openKeyStore` opens and migrates the key database, failing with
 * `SignerError('STORAGE_UNAVAILABLE')` and leaving nothing open. `openEmbeddedSigningService`
 * additionally refuses (`PASSPHRASE_UNAVAILABLE`) when the default alias has no passphrase, and
 * returns a `LocalSigningService` that closes the database with itself.
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

/**
 * Versioned, per-component schema migrations written as plain SQL per dialect, applied with
 * Kysely's Migrator.
 *
 * Contract: each component (e.g. `signer`, `server`) has its own migration table
 * `vouch_<component>_migration` and lock table, so components sharing one database migrate
 * independently. Migrations are applied in name order (names start with a zero-padded number),
 * each at most once; applying is idempotent and safe to race (Kysely takes a lock). Statements
 * should be written to adopt a schema that notary's own migrations already created
 * (`CREATE TABLE IF NOT EXISTS`). Any failure is `StorageError('STORAGE_MIGRATION_FAILED')` naming
 * the migration.
 */
import { Migrator, sql } from 'kysely';
import type { Kysely, Migration, MigrationProvider } from 'kysely';

import type { StorageBackend } from './config.ts';
import type { Database } from './database.ts';
import { StorageError, driverMessage } from './errors.ts';

export interface SqlMigration {
  /** Sorts into application order, e.g. `0001_private_keys`. */
  readonly name: string;
  /** Statements per dialect, run in order. */
  readonly up: Readonly<Record<StorageBackend, readonly string[]>>;
}

export interface MigrationResult {
  /** Names applied by this call (empty when the schema was already current). */
  readonly applied: readonly string[];
}

const COMPONENT = /^[a-z][a-z0-9_]{0,30}$/;

function provider(backend: StorageBackend, migrations: readonly SqlMigration[]): MigrationProvider {
  return {
    getMigrations: () => Promise.resolve(Object.fromEntries(migrations.map((m): [string, Migration] => [m.name, {
      up: async (db: Kysely<unknown>) => {
        for (const statement of m.up[backend]) await sql.raw(statement).execute(db);
      },
    }]))),
  };
}

export function migrationTableName(component: string): string {
  return `vouch_${component}_migration`;
}

export async function migrateToLatest<DB>(database: Database<DB>, component: string,
  migrations: readonly SqlMigration[]): Promise<MigrationResult> {
  if (!COMPONENT.test(component)) throw new StorageError('STORAGE_MIGRATION_FAILED', `bad component name ${component}`);
  const migrator = new Migrator({
    db: database.db as Kysely<unknown>,
    provider: provider(database.backend, migrations),
    migrationTableName: migrationTableName(component),
    migrationLockTableName: `${migrationTableName(component)}_lock`,
  });
  let outcome;
  try {
    outcome = await migrator.migrateToLatest();
  } catch (e) {
    throw new StorageError('STORAGE_MIGRATION_FAILED', `${component} migrations on ${database.description} failed: ${driverMessage(e)}`, { cause: e });
  }
  const failed = outcome.results?.find((r) => r.status === 'Error');
  if (outcome.error !== undefined) {
    const where = failed !== undefined ? ` (migration ${failed.migrationName})` : '';
    throw new StorageError('STORAGE_MIGRATION_FAILED',
      `${component} migrations on ${database.description} failed${where}: ${driverMessage(outcome.error)}`, { cause: outcome.error });
  }
  return { applied: (outcome.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}

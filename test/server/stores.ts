/**
 * Throwaway SQL stores for the server tests: a fresh database per call on SQLite (a file),
 * PostgreSQL or MariaDB, opened as `SqlMetaStore` with the server's migrations applied.
 */
import type { StorageBackend } from '../../src/storage/config.ts';
import { openDatabase } from '../../src/storage/database.ts';
import type { ServerTables } from '../../src/server/sql-schema.ts';
import { SqlMetaStore, type SqlMetaStoreOptions } from '../../src/server/sql-store.ts';
import { backendUnavailableReason, createThrowawayDatabase, type ThrowawayDatabase } from '../signer/helpers/databases.ts';

export const SQL_BACKENDS: readonly StorageBackend[] = ['sqlite3', 'postgres', 'mysql'];

export { backendUnavailableReason };

export interface TestStore {
  readonly store: SqlMetaStore;
  readonly db: ThrowawayDatabase;
  /** Opens a second store on the same database (another "replica"). */
  reopen(opts?: SqlMetaStoreOptions): Promise<SqlMetaStore>;
  drop(): Promise<void>;
}

export async function openTestStore(backend: StorageBackend, dir: string, opts: SqlMetaStoreOptions = {}): Promise<TestStore> {
  const db = createThrowawayDatabase(backend, dir);
  const open = (o: SqlMetaStoreOptions) => SqlMetaStore.open(openDatabase<ServerTables>(db.config, { busyTimeoutMs: 2_000 }), { config: db.config, ...o });
  const store = await open(opts);
  const extra: SqlMetaStore[] = [];
  return {
    store, db,
    reopen: async (o = {}) => {
      const s = await open(o);
      extra.push(s);
      return s;
    },
    drop: async () => {
      for (const s of [store, ...extra]) await s.close();
      db.drop();
    },
  };
}

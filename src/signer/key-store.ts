/**
 * Row-level access to `private_keys` with notary-signer's semantics (gorm soft delete: every
 * read ignores rows whose `deleted_at` is set).
 *
 * Contract: the store moves bytes and never decrypts; every database failure surfaces as
 * `StorageError('STORAGE_UNAVAILABLE')`. `findPending` is notary's reuse query (same gun, role and
 * algorithm, `last_used IS NULL`, lowest key_id). `rewriteActive` runs one transaction over every
 * non-deleted row (rows locked on PostgreSQL/MySQL; SQLite takes the write lock up front) and
 * either updates all rows the callback rewrites or none.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

import type { Database } from '../storage/database.ts';
import { sqlTimestamp } from '../storage/database.ts';
import { storageUnavailable } from '../storage/errors.ts';
import { VouchError } from '../errors.ts';
import { JWE_ENCRYPTION_ALG, JWE_KEYWRAP_ALG } from '../crypto/jwe.ts';
import type { SignerTables } from './schema.ts';

export interface StoredKey {
  readonly keyId: string;
  readonly algorithm: string;
  readonly passphraseAlias: string;
  readonly publicKey: Uint8Array;
  /** Compact JWE text. */
  readonly jwe: string;
  readonly gun: string;
  readonly role: string;
  readonly lastUsed: boolean;
}

/** A row to insert: everything stored except `last_used`, which starts empty. */
export type NewKeyRow = Omit<StoredKey, 'lastUsed'>;

export interface AliasCount {
  readonly alias: string;
  readonly keys: number;
}

/** A rewrite of one row's encryption, or undefined to leave the row as it is. */
export type RowRewrite = (row: StoredKey) => Promise<{ readonly jwe: string; readonly passphraseAlias: string } | undefined>;

const KEY_COLUMNS = ['key_id', 'algorithm', 'passphrase_alias', 'public', 'private', 'gun', 'role', 'last_used'] as const;

interface KeyRow {
  key_id: string;
  algorithm: string;
  passphrase_alias: string;
  public: Buffer;
  private: Buffer | string;
  gun: string;
  role: string;
  last_used: Date | string | null;
}

function toStored(r: KeyRow): StoredKey {
  return {
    keyId: r.key_id, algorithm: r.algorithm, passphraseAlias: r.passphrase_alias,
    publicKey: new Uint8Array(r.public), jwe: typeof r.private === 'string' ? r.private : r.private.toString('latin1'),
    gun: r.gun, role: r.role, lastUsed: r.last_used !== null,
  };
}

export class SqlKeyStore {
  readonly database: Database<SignerTables>;
  private readonly db: Kysely<SignerTables>;

  constructor(database: Database<SignerTables>) {
    this.database = database;
    this.db = database.db;
  }

  async get(keyId: string): Promise<StoredKey | undefined> {
    try {
      const row = await this.db.selectFrom('private_keys').select(KEY_COLUMNS)
        .where('key_id', '=', keyId).where('deleted_at', 'is', null).executeTakeFirst();
      return row === undefined ? undefined : toStored(row);
    } catch (e) {
      throw storageUnavailable(`reading key ${keyId}`, e);
    }
  }

  async findPending(gun: string, role: string, algorithm: string): Promise<StoredKey | undefined> {
    try {
      const row = await this.db.selectFrom('private_keys').select(KEY_COLUMNS)
        .where('role', '=', role).where('gun', '=', gun).where('algorithm', '=', algorithm)
        .where('last_used', 'is', null).where('deleted_at', 'is', null)
        .orderBy('key_id').limit(1).executeTakeFirst();
      return row === undefined ? undefined : toStored(row);
    } catch (e) {
      throw storageUnavailable('looking up a pending key', e);
    }
  }

  async insert(key: NewKeyRow, now: Date): Promise<void> {
    const ts = sqlTimestamp(now);
    try {
      await this.db.insertInto('private_keys').values({
        created_at: ts, updated_at: ts, deleted_at: null, key_id: key.keyId,
        encryption_alg: JWE_ENCRYPTION_ALG, keywrap_alg: JWE_KEYWRAP_ALG, algorithm: key.algorithm,
        passphrase_alias: key.passphraseAlias, public: Buffer.from(key.publicKey),
        private: Buffer.from(key.jwe, 'latin1'), gun: key.gun, role: key.role, last_used: null,
      }).execute();
    } catch (e) {
      throw storageUnavailable(`storing key ${key.keyId}`, e);
    }
  }

  async markUsed(keyId: string, now: Date): Promise<void> {
    const ts = sqlTimestamp(now);
    try {
      await this.db.updateTable('private_keys').set({ last_used: ts, updated_at: ts })
        .where('key_id', '=', keyId).where('deleted_at', 'is', null).execute();
    } catch (e) {
      throw storageUnavailable(`marking key ${keyId} used`, e);
    }
  }

  async softDelete(keyId: string, now: Date): Promise<void> {
    const ts = sqlTimestamp(now);
    try {
      await this.db.updateTable('private_keys').set({ deleted_at: ts, updated_at: ts })
        .where('key_id', '=', keyId).where('deleted_at', 'is', null).execute();
    } catch (e) {
      throw storageUnavailable(`deleting key ${keyId}`, e);
    }
  }

  /** Non-deleted keys per passphrase alias. */
  async aliasCounts(): Promise<AliasCount[]> {
    try {
      const rows = await this.db.selectFrom('private_keys')
        .select(['passphrase_alias', sql<number | string>`count(*)`.as('n')])
        .where('deleted_at', 'is', null).groupBy('passphrase_alias').orderBy('passphrase_alias').execute();
      return rows.map((r) => ({ alias: r.passphrase_alias, keys: Number(r.n) }));
    } catch (e) {
      throw storageUnavailable('counting keys', e);
    }
  }

  /** Non-deleted keys of one alias (all aliases when undefined), by key_id, at most `limit`. */
  async list(alias?: string, limit = 1_000_000): Promise<StoredKey[]> {
    try {
      let q = this.db.selectFrom('private_keys').select(KEY_COLUMNS).where('deleted_at', 'is', null);
      if (alias !== undefined) q = q.where('passphrase_alias', '=', alias);
      return (await q.orderBy('key_id').limit(limit).execute()).map(toStored);
    } catch (e) {
      throw storageUnavailable('listing keys', e);
    }
  }

  /** Applies `rewrite` to every non-deleted row in one transaction; returns the rewritten count. */
  async rewriteActive(rewrite: RowRewrite, now: Date): Promise<number> {
    const run = async (trx: Kysely<SignerTables>): Promise<number> => {
      let q = trx.selectFrom('private_keys').select(['id', ...KEY_COLUMNS]).where('deleted_at', 'is', null).orderBy('key_id');
      if (this.database.backend !== 'sqlite3') q = q.forUpdate();
      const rows = await q.execute();
      let changed = 0;
      for (const row of rows) {
        const next = await rewrite(toStored(row));
        if (next === undefined) continue;
        await trx.updateTable('private_keys')
          .set({ private: Buffer.from(next.jwe, 'latin1'), passphrase_alias: next.passphraseAlias, updated_at: sqlTimestamp(now) })
          .where('id', '=', row.id).execute();
        changed++;
      }
      return changed;
    };
    try {
      if (this.database.backend !== 'sqlite3') return await this.db.transaction().execute(run);
      // A deferred SQLite transaction could fail to upgrade its read lock: take the write lock first.
      return await this.db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        try {
          const n = await run(conn);
          await sql`commit`.execute(conn);
          return n;
        } catch (e) {
          await sql`rollback`.execute(conn).catch(() => undefined);
          throw e;
        }
      });
    } catch (e) {
      if (e instanceof VouchError) throw e;
      throw storageUnavailable('re-encrypting keys', e);
    }
  }
}

/**
 * The signer's table `private_keys`, exactly as notary-signer's migrations define it
 * (docs/formats.md §9.2), on SQLite, PostgreSQL and MySQL/MariaDB.
 *
 * `CREATE TABLE IF NOT EXISTS` lets Vouch adopt a database that notary's own migrations already
 * set up; the constraint names (`key_id`, `key_id_2`) are notary's. Timestamps are written as UTC
 * text (see `sqlTimestamp`); drivers may read them back as text or Date, and nothing here reads
 * them except for NULL checks.
 */
import type { ColumnType, Generated } from 'kysely';

import type { SqlMigration } from '../storage/migrations.ts';

type Timestamp = ColumnType<Date | string | null, string | null, string | null>;

export interface PrivateKeysTable {
  id: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: Timestamp;
  key_id: string;
  encryption_alg: string;
  keywrap_alg: string;
  algorithm: string;
  passphrase_alias: string;
  /** Raw public bytes: DER SPKI (ecdsa) or 32 bytes (ed25519). */
  public: ColumnType<Buffer, Buffer, Buffer>;
  /** The compact JWE text, as bytes (bytea/blob); a foreign SQLite writer may have stored TEXT. */
  private: ColumnType<Buffer | string, Buffer, Buffer>;
  gun: string;
  role: string;
  last_used: Timestamp;
}

export interface SignerTables {
  private_keys: PrivateKeysTable;
}

export const SIGNER_COMPONENT = 'signer';

const COLUMNS = [
  'key_id varchar(255) NOT NULL',
  'encryption_alg varchar(255) NOT NULL',
  'keywrap_alg varchar(255) NOT NULL',
  'algorithm varchar(50) NOT NULL',
  'passphrase_alias varchar(50) NOT NULL',
];

export const SIGNER_MIGRATIONS: readonly SqlMigration[] = [
  {
    name: '0001_private_keys',
    up: {
      sqlite3: [`CREATE TABLE IF NOT EXISTS private_keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at datetime NULL DEFAULT NULL,
  updated_at datetime NULL DEFAULT NULL,
  deleted_at datetime NULL DEFAULT NULL,
  ${COLUMNS.join(',\n  ')},
  public blob NOT NULL,
  private blob NOT NULL,
  gun varchar(255) NOT NULL,
  role varchar(255) NOT NULL,
  last_used datetime NULL DEFAULT NULL,
  CONSTRAINT key_id UNIQUE (key_id),
  CONSTRAINT key_id_2 UNIQUE (key_id, algorithm)
)`],
      postgres: [`CREATE TABLE IF NOT EXISTS "private_keys" (
  "id" serial PRIMARY KEY,
  "created_at" timestamp NULL DEFAULT NULL,
  "updated_at" timestamp NULL DEFAULT NULL,
  "deleted_at" timestamp NULL DEFAULT NULL,
  ${COLUMNS.map((c) => c.replace(/^(\w+)/, '"$1"')).join(',\n  ')},
  "public" bytea NOT NULL,
  "private" bytea NOT NULL,
  "gun" varchar(255) NOT NULL,
  "role" varchar(255) NOT NULL,
  "last_used" timestamp NULL DEFAULT NULL,
  CONSTRAINT "key_id" UNIQUE ("key_id"),
  CONSTRAINT "key_id_2" UNIQUE ("key_id", "algorithm")
)`],
      mysql: [`CREATE TABLE IF NOT EXISTS \`private_keys\` (
  \`id\` int(11) NOT NULL AUTO_INCREMENT,
  \`created_at\` timestamp NULL DEFAULT NULL,
  \`updated_at\` timestamp NULL DEFAULT NULL,
  \`deleted_at\` timestamp NULL DEFAULT NULL,
  ${COLUMNS.map((c) => c.replace(/^(\w+)/, '`$1`')).join(',\n  ')},
  \`public\` blob NOT NULL,
  \`private\` blob NOT NULL,
  \`gun\` varchar(255) NOT NULL,
  \`role\` varchar(255) NOT NULL,
  \`last_used\` datetime NULL DEFAULT NULL,
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`key_id\` (\`key_id\`),
  UNIQUE KEY \`key_id_2\` (\`key_id\`, \`algorithm\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8`],
    },
  },
];

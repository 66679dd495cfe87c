/**
 * The trust server's tables (docs/formats.md §9.3): `tuf_files`, `change_category` and
 * `changefeed`, as notary's migrations define them, on SQLite, PostgreSQL and MySQL/MariaDB.
 *
 * Deliberate differences from notary's DDL, each a fix: `version` is BIGINT (Cure53 TUF-01-002:
 * version 2147483648 must be accepted), and MySQL text columns use the binary collation
 * `utf8mb4_bin` (notary's default case-insensitive collation makes `A/B` and `a/b` one GUN).
 * `CREATE TABLE IF NOT EXISTS` adopts a database that notary's own migrations created.
 */
import type { ColumnType, Generated } from 'kysely';
import type { SqlMigration } from '../storage/migrations.ts';

type Timestamp = ColumnType<Date | string | null, string | null, string | null>;

export interface TufFilesTable {
  id: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: Timestamp;
  gun: string;
  role: string;
  /** pg and mysql2 return BIGINT as a string. */
  version: ColumnType<number | string, number, number>;
  data: ColumnType<Buffer, Buffer, Buffer>;
  sha256: string | null;
}

export interface ChangefeedTable {
  id: Generated<number | string>;
  created_at: Timestamp;
  gun: string;
  version: ColumnType<number | string, number, number>;
  sha256: string | null;
  category: string;
}

export interface ServerTables {
  tuf_files: TufFilesTable;
  changefeed: ChangefeedTable;
}

export const SERVER_COMPONENT = 'server';

/** PostgreSQL: every write transaction notifies this channel with the GUN (pg-notify.ts listens). */
export const NOTIFY_CHANNEL = 'vouch_tuf';

export const SERVER_MIGRATIONS: readonly SqlMigration[] = [
  {
    name: '0001_tuf_files_changefeed',
    up: {
      sqlite3: [
        `CREATE TABLE IF NOT EXISTS tuf_files (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at datetime NULL DEFAULT NULL,
  updated_at datetime NULL DEFAULT NULL,
  deleted_at datetime NULL DEFAULT NULL,
  gun varchar(255) NOT NULL,
  role varchar(255) NOT NULL,
  version bigint NOT NULL,
  data blob NOT NULL,
  sha256 char(64) NULL,
  CONSTRAINT gun UNIQUE (gun, role, version)
)`,
        'CREATE INDEX IF NOT EXISTS tuf_files_sha256_idx ON tuf_files (sha256)',
        'CREATE TABLE IF NOT EXISTS change_category (category varchar(20) PRIMARY KEY)',
        "INSERT OR IGNORE INTO change_category (category) VALUES ('update'), ('deletion')",
        `CREATE TABLE IF NOT EXISTS changefeed (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  gun varchar(255) NOT NULL,
  version bigint NOT NULL,
  sha256 char(64) NULL,
  category varchar(20) NOT NULL DEFAULT 'update' REFERENCES change_category (category)
)`,
        'CREATE INDEX IF NOT EXISTS changefeed_gun_idx ON changefeed (gun)',
      ],
      postgres: [
        `CREATE TABLE IF NOT EXISTS "tuf_files" (
  "id" serial PRIMARY KEY,
  "created_at" timestamp NULL DEFAULT NULL,
  "updated_at" timestamp NULL DEFAULT NULL,
  "deleted_at" timestamp NULL DEFAULT NULL,
  "gun" varchar(255) NOT NULL,
  "role" varchar(255) NOT NULL,
  "version" bigint NOT NULL,
  "data" bytea NOT NULL,
  "sha256" char(64) NULL,
  CONSTRAINT "tuf_files_gun_role_version_key" UNIQUE ("gun", "role", "version")
)`,
        'CREATE INDEX IF NOT EXISTS "tuf_files_sha256_idx" ON "tuf_files" ("sha256")',
        'CREATE TABLE IF NOT EXISTS "change_category" ("category" varchar(20) PRIMARY KEY)',
        `INSERT INTO "change_category" ("category") VALUES ('update'), ('deletion') ON CONFLICT DO NOTHING`,
        `CREATE TABLE IF NOT EXISTS "changefeed" (
  "id" serial PRIMARY KEY,
  "created_at" timestamp DEFAULT CURRENT_TIMESTAMP,
  "gun" varchar(255) NOT NULL,
  "version" bigint NOT NULL,
  "sha256" char(64) NULL,
  "category" varchar(20) NOT NULL DEFAULT 'update' REFERENCES "change_category" ("category")
)`,
        'CREATE INDEX IF NOT EXISTS "changefeed_gun_idx" ON "changefeed" ("gun")',
      ],
      mysql: [
        `CREATE TABLE IF NOT EXISTS \`tuf_files\` (
  \`id\` int(11) NOT NULL AUTO_INCREMENT,
  \`created_at\` timestamp(3) NULL DEFAULT NULL,
  \`updated_at\` timestamp(3) NULL DEFAULT NULL,
  \`deleted_at\` timestamp(3) NULL DEFAULT NULL,
  \`gun\` varchar(255) NOT NULL,
  \`role\` varchar(255) NOT NULL,
  \`version\` bigint NOT NULL,
  \`data\` longblob NOT NULL,
  \`sha256\` char(64) DEFAULT NULL,
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`gun\` (\`gun\`, \`role\`, \`version\`),
  INDEX \`sha256\` (\`sha256\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
        'CREATE TABLE IF NOT EXISTS `change_category` (`category` varchar(20) PRIMARY KEY) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
        "INSERT IGNORE INTO `change_category` (`category`) VALUES ('update'), ('deletion')",
        `CREATE TABLE IF NOT EXISTS \`changefeed\` (
  \`id\` int(11) NOT NULL AUTO_INCREMENT,
  \`created_at\` timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  \`gun\` varchar(255) NOT NULL,
  \`version\` bigint NOT NULL,
  \`sha256\` char(64) DEFAULT NULL,
  \`category\` varchar(20) NOT NULL DEFAULT 'update',
  PRIMARY KEY (\`id\`),
  FOREIGN KEY (\`category\`) REFERENCES \`change_category\` (\`category\`),
  INDEX \`idx_changefeed_gun\` (\`gun\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
      ],
    },
  },
];

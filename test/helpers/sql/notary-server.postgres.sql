-- Schema notary-server 0.7 expects on PostgreSQL (tables of docs/formats.md §9.3). notary ships
-- no migrations in the Debian package and never creates tables itself, so the harness applies
-- this to each fresh database. Column names and types follow what the server's gorm models read
-- and write; the server maps a UNIQUE(gun, role, version) violation to the VERSION error.
CREATE TABLE tuf_files (
  id         serial PRIMARY KEY,
  created_at timestamp NULL,
  updated_at timestamp NULL,
  deleted_at timestamp NULL,
  gun        varchar(255) NOT NULL,
  role       varchar(255) NOT NULL,
  version    integer NOT NULL,
  data       bytea NOT NULL,
  sha256     char(64) NULL,
  CONSTRAINT tuf_files_gun_role_version_key UNIQUE (gun, role, version)
);
CREATE INDEX tuf_files_sha256_idx ON tuf_files (sha256);

CREATE TABLE change_category (
  category varchar(20) PRIMARY KEY
);
INSERT INTO change_category (category) VALUES ('update'), ('deletion');

CREATE TABLE changefeed (
  id         serial PRIMARY KEY,
  created_at timestamp DEFAULT CURRENT_TIMESTAMP,
  gun        varchar(255) NOT NULL,
  version    integer NOT NULL,
  sha256     char(64) NULL,
  category   varchar(20) NOT NULL DEFAULT 'update' REFERENCES change_category (category)
);
CREATE INDEX changefeed_gun_idx ON changefeed (gun);

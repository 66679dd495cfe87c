-- Schema notary-signer 0.7 expects on PostgreSQL (table `private_keys` of docs/formats.md §9.2).
-- The signer never creates it; the harness applies this to each fresh database. `private` holds
-- the compact-JWE text of the encrypted key, `public` the raw public bytes.
CREATE TABLE private_keys (
  id               serial PRIMARY KEY,
  created_at       timestamp NULL,
  updated_at       timestamp NULL,
  deleted_at       timestamp NULL,
  key_id           varchar(255) NOT NULL,
  encryption_alg   varchar(255) NOT NULL,
  keywrap_alg      varchar(255) NOT NULL,
  algorithm        varchar(50) NOT NULL,
  passphrase_alias varchar(50) NOT NULL,
  public           bytea NOT NULL,
  private          bytea NOT NULL,
  gun              varchar(255) NOT NULL,
  role             varchar(255) NOT NULL,
  last_used        timestamp NULL,
  CONSTRAINT private_keys_key_id_key UNIQUE (key_id),
  CONSTRAINT private_keys_key_id_algorithm_key UNIQUE (key_id, algorithm)
);

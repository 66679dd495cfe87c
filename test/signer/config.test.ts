// notary-signer configuration parsing with NOTARY_SIGNER_* overrides, listen addresses, and the
// storage db_url forms notary accepts (lib/pq URL and key/value DSN, go-sql-driver DSN).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { listenAddress, parseSignerConfig } from '../../src/signer/config.ts';
import { SignerError, passphraseEnvName } from '../../src/signer/errors.ts';
import { envPassphrases } from '../../src/signer/key-crypto.ts';
import { parseMysqlUrl, parsePostgresUrl, redactDbUrl, sqlitePath, storageConfig } from '../../src/storage/config.ts';
import { StorageError } from '../../src/storage/errors.ts';

const FULL = {
  server: { grpc_addr: ':7899', tls_cert_file: 'certs/signer.crt', tls_key_file: '/abs/signer.key', client_ca_file: 'certs/ca.crt' },
  logging: { level: 'debug' },
  storage: { backend: 'postgres', db_url: 'postgres://signer:pw@db:5432/notarysigner?sslmode=verify-full', default_alias: 'timestamp_1' },
  reporting: { bugsnag: { api_key: 'ignored' } },
};

const parse = (json: unknown, env: Record<string, string> = {}) => parseSignerConfig(JSON.stringify(json), '/etc/notary/signer.json', env);

function configError(message: string | RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof SignerError, String(e));
    assert.equal(e.code, 'SIGNER_CONFIG_INVALID');
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  };
}

void describe('parseSignerConfig', () => {
  void test('reads notary-signer\'s keys; paths are relative to the config file', () => {
    assert.deepEqual(parse(FULL), {
      configFile: '/etc/notary/signer.json', grpcAddr: ':7899', memory: false, defaultAlias: 'timestamp_1', logLevel: 'debug',
      storage: { backend: 'postgres', dbUrl: 'postgres://signer:pw@db:5432/notarysigner?sslmode=verify-full' },
      tls: { certFile: '/etc/notary/certs/signer.crt', keyFile: '/abs/signer.key', clientCaFile: '/etc/notary/certs/ca.crt' },
    });
  });

  void test('NOTARY_SIGNER_<SECTION>_<KEY> overrides every key; empty values do not', () => {
    const c = parse(FULL, {
      NOTARY_SIGNER_SERVER_GRPC_ADDR: '127.0.0.1:9999', NOTARY_SIGNER_SERVER_TLS_CERT_FILE: '/x/c.crt',
      NOTARY_SIGNER_SERVER_TLS_KEY_FILE: 'k.key', NOTARY_SIGNER_SERVER_CLIENT_CA_FILE: '',
      NOTARY_SIGNER_STORAGE_BACKEND: 'mysql', NOTARY_SIGNER_STORAGE_DB_URL: 'root@tcp(127.0.0.1:3306)/signer?parseTime=true',
      NOTARY_SIGNER_STORAGE_DEFAULT_ALIAS: 'other', NOTARY_SIGNER_LOGGING_LEVEL: 'warning',
    });
    assert.equal(c.grpcAddr, '127.0.0.1:9999');
    assert.deepEqual(c.tls, { certFile: '/x/c.crt', keyFile: '/etc/notary/k.key', clientCaFile: '/etc/notary/certs/ca.crt' });
    assert.deepEqual(c.storage, { backend: 'mysql', dbUrl: 'root@tcp(127.0.0.1:3306)/signer?parseTime=true' });
    assert.equal(c.defaultAlias, 'other');
    assert.equal(c.logLevel, 'warn');
  });

  void test('the default alias falls back to NOTARY_SIGNER_DEFAULT_ALIAS; the log level defaults to error', () => {
    const noAlias = { ...FULL, storage: { backend: 'sqlite3', db_url: 'keys.db' }, logging: {} };
    const c = parse(noAlias, { NOTARY_SIGNER_DEFAULT_ALIAS: 'legacy' });
    assert.equal(c.defaultAlias, 'legacy');
    assert.equal(c.logLevel, 'error');
    assert.deepEqual(c.storage, { backend: 'sqlite3', dbUrl: '/etc/notary/keys.db' });
    assert.equal(parse(noAlias).defaultAlias, undefined);
  });

  void test('memory backend: private in-memory SQLite with notary\'s constant alias', () => {
    const c = parse({ ...FULL, storage: { backend: 'memory' } });
    assert.deepEqual([c.storage, c.memory, c.defaultAlias], [{ backend: 'sqlite3', dbUrl: ':memory:' }, true, 'memory']);
  });

  void test('refusals with notary\'s wording', () => {
    assert.throws(() => parse({ ...FULL, server: { ...FULL.server, grpc_addr: '' } }), configError('grpc listen address required for server'));
    assert.throws(() => parse({ ...FULL, storage: { backend: 'oracle', db_url: 'x' } }),
      configError('oracle is not a supported SQL backend driver (use sqlite3, postgres, mysql)'));
    assert.throws(() => parse({ ...FULL, storage: { backend: 'postgres' } }), configError('must provide a non-empty database source for postgres'));
    assert.throws(() => parse({ ...FULL, storage: { backend: 'rethinkdb', db_url: 'x' } }), configError(/^rethinkdb is not supported/));
    assert.throws(() => parse({ ...FULL, logging: { level: 'loud' } }), configError('not a valid logrus Level: "loud"'));
    assert.throws(() => parse({ ...FULL, server: { ...FULL.server, grpc_addr: { port: 1 } } }), configError('config key server.grpc_addr must be a string'));
    assert.throws(() => parseSignerConfig('{"server":', '/x/signer.json', {}), configError(/^Could not read config at :\/x\/signer\.json, error: /));
    assert.throws(() => parseSignerConfig('[]', '/x/signer.json', {}), configError(/not a JSON object/));
  });
});

void describe('alias passphrase variables', () => {
  void test('NOTARY_SIGNER_<ALIAS> upper-cased with dots as underscores; empty counts as unset', () => {
    assert.equal(passphraseEnvName('timestamp_1'), 'NOTARY_SIGNER_TIMESTAMP_1');
    assert.equal(passphraseEnvName('prod.v2'), 'NOTARY_SIGNER_PROD_V2');
    const lookup = envPassphrases({ NOTARY_SIGNER_PROD_V2: 'p', NOTARY_SIGNER_EMPTY: '' });
    assert.equal(lookup('prod.v2'), 'p');
    assert.equal(lookup('Prod.V2'), 'p');
    assert.equal(lookup('empty'), undefined);
    assert.equal(lookup('missing'), undefined);
  });
});

void describe('listenAddress', () => {
  void test('Go listen syntax to grpc-js host:port', () => {
    assert.equal(listenAddress(':7899'), '0.0.0.0:7899');
    assert.equal(listenAddress('127.0.0.1:0'), '127.0.0.1:0');
    assert.equal(listenAddress('[::1]:7899'), '[::1]:7899');
    assert.equal(listenAddress('notarysigner:7899'), 'notarysigner:7899');
    for (const bad of ['7899', '1.2.3.4:', ':99999', 'a:b', '::1:7899']) assert.throws(() => listenAddress(bad), configError(/is not host:port/), bad);
  });
});

void describe('storage db_url forms', () => {
  void test('PostgreSQL URL and key/value DSN, with lib/pq\'s sslmode default', () => {
    assert.deepEqual(parsePostgresUrl('postgres://postgres@127.0.0.1:5432/vouch_x?sslmode=disable'),
      { host: '127.0.0.1', port: 5432, user: 'postgres', password: undefined, database: 'vouch_x', sslMode: 'disable',
        sslRootCert: undefined, sslCert: undefined, sslKey: undefined });
    const full = parsePostgresUrl('postgresql://u%40x:p%3Aw@db.example:6543/signer?sslmode=verify-full&sslrootcert=/ca.pem');
    assert.deepEqual([full.user, full.password, full.host, full.port, full.database, full.sslMode, full.sslRootCert],
      ['u@x', 'p:w', 'db.example', 6543, 'signer', 'verify-full', '/ca.pem']);
    assert.equal(parsePostgresUrl('postgres://h/db').sslMode, 'require');
    const kv = parsePostgresUrl("host=/var/run/postgresql dbname=notarysigner user=signer password='a b\\'c' sslmode=disable");
    assert.deepEqual([kv.host, kv.database, kv.user, kv.password, kv.sslMode, kv.port], ['/var/run/postgresql', 'notarysigner', 'signer', "a b'c", 'disable', 5432]);
    for (const bad of ['postgres://h/db?sslmode=sometimes', 'host=x port=99999', 'garbage', 'postgres://[bad']) {
      assert.throws(() => parsePostgresUrl(bad), (e: unknown) => e instanceof StorageError && e.code === 'STORAGE_CONFIG_INVALID', bad);
    }
  });

  void test('go-sql-driver DSN and mysql:// URL', () => {
    assert.deepEqual(parseMysqlUrl('root@tcp(127.0.0.1:3306)/notarysigner?parseTime=True'),
      { host: '127.0.0.1', port: 3306, database: 'notarysigner', user: 'root' });
    assert.deepEqual(parseMysqlUrl('signer:p@ss@tcp(mysql:3307)/keys?parseTime=true&timeout=2s'),
      { host: 'mysql', port: 3307, database: 'keys', user: 'signer', password: 'p@ss', connectTimeoutMs: 2000 });
    assert.deepEqual(parseMysqlUrl('u@unix(/run/mysqld/mysqld.sock)/db'), { socketPath: '/run/mysqld/mysqld.sock', database: 'db', user: 'u' });
    assert.deepEqual(parseMysqlUrl('/db'), { host: '127.0.0.1', port: 3306, database: 'db' });
    assert.deepEqual(parseMysqlUrl('mysql://root:pw@127.0.0.1:3306/db'), { host: '127.0.0.1', port: 3306, database: 'db', user: 'root', password: 'pw' });
    for (const bad of ['root@tcp(127.0.0.1:3306)', 'root@tcp(127.0.0.1:3306)/', 'root@udp(x)/db']) {
      assert.throws(() => parseMysqlUrl(bad), (e: unknown) => e instanceof StorageError && e.code === 'STORAGE_CONFIG_INVALID', bad);
    }
  });

  void test('SQLite paths, and redaction of passwords for logs', () => {
    assert.equal(sqlitePath('file:/var/lib/vouch/signer.db?cache=shared'), '/var/lib/vouch/signer.db');
    assert.equal(sqlitePath(':memory:'), ':memory:');
    assert.throws(() => storageConfig('sqlite3', ''), (e: unknown) => e instanceof StorageError);
    assert.equal(redactDbUrl({ backend: 'postgres', dbUrl: 'postgres://u:secret@h/db' }), 'postgres://u:xxxxx@h/db');
    assert.equal(redactDbUrl({ backend: 'postgres', dbUrl: "host=h password='s e' dbname=d" }), 'host=h password=xxxxx dbname=d');
    assert.equal(redactDbUrl({ backend: 'mysql', dbUrl: 'signer:p@ss@tcp(h:3306)/db?x=1' }), 'signer:xxxxx@tcp(h:3306)/db?x=1');
    assert.equal(redactDbUrl({ backend: 'mysql', dbUrl: 'root@tcp(h:3306)/db' }), 'root@tcp(h:3306)/db');
  });
});

// notary-server configuration parsing (docs/compatibility.md G1, G13–G21): notary's documented example,
// NOTARY_SERVER_* overrides, relative paths, and every refusal with its message.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { parseHttpAddr, parseServerConfig, ServerConfigError } from '../../src/server/config.ts';

const NOTARY_EXAMPLE = {
  server: { http_addr: ':4443', tls_key_file: './fixtures/notary-server.key', tls_cert_file: './fixtures/notary-server.crt' },
  trust_service: {
    type: 'remote', hostname: 'notarysigner', port: '7899', key_algorithm: 'ecdsa',
    tls_ca_file: './fixtures/root-ca.crt', tls_client_cert: './fixtures/notary-server.crt', tls_client_key: './fixtures/notary-server.key',
  },
  logging: { level: 'debug' },
  storage: { backend: 'mysql', db_url: 'server@tcp(mysql:3306)/notaryserver?parseTime=True' },
  auth: { type: 'token', options: { realm: 'https://auth.docker.io/token', service: 'notary.docker.io', issuer: 'auth.docker.io', rootcertbundle: '/path/to/auth.docker.io/cert' } },
  caching: { max_age: { current_metadata: 300, consistent_metadata: 31536000 } },
  repositories: { gun_prefixes: ['docker.io/', 'my-own-registry.com/'] },
};

const parse = (doc: unknown, env: Record<string, string> = {}) => parseServerConfig(JSON.stringify(doc), '/etc/notary/server.json', env);

function refuses(doc: unknown, message: string | RegExp, env: Record<string, string> = {}): void {
  assert.throws(() => parse(doc, env), (e: unknown) => e instanceof ServerConfigError && (typeof message === 'string' ? e.message === message : message.test(e.message)));
}

const with_ = (path: string, value: unknown): Record<string, unknown> => {
  const doc = structuredClone(NOTARY_EXAMPLE) as Record<string, unknown>;
  const keys = path.split('.');
  let o = doc;
  for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  if (value === undefined) delete o[keys.at(-1)!];
  else o[keys.at(-1)!] = value;
  return doc;
};

void describe('notary-server configuration', () => {
  void test("notary's documented example parses, paths relative to the config file", () => {
    assert.deepEqual(parse(NOTARY_EXAMPLE), {
      httpAddr: { host: '0.0.0.0', port: 4443 },
      tls: { certFile: '/etc/notary/fixtures/notary-server.crt', keyFile: '/etc/notary/fixtures/notary-server.key' },
      trustService: {
        type: 'remote', hostname: 'notarysigner', port: 7899, keyAlgorithm: 'ecdsa', tlsCaFile: '/etc/notary/fixtures/root-ca.crt',
        tlsClientCert: '/etc/notary/fixtures/notary-server.crt', tlsClientKey: '/etc/notary/fixtures/notary-server.key',
      },
      storage: { backend: 'mysql', dbUrl: 'server@tcp(mysql:3306)/notaryserver?parseTime=True' },
      auth: { realm: 'https://auth.docker.io/token', service: 'notary.docker.io', issuer: 'auth.docker.io', rootCertBundle: '/path/to/auth.docker.io/cert', autoRedirect: false },
      cacheControl: { currentMaxAge: 300, consistentMaxAge: 31536000 },
      gunPrefixes: ['docker.io/', 'my-own-registry.com/'],
      logLevel: 'debug',
    });
  });

  void test('NOTARY_SERVER_* variables override scalar keys, even keys absent from the file', () => {
    const c = parse(NOTARY_EXAMPLE, {
      NOTARY_SERVER_STORAGE_DB_URL: 'postgres://u@db/notary', NOTARY_SERVER_STORAGE_BACKEND: 'postgres',
      NOTARY_SERVER_SERVER_HTTP_ADDR: '127.0.0.1:9443', NOTARY_SERVER_TRUST_SERVICE_TYPE: 'local',
      NOTARY_SERVER_CACHING_MAX_AGE_CURRENT_METADATA: '0', NOTARY_SERVER_REPOSITORIES_GUN_PREFIXES: 'a/ b/',
      NOTARY_SERVER_LOGGING_LEVEL: 'warning',
    });
    assert.deepEqual(c.storage, { backend: 'postgres', dbUrl: 'postgres://u@db/notary' });
    assert.deepEqual(c.httpAddr, { host: '127.0.0.1', port: 9443 });
    assert.deepEqual(c.trustService, { type: 'local', keyAlgorithm: 'ecdsa', defaultAlias: 'vouch' });
    assert.equal(c.cacheControl.currentMaxAge, 0);
    assert.deepEqual(c.gunPrefixes, ['a/', 'b/']);
    assert.equal(c.logLevel, 'warn');
    const sqlite = parse(with_('storage', { backend: 'sqlite3', db_url: '/var/lib/vouch/server.db' }));
    assert.deepEqual(sqlite.storage, { backend: 'sqlite3', dbUrl: '/var/lib/vouch/server.db' });
  });

  void test('refusals use notary wording', () => {
    refuses(with_('server.http_addr', undefined), 'http listen address required for server');
    refuses(with_('trust_service.type', 'hsm'), 'must specify either a "local" or "remote" type for trust_service');
    refuses(with_('trust_service.key_algorithm', 'dsa'), 'invalid key algorithm configured: dsa');
    refuses(with_('storage.backend', 'rethinkdb'), 'rethinkdb is not a supported storage backend');
    refuses(with_('storage.db_url', ''), 'must provide a non-empty database source for mysql');
    refuses(with_('caching.max_age.current_metadata', 31536001), 'must specify a cache-control max-age between 0 and 31536000');
    refuses(with_('caching.max_age.consistent_metadata', -1), 'must specify a cache-control max-age between 0 and 31536000');
    refuses(with_('repositories.gun_prefixes', ['docker.io']), 'invalid GUN prefix docker.io');
    refuses(with_('repositories.gun_prefixes', ['../x/']), 'invalid GUN prefix ../x/');
    refuses(with_('trust_service.tls_client_key', undefined), 'either pass both client key and cert, or neither');
    refuses(with_('server.tls_key_file', undefined), /^Partial TLS configuration found/);
    refuses(with_('auth.options', { realm: 'r' }), 'token auth requires a valid option string: "service"');
    refuses(with_('logging.level', 'loud'), 'not a valid logrus Level: "loud"');
    refuses(with_('logging.level', 'constructor'), 'not a valid logrus Level: "constructor"');
    assert.throws(() => parseServerConfig('{ nope', '/x.json', {}), /could not read configuration \/x\.json/);
  });

  void test('listen addresses as Go writes them', () => {
    assert.deepEqual(parseHttpAddr(':4443'), { host: '0.0.0.0', port: 4443 });
    assert.deepEqual(parseHttpAddr('[::1]:4443'), { host: '::1', port: 4443 });
    assert.deepEqual(parseHttpAddr('localhost:0'), { host: 'localhost', port: 0 });
    assert.throws(() => parseHttpAddr('4443'), ServerConfigError);
    assert.throws(() => parseHttpAddr('host:99999'), ServerConfigError);
  });
});

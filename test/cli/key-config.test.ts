// The notary client config loader (docs/formats.md §10.5, docs/compatibility.md J1–J3) and the trust-dir
// defaults of `vouch key` (docker's) and notary mode.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkTlsClientPair, DEFAULT_NOTARY_SERVER_URL, defaultTrustDir, loadClientConfig } from '../../src/cli/config.ts';
import { tempDir } from '../keystore/helpers.ts';

void describe('client config', () => {
  void test('defaults: one trust dir for every command (docker\'s), ~/.notary only where it alone exists; notary\'s server URL', () => {
    assert.equal(defaultTrustDir('docker', {}, '/home/u', '/cwd'), '/home/u/.docker/trust');
    assert.equal(defaultTrustDir('docker', { DOCKER_CONFIG: '/etc/dc' }, '/home/u', '/cwd'), '/etc/dc/trust');
    assert.equal(defaultTrustDir('docker', { DOCKER_CONFIG: 'rel' }, '/home/u', '/cwd'), '/cwd/rel/trust');
    assert.equal(defaultTrustDir('notary', { DOCKER_CONFIG: '/etc/dc' }, '/home/u', '/cwd', () => false), '/etc/dc/trust');
    const only = (...paths: string[]) => (p: string) => paths.includes(p);
    assert.equal(defaultTrustDir('notary', {}, '/home/u', '/cwd', only('/home/u/.notary/private')), '/home/u/.notary');
    assert.equal(defaultTrustDir('docker', {}, '/home/u', '/cwd', only('/home/u/.notary/tuf')), '/home/u/.notary');
    assert.equal(defaultTrustDir('docker', {}, '/home/u', '/cwd', only('/home/u/.notary/private', '/home/u/.docker/trust')), '/home/u/.docker/trust');
    const docker = loadClientConfig({ defaults: 'docker', env: {}, home: '/home/u', cwd: '/cwd' });
    assert.deepEqual(docker, {
      configFile: undefined, trustDir: '/home/u/.docker/trust',
      remoteServer: { url: undefined, rootCa: undefined, tlsClientCert: undefined, tlsClientKey: undefined, skipTlsVerify: false },
      trustPinning: { certs: {}, ca: {}, disableTofu: false },
    });
    const home = tempDir();
    assert.equal(loadClientConfig({ defaults: 'notary', env: {}, home, cwd: '/cwd' }).remoteServer.url, DEFAULT_NOTARY_SERVER_URL);
  });

  void test('a config file: paths relative to its directory, ~ expanded, keys case-insensitive, flags win', () => {
    const home = tempDir();
    const dir = join(home, 'conf');
    mkdirSync(dir);
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({
      trust_dir: 'trust',
      remote_server: { url: 'https://notary.example.com:4443', root_ca: 'ca.crt', tls_client_cert: '~/c.crt', tls_client_key: '/abs/c.key', skipTLSVerify: true },
      trust_pinning: { certs: { 'docker.com/notary': ['abc'] }, ca: { 'docker.com/': 'ca-bundle.pem' }, disable_tofu: 'true' },
    }));
    const c = loadClientConfig({ defaults: 'docker', configFile: file, env: {}, home, cwd: '/cwd' });
    assert.deepEqual(c, {
      configFile: file,
      trustDir: join(dir, 'trust'),
      remoteServer: {
        url: 'https://notary.example.com:4443', rootCa: join(dir, 'ca.crt'), tlsClientCert: join(home, 'c.crt'),
        tlsClientKey: '/abs/c.key', skipTlsVerify: true,
      },
      trustPinning: { certs: { 'docker.com/notary': ['abc'] }, ca: { 'docker.com/': join(dir, 'ca-bundle.pem') }, disableTofu: true },
    });
    const flags = loadClientConfig({
      defaults: 'docker', configFile: file, trustDir: 'd', server: 'https://other', tlsCaCert: 'x.pem', env: {}, home, cwd: '/cwd',
    });
    assert.equal(flags.trustDir, '/cwd/d');
    assert.equal(flags.remoteServer.url, 'https://other');
    assert.equal(flags.remoteServer.rootCa, '/cwd/x.pem');
    const upper = join(dir, 'upper.json');
    writeFileSync(upper, JSON.stringify({ TRUST_DIR: '~/t', Remote_Server: { URL: 'https://u' } }));
    const u = loadClientConfig({ defaults: 'docker', configFile: upper, env: {}, home, cwd: '/cwd' });
    assert.deepEqual([u.trustDir, u.remoteServer.url], [join(home, 't'), 'https://u']);
  });

  void test('every mode reads ~/.notary/config.json when present', () => {
    const home = tempDir();
    mkdirSync(join(home, '.notary'));
    writeFileSync(join(home, '.notary', 'config.json'), JSON.stringify({ trust_dir: '/srv/trust' }));
    assert.equal(loadClientConfig({ defaults: 'notary', env: {}, home }).trustDir, '/srv/trust');
    assert.equal(loadClientConfig({ defaults: 'docker', env: {}, home }).trustDir, '/srv/trust');
  });

  void test('errors name the file and the key', () => {
    const dir = tempDir();
    const write = (name: string, body: string): string => {
      writeFileSync(join(dir, name), body);
      return join(dir, name);
    };
    const cases: [string, string][] = [
      [join(dir, 'missing.json'), `error opening config file: open ${join(dir, 'missing.json')}: no such file or directory`],
      [write('bad.json', '{'), `error opening config file: ${join(dir, 'bad.json')} is not valid JSON: `],
      [write('arr.json', '[]'), `error opening config file: ${join(dir, 'arr.json')} must hold a JSON object`],
      [write('td.json', '{"trust_dir": 5}'), `invalid config file ${join(dir, 'td.json')}: trust_dir must be a string`],
      [write('rs.json', '{"remote_server": "x"}'), `invalid config file ${join(dir, 'rs.json')}: remote_server must be an object`],
      [write('sk.json', '{"remote_server": {"skipTLSVerify": "yes"}}'), `invalid config file ${join(dir, 'sk.json')}: remote_server.skiptlsverify must be true or false`],
      [write('pc.json', '{"trust_pinning": {"certs": {"g": "id"}}}'), `invalid config file ${join(dir, 'pc.json')}: invalid format for trust_pinning.certs`],
    ];
    for (const [file, message] of cases) {
      assert.throws(() => loadClientConfig({ defaults: 'docker', configFile: file, env: {} }),
        (e: unknown) => (e as { code?: string }).code === 'CONFIG_ERROR' && (e as Error).message.startsWith(message), message);
    }
    assert.throws(() => checkTlsClientPair({ url: undefined, rootCa: undefined, tlsClientCert: '/c', tlsClientKey: undefined, skipTlsVerify: false }),
      { message: 'either pass both client key and cert, or neither' });
  });
});

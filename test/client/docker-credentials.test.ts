/**
 * Docker's credential helpers as `vouch trust` uses them (src/client/docker/credentials.ts):
 * `credHelpers` per registry, `credsStore` for the rest, identity tokens, the `auths` fallback,
 * and helpers that fail. The helper here is a shell script speaking the docker-credential-helpers
 * protocol (`get`, the server key on stdin, `{"ServerURL","Username","Secret"}` on stdout, exit 1
 * with "credentials not found in native keychain"): no real keychain exists on this machine.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOCKER_HUB_AUTH_KEY, dockerCredentials } from '../../src/client/docker/credentials.ts';
import { recordingLogger } from '../../src/client/log.ts';

let dir: string;
let savedPath: string | undefined;

const HELPER = `#!/bin/sh
[ "$1" = get ] || exit 2
read -r key || true
echo "$key" >> "$(dirname "$0")/asked"
case "$key" in
  registry.example.com:5000) echo '{"ServerURL":"registry.example.com:5000","Username":"ann","Secret":"s3cret"}' ;;
  ${DOCKER_HUB_AUTH_KEY}) echo '{"ServerURL":"${DOCKER_HUB_AUTH_KEY}","Username":"<token>","Secret":"identity-token-1"}' ;;
  garbage.example.com) echo 'this is not json' ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
`;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vouch-credhelper-'));
  const helper = join(dir, 'docker-credential-vouchtest');
  writeFileSync(helper, HELPER);
  chmodSync(helper, 0o755);
  savedPath = process.env['PATH'];
  process.env['PATH'] = `${dir}:${savedPath ?? '/usr/bin:/bin'}`;
});
after(() => {
  process.env['PATH'] = savedPath;
  rmSync(dir, { recursive: true, force: true });
});

function configDir(config: unknown): string {
  const d = mkdtempSync(join(dir, 'cfg-'));
  writeFileSync(join(d, 'config.json'), JSON.stringify(config));
  return d;
}

test('credHelpers for one registry, credsStore for the rest: basic credentials and identity tokens', async () => {
  const d = configDir({ credHelpers: { 'registry.example.com:5000': 'vouchtest' }, credsStore: 'vouchtest' });
  const log = recordingLogger();
  assert.deepEqual(await dockerCredentials(d, 'registry.example.com:5000', log), { kind: 'basic', username: 'ann', password: 's3cret' });
  assert.deepEqual(await dockerCredentials(d, DOCKER_HUB_AUTH_KEY, log), { kind: 'identityToken', username: '', token: 'identity-token-1' });
  // Not in the store: no credentials, no throw, a debug line.
  assert.equal(await dockerCredentials(d, 'other.example.com', log), undefined);
  assert.equal(await dockerCredentials(d, 'garbage.example.com', log), undefined);
  assert.ok(log.lines.some((l) => l.message.includes('docker-credential-vouchtest has no credentials for other.example.com')), log.lines.map((l) => l.message).join('\n'));
  assert.ok(log.lines.some((l) => l.message.includes('answered something that is not JSON')), log.lines.map((l) => l.message).join('\n'));
  // The helper was asked under docker's keys, one server per run.
  assert.deepEqual(readFileSync(join(dir, 'asked'), 'utf8').trim().split('\n'),
    ['registry.example.com:5000', DOCKER_HUB_AUTH_KEY, 'other.example.com', 'garbage.example.com']);
});

test('a helper that is not installed or has an unsafe name yields no credentials', async () => {
  const log = recordingLogger();
  assert.equal(await dockerCredentials(configDir({ credsStore: 'not-installed' }), 'registry.example.com:5000', log), undefined);
  assert.ok(log.lines.some((l) => l.message.includes('docker-credential-not-installed')), log.lines.map((l) => l.message).join('\n'));
  assert.equal(await dockerCredentials(configDir({ credsStore: '../../bin/sh' }), 'registry.example.com:5000', log), undefined);
  assert.ok(log.lines.some((l) => l.message.includes('ignoring credential helper with an invalid name')), log.lines.map((l) => l.message).join('\n'));
});

test('without a helper, the auths section of config.json is read', async () => {
  const auth = Buffer.from('bob:hunter2').toString('base64');
  const d = configDir({ auths: { 'registry.example.com:5000': { auth } } });
  assert.deepEqual(await dockerCredentials(d, 'registry.example.com:5000', recordingLogger()), { kind: 'basic', username: 'bob', password: 'hunter2' });
  assert.equal(await dockerCredentials(d, 'elsewhere.example.com', recordingLogger()), undefined);
});

/**
 * Unit tests for the docker-trust layer: reference normalisation, server selection, TLS
 * directories, docker's message wrapping, natural tag order, and the inspect renderings (checked
 * against docker 28's own expected output for its "full repo with signers" case).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { familiarName, parseImageReference } from '../../src/client/docker/reference.ts';
import { readCertsDirectory, trustServerUrl } from '../../src/client/docker/server.ts';
import { dockerTrustError } from '../../src/client/docker/errors.ts';
import { checkSignerName, matchReleasedSignatures, naturalCompare } from '../../src/client/docker/roles.ts';
import { inspectJson, inspectPretty, tabulate, trustRepo, type TrustInfo } from '../../src/client/docker/inspect.ts';
import { VerificationError, ValidationError } from '../../src/tuf/errors.ts';
import { ClientError } from '../../src/client/errors.ts';
import { SigningError } from '../../src/tuf/sign.ts';
import type { TargetSignedStruct } from '../../src/client/reader.ts';
import type { RoleName } from '../../src/tuf/types.ts';

const D64 = 'a'.repeat(64);

test('image references normalise as docker does', () => {
  const cases: [string, string, string, string, string | undefined, string | undefined][] = [
    // input, domain, path, familiar, tag, digest
    ['alpine', 'docker.io', 'library/alpine', 'alpine', undefined, undefined],
    ['alpine:3.19', 'docker.io', 'library/alpine', 'alpine', '3.19', undefined],
    ['user/app:v1', 'docker.io', 'user/app', 'user/app', 'v1', undefined],
    ['docker.io/alpine', 'docker.io', 'library/alpine', 'alpine', undefined, undefined],
    ['index.docker.io/library/alpine:edge', 'docker.io', 'library/alpine', 'alpine', 'edge', undefined],
    ['docker.io/library/a/b', 'docker.io', 'library/a/b', 'library/a/b', undefined, undefined],
    ['localhost/app', 'localhost', 'app', 'localhost/app', undefined, undefined],
    ['localhost:5000/team/app:v1', 'localhost:5000', 'team/app', 'localhost:5000/team/app', 'v1', undefined],
    ['127.0.0.1:5000/x/y__z-w.v:Tag_1', '127.0.0.1:5000', 'x/y__z-w.v', '127.0.0.1:5000/x/y__z-w.v', 'Tag_1', undefined],
    [`reg.example.com/app@sha256:${D64}`, 'reg.example.com', 'app', 'reg.example.com/app', undefined, `sha256:${D64}`],
    [`reg.example.com/app:v1@sha256:${D64}`, 'reg.example.com', 'app', 'reg.example.com/app', 'v1', `sha256:${D64}`],
    ['Reg.Example.com/app', 'Reg.Example.com', 'app', 'Reg.Example.com/app', undefined, undefined],
  ];
  for (const [input, domain, path, familiar, tag, digest] of cases) {
    const r = parseImageReference(input);
    assert.deepEqual([r.domain, r.path, r.familiarName, r.tag, r.digest, r.name, r.official, r.original],
      [domain, path, familiar, tag, digest, `${domain}/${path}`, domain === 'docker.io', input], input);
  }
  assert.equal(familiarName('docker.io', 'library/alpine'), 'alpine');
});

test('invalid image references: docker\'s messages', () => {
  const cases: [string, string][] = [
    ['Alpine', 'invalid reference format: repository name (library/Alpine) must be lowercase'],
    ['reg:5000/Team/app', 'invalid reference format: repository name (Team/app) must be lowercase'],
    [D64, `invalid repository name (${D64}), cannot specify 64-byte hexadecimal strings`],
    ['app:bad tag', 'invalid reference format'],
    ['app:', 'invalid reference format'],
    ['', 'invalid reference format'],
    ['-app', 'invalid reference format'],
    [`app@sha256:${'a'.repeat(40)}`, 'invalid checksum digest length'],
    [`app@md5:${'a'.repeat(32)}`, 'unsupported digest algorithm'],
    [`r.io/${'a'.repeat(260)}`, 'repository name must not be more than 255 characters'],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => parseImageReference(input), (e: unknown) => e instanceof ClientError && e.code === 'INVALID_INPUT' && e.message === message, input);
  }
});

test('trust server selection (§12.1)', () => {
  const hub = parseImageReference('alpine');
  const own = parseImageReference('reg.example.com:5000/team/app');
  assert.equal(trustServerUrl(hub, {}), 'https://notary.docker.io');
  assert.equal(trustServerUrl(own, {}), 'https://reg.example.com:5000');
  assert.equal(trustServerUrl(own, { DOCKER_CONTENT_TRUST_SERVER: 'https://notary.example.com:4443' }), 'https://notary.example.com:4443');
  assert.equal(trustServerUrl(own, { DOCKER_CONTENT_TRUST_SERVER: '' }), 'https://reg.example.com:5000');
  for (const bad of ['http://notary.example.com', 'notary.example.com', '::']) {
    assert.throws(() => trustServerUrl(hub, { DOCKER_CONTENT_TRUST_SERVER: bad }), { message: `valid https URL required for trust server, got ${bad}` });
  }
});

test('certificate directories read like docker\'s ReadCertsDirectory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-certs-'));
  try {
    assert.equal(readCertsDirectory(join(dir, 'missing')), undefined);
    writeFileSync(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const tls = readCertsDirectory(dir);
    assert.ok(tls?.ca?.endsWith('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'));
    assert.ok((tls?.ca?.length ?? 0) > 10_000, 'the system roots stay trusted');
    writeFileSync(join(dir, 'client.cert'), 'cert');
    assert.throws(() => readCertsDirectory(dir), { message: 'missing key client.key for client certificate client.cert. CA certificates must use the extension .crt' });
    writeFileSync(join(dir, 'client.key'), 'key');
    assert.deepEqual([readCertsDirectory(dir)?.cert, readCertsDirectory(dir)?.key], ['cert', 'key']);
    writeFileSync(join(dir, 'other.key'), 'key');
    assert.throws(() => readCertsDirectory(dir), { message: 'missing client certificate other.cert for key other.key' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('notary errors get docker\'s consumer wording', () => {
  const repo = 'docker.io/my/image';
  const cases: [unknown, string, string][] = [
    [new VerificationError('THRESHOLD_NOT_MET', 'valid signatures did not meet threshold for targets', 'targets'), 'THRESHOLD_NOT_MET',
      'Warning: potential malicious behavior - trust data has insufficient signatures for remote repository docker.io/my/image: valid signatures did not meet threshold for targets'],
    [new VerificationError('EXPIRED', 'timestamp expired at Mon Jan  2 15:04:05 UTC 2006', 'timestamp'), 'EXPIRED',
      'Error: remote repository docker.io/my/image out-of-date: timestamp expired at Mon Jan  2 15:04:05 UTC 2006'],
    [new VerificationError('ROLLBACK', 'version 3 is lower than current version 4', 'timestamp'), 'ROLLBACK',
      'Warning: potential malicious behavior - trust data version is lower than expected for remote repository docker.io/my/image: version 3 is lower than current version 4'],
    [new VerificationError('ROOT_UNTRUSTED', 'could not validate the path to a trusted root: failed to validate integrity of roots', 'root'), 'ROOT_UNTRUSTED',
      'Warning: potential malicious behavior - trust data mismatch for remote repository docker.io/my/image: could not validate the path to a trusted root: failed to validate integrity of roots'],
    [new ClientError('REPOSITORY_NOT_EXIST', 'notary.docker.io does not have trust data for docker.io/my/image'), 'REPOSITORY_NOT_EXIST',
      'Error: remote trust data does not exist for docker.io/my/image: notary.docker.io does not have trust data for docker.io/my/image'],
    [new ClientError('NETWORK', 'could not reach https://x: connection refused (ECONNREFUSED)'), 'NETWORK',
      'Error: error contacting notary server: could not reach https://x: connection refused (ECONNREFUSED)'],
    [new ClientError('METADATA_NOT_FOUND', 'snapshot trust data unavailable.  Has a notary repository been initialized?'), 'METADATA_NOT_FOUND',
      'Error: trust data missing for remote repository docker.io/my/image or remote repository not found: snapshot trust data unavailable.  Has a notary repository been initialized?'],
    [new SigningError('NO_SIGNING_KEYS', 'could not find necessary signing keys, at least one of these keys must be available: abc', 'targets'), 'NO_SIGNING_KEYS',
      'Error: could not find signing keys for remote repository docker.io/my/image, or could not decrypt signing key: could not find necessary signing keys, at least one of these keys must be available: abc'],
    [new ValidationError('MALFORMED_JSON', 'unexpected token'), 'MALFORMED_JSON',
      'Error: no trust data available for remote repository docker.io/my/image. Try running notary server and setting DOCKER_CONTENT_TRUST_SERVER to its HTTPS address?'],
    [new ClientError('NO_SUCH_TARGET', 'No valid trust data for v1'), 'NO_SUCH_TARGET', 'No valid trust data for v1'],
  ];
  for (const [cause, code, message] of cases) {
    const e = dockerTrustError(repo, cause);
    assert.equal(e.message, message);
    assert.equal(e.code, code);
    assert.equal(e.cause, cause);
  }
});

test('signer names', () => {
  assert.doesNotThrow(() => checkSignerName('alice-2_b'));
  assert.throws(() => checkSignerName('Alice'), { message: 'signer name "Alice" must start with lowercase alphanumeric characters and can include "-" or "_" after the first character' });
  assert.throws(() => checkSignerName('-x'), /must start with lowercase alphanumeric/);
  assert.throws(() => checkSignerName('releases'), { message: 'releases is a reserved keyword, use a different signer name' });
});

test('tags sort in natural order', () => {
  const tags = ['v10', 'v2', 'latest', 'v1.10', '001', 'v1.9', '1', 'v1', '01', 'a'];
  assert.deepEqual([...tags].sort(naturalCompare), ['1', '01', '001', 'a', 'latest', 'v1', 'v1.9', 'v1.10', 'v2', 'v10']);
});

test('tables are laid out like Go tabwriter (min width 10, padding 3)', () => {
  assert.equal(tabulate([['SIGNER', 'KEYS'], ['alice', 'A'], ['a-very-long-name', 'B']]),
    'SIGNER             KEYS\nalice              A\na-very-long-name   B\n');
  assert.equal(tabulate([['SIGNER', 'KEYS'], ['bob', 'B']]), 'SIGNER    KEYS\nbob       B\n');
});

const hex = (s: string): Uint8Array => Buffer.from(s);
function signed(role: string, name: string, digestText: string): TargetSignedStruct {
  return {
    role: role as RoleName, paths: [''], keyIds: [], threshold: 1, signatures: [],
    target: { name, role: role as RoleName, meta: { length: 1, hashes: new Map([['sha256', hex(digestText)]]), unrecognized: {} } },
  };
}

/** docker 28's own "full repo with signers" inspect case (cli/command/trust/testdata). */
const FULL: TrustInfo = {
  rows: matchReleasedSignatures([
    signed('targets', 'green', 'green-digest'),
    signed('targets/releases', 'red', 'red-digest'),
    signed('targets/releases', 'blue', 'blue-digest'),
    signed('targets/alice', 'red', 'red-digest'),
    signed('targets/bob', 'red', 'red-digest'),
    signed('targets/alice', 'blue', 'blue-digest'),
    signed('targets/bob', 'blue', 'not-released'),
  ]),
  adminRoles: [
    { name: 'targets', keyIds: ['targetsID'], threshold: 1, signatures: [] },
    { name: 'root', keyIds: ['rootID'], threshold: 1, signatures: [] },
  ],
  delegations: [
    { name: 'targets/releases' as RoleName, keyIds: ['A', 'B'], threshold: 1, paths: [''] },
    { name: 'targets/alice' as RoleName, keyIds: ['A'], threshold: 1, paths: [''] },
    { name: 'targets/bob' as RoleName, keyIds: ['B'], threshold: 1, paths: [''] },
  ],
};

test('inspect JSON matches docker byte for byte', () => {
  const keys = (id: string): string => `                "Keys": [\n                    {\n                        "ID": "${id}"\n                    }\n                ]\n`;
  const tagRow = (tag: string, digest: string, signers: string[]): string => `            {\n                "SignedTag": "${tag}",\n                "Digest": "${digest}",\n                "Signers": [\n${signers.map((s) => `                    "${s}"`).join(',\n')}\n                ]\n            }`;
  const signer = (n: string, id: string): string => `            {\n                "Name": "${n}",\n${keys(id)}            }`;
  const expected = '[\n    {\n        "Name": "signed-repo",\n        "SignedTags": [\n' +
    [tagRow('blue', '626c75652d646967657374', ['alice']), tagRow('green', '677265656e2d646967657374', ['Repo Admin']), tagRow('red', '7265642d646967657374', ['alice', 'bob'])].join(',\n') +
    '\n        ],\n        "Signers": [\n' + [signer('bob', 'B'), signer('alice', 'A')].join(',\n') +
    '\n        ],\n        "AdministrativeKeys": [\n' + [signer('Root', 'rootID'), signer('Repository', 'targetsID')].join(',\n') +
    '\n        ]\n    }\n]\n';
  assert.equal(inspectJson([trustRepo('signed-repo', FULL)]), expected);
  assert.equal(inspectJson([]), '[]\n');
  const empty = inspectJson([trustRepo('reg/img:unsigned-tag', { rows: [], adminRoles: FULL.adminRoles, delegations: [] })]);
  assert.match(empty, /"SignedTags": \[\],\n {8}"Signers": \[\],/);
  assert.equal(inspectJson([{ Name: 'a<b>&', SignedTags: [], Signers: [{ Name: 'x', Keys: [] }], AdministrativeKeys: [] }]),
    '[\n    {\n        "Name": "a\\u003cb\\u003e\\u0026",\n        "SignedTags": [],\n        "Signers": [\n            {\n                "Name": "x"\n            }\n        ],\n        "AdministrativeKeys": []\n    }\n]\n');
});

test('inspect --pretty matches docker byte for byte', () => {
  assert.equal(inspectPretty('signed-repo', FULL), '\nSignatures for signed-repo\n\n' +
    'SIGNED TAG   DIGEST                     SIGNERS\n' +
    'blue         626c75652d646967657374     alice\n' +
    'green        677265656e2d646967657374   (Repo Admin)\n' +
    'red          7265642d646967657374       alice, bob\n' +
    '\nList of signers and their keys for signed-repo\n\n' +
    'SIGNER    KEYS\nalice     A\nbob       B\n' +
    '\nAdministrative keys for signed-repo\n\n' +
    '  Repository Key:\ttargetsID\n  Root Key:\trootID\n');
  assert.equal(inspectPretty('signed-repo:unsigned', { ...FULL, rows: [] }), '\nNo signatures for signed-repo:unsigned\n\n' +
    '\nList of signers and their keys for signed-repo:unsigned\n\nSIGNER    KEYS\nalice     A\nbob       B\n' +
    '\nAdministrative keys for signed-repo:unsigned\n\n  Repository Key:\ttargetsID\n  Root Key:\trootID\n');
  const longKey = 'f'.repeat(64);
  assert.match(inspectPretty('r', { ...FULL, delegations: [{ name: 'targets/carol' as RoleName, keyIds: [longKey, '0'.repeat(64)], threshold: 1, paths: [''] }] }),
    /\ncarol {5}000000000000, ffffffffffff\n/);
});

// Key store interop with the real binaries (Debian notary 0.7.0, docker CLI 28.2 without an
// engine): keys made by `notary key generate`, `notary init` and `docker trust key generate` are
// listed by `vouch key list` exactly as notary lists them and sign for Vouch; keys made by Vouch
// are listed by notary and used by it to init and publish; legacy migration gives notary's bytes;
// export bundles move both ways byte for byte.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyFileStore } from '../../src/keystore/file-store.ts';
import { envRetriever } from '../../src/keystore/passphrase.ts';
import { canonicalKeyId, makePublicKey, parsePublicKey, verifySignature, type PublicKey } from '../../src/tuf/keys.ts';
import { decodeFirstPem } from '../../src/crypto/pem.ts';
import { DEFAULT_PASSPHRASES, NOTARY_CLI_BIN, runNotary, type NotaryCliOptions } from '../helpers/notary-cli.ts';
import { notaryPeersUnavailableReason, startNotaryHarness, type NotaryHarness } from '../helpers/notary-harness.ts';
import { FIXTURES, snapshotDir, tempDir } from '../keystore/helpers.ts';
import { runVouch } from './key-cli.ts';

const ENV = {
  NOTARY_ROOT_PASSPHRASE: DEFAULT_PASSPHRASES.root, NOTARY_TARGETS_PASSPHRASE: DEFAULT_PASSPHRASES.targets,
  NOTARY_SNAPSHOT_PASSPHRASE: DEFAULT_PASSPHRASES.snapshot, NOTARY_DELEGATION_PASSPHRASE: DEFAULT_PASSPHRASES.delegation,
};
const MESSAGE = Buffer.from('{"_type":"Targets","expires":"2030-01-01T00:00:00Z","version":2}');

const notaryMissing = spawnSync(NOTARY_CLI_BIN, ['version']).status === 0 ? false : `${NOTARY_CLI_BIN} is not installed`;
const dockerMissing = spawnSync('docker', ['--version']).status === 0 ? false : 'the docker CLI is not installed';
const peersMissing = notaryPeersUnavailableReason();

function notary(args: string[], trustDir: string, extra: Partial<NotaryCliOptions> = {}): Promise<string> {
  return runNotary(args, { trustDir, expectCode: 0, ...extra }).then((r) => r.stdout);
}

function vouchList(trust: string, home: string): string {
  const r = runVouch(['key', 'list', '-d', trust], { home });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

function openStore(trust: string, env: Record<string, string> = ENV): KeyFileStore {
  return KeyFileStore.open(trust, { retriever: envRetriever(env, 'notary') });
}

async function assertSigns(store: KeyFileStore, key: PublicKey): Promise<void> {
  const signer = await store.signerFor(key);
  assert.equal(signer.keyId, key.id);
  const sig = await signer.sign(MESSAGE);
  assert.equal(verifySignature(key, sig.method, sig.sig, MESSAGE), true, `signature by ${key.id}`);
}

/** The keys of a cached root.json, by role. */
function rootKeys(trust: string, gun: string): Map<string, PublicKey[]> {
  const root = JSON.parse(readFileSync(join(trust, 'tuf', gun, 'metadata', 'root.json'), 'utf8'));
  const out = new Map<string, PublicKey[]>();
  for (const [role, { keyids }] of Object.entries(root.signed.roles as Record<string, { keyids: string[] }>)) {
    out.set(role, keyids.map((id) => parsePublicKey(root.signed.keys[id], `keys.${id}`)));
  }
  return out;
}

void describe('keys made by notary are Vouch keys', { skip: notaryMissing }, () => {
  void test('notary key generate: same listing, and Vouch signs with each key', async () => {
    const home = tempDir('vouch-interop-');
    const trust = join(home, 'trust');
    const root = /keyID: ([0-9a-f]{64})/.exec(await notary(['key', 'generate'], trust))?.[1];
    const rel = /keyID: ([0-9a-f]{64})/.exec(await notary(['key', 'generate', '-r', 'targets/releases'], trust))?.[1];
    await notary(['key', 'generate', '-r', 'alice'], trust);
    assert.equal(vouchList(trust, home), await notary(['key', 'list'], trust));
    const store = openStore(trust);
    for (const id of [root!, rel!]) {
      const signer = await store.signer(id);
      const sig = await signer.sign(MESSAGE);
      assert.equal(verifySignature(signer.publicKey, sig.method, sig.sig, MESSAGE), true);
    }
  });

  for (const [fixture, passphrase] of [['notary0.1', 'randompass'], ['notary0.3', 'password']] as const) {
    void test(`legacy ${fixture} layout: Vouch migrates to exactly notary's files and listing`, async () => {
      const home = tempDir('vouch-interop-');
      const trust = join(home, 'trust');
      cpSync(join(FIXTURES, fixture), trust, { recursive: true });
      const vouchListing = vouchList(trust, home);
      const vouchFiles = snapshotDir(trust);
      rmSync(trust, { recursive: true });
      cpSync(join(FIXTURES, fixture), trust, { recursive: true });
      const notaryListing = await notary(['key', 'list'], trust);
      assert.equal(vouchListing, notaryListing);
      assert.deepEqual(vouchFiles, snapshotDir(trust));
      const store = openStore(trust, { NOTARY_ROOT_PASSPHRASE: passphrase, NOTARY_TARGETS_PASSPHRASE: passphrase,
        NOTARY_SNAPSHOT_PASSPHRASE: passphrase, NOTARY_DELEGATION_PASSPHRASE: passphrase });
      for (const k of store.list().keys) assert.equal((await store.signer(k.keyId)).keyId, k.keyId);
    });
  }

  void test('export bundles: byte-identical export; notary → Vouch and Vouch → notary imports give identical files', async () => {
    const home = tempDir('vouch-interop-');
    const a = join(home, 'a');
    await notary(['key', 'generate'], a);
    await notary(['key', 'generate', '-r', 'targets/releases'], a);
    const vouchStore = openStore(a);
    await vouchStore.generate('targets', { gun: 'example.com/app' });
    await vouchStore.generate('bob');
    const notaryExport = await notary(['key', 'export'], a);
    const vouchExport = runVouch(['key', 'export', '-d', a], { home });
    assert.equal(vouchExport.stdout, notaryExport);
    writeFileSync(join(home, 'bundle.pem'), notaryExport);
    const b = join(home, 'b');
    const imported = runVouch(['key', 'import', join(home, 'bundle.pem'), '-d', b], { home, env: ENV });
    assert.equal(imported.code, 0, imported.stderr);
    assert.deepEqual(snapshotDir(join(b, 'private')), snapshotDir(join(a, 'private')));
    const c = join(home, 'c');
    await notary(['key', 'import', join(home, 'bundle.pem')], c);
    assert.deepEqual(snapshotDir(join(c, 'private')), snapshotDir(join(a, 'private')));
  });
});

void describe('keys made by docker are Vouch keys', { skip: dockerMissing || notaryMissing }, () => {
  void test('docker trust key generate: listed by Vouch (as by notary) and used for signing', async () => {
    const home = tempDir('vouch-interop-');
    const dockerConfig = join(home, 'docker');
    const out = join(home, 'out');
    mkdirSync(out);
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, DOCKER_CONFIG: dockerConfig, DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: 'docker-repo-pass' };
    const r = spawnSync('docker', ['trust', 'key', 'generate', 'alice', '--dir', out], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const trust = join(dockerConfig, 'trust');
    const listed = runVouch(['key', 'list'], { home, env: { DOCKER_CONFIG: dockerConfig } });
    assert.equal(listed.stdout, await notary(['key', 'list'], trust));
    assert.match(listed.stdout, /\nalice {11}[0-9a-f]{64} {4}/);
    const pub = decodeFirstPem(readFileSync(join(out, 'alice.pub'), 'utf8'));
    assert.deepEqual(pub.headers, { role: 'alice' });
    const key = makePublicKey('ecdsa', pub.bytes);
    await assertSigns(KeyFileStore.open(trust, { retriever: envRetriever(env, 'docker') }), key);
  });
});

void describe('with a notary server', { skip: peersMissing === undefined ? false : `real notary peers unavailable: ${peersMissing}` }, () => {
  let harness: NotaryHarness;
  before(async () => {
    harness = await startNotaryHarness({ trustService: 'local' });
  });
  after(async () => {
    await harness.stop();
  });
  const client = (trustDir: string): Partial<NotaryCliOptions> => ({ serverUrl: harness.url, caFile: harness.caFile, trustDir });

  void test('notary init keys: same listing; Vouch signs with the root (certificate), targets and snapshot keys', async () => {
    const home = tempDir('vouch-interop-');
    const trust = join(home, 'trust');
    const gun = 'example.com/vouch/keys-from-notary';
    await notary(['init', gun, '-p'], trust, client(trust));
    assert.equal(vouchList(trust, home), await notary(['key', 'list'], trust));
    const keys = rootKeys(trust, gun);
    const store = openStore(trust);
    const [rootKey] = keys.get('root') ?? [];
    assert.equal(rootKey?.keyType, 'ecdsa-x509');
    assert.ok(readdirSync(join(trust, 'private')).includes(`${canonicalKeyId(rootKey)}.key`));
    await assertSigns(store, rootKey);
    for (const role of ['targets', 'snapshot']) await assertSigns(store, keys.get(role)![0]!);
  });

  void test('Vouch keys: listed by notary, used by notary to init and publish (root and a delegation)', async () => {
    const home = tempDir('vouch-interop-');
    const trust = join(home, 'trust');
    const gun = 'example.com/vouch/keys-from-vouch';
    const gen = runVouch(['key', 'generate', '-d', trust], { home, env: ENV });
    assert.equal(gen.code, 0, gen.stderr);
    const rootId = /keyID: ([0-9a-f]{64})/.exec(gen.stdout)![1]!;
    const dockerConfig = join(home, 'docker');
    mkdirSync(dockerConfig);
    cpSync(trust, join(dockerConfig, 'trust'), { recursive: true });
    rmSync(trust, { recursive: true });
    const signer = runVouch(['trust', 'key', 'generate', 'releases', '--dir', home], {
      home, env: { DOCKER_CONFIG: dockerConfig, DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: DEFAULT_PASSPHRASES.delegation },
    });
    assert.equal(signer.code, 0, signer.stderr);
    const dockerTrust = join(dockerConfig, 'trust');
    assert.equal(await notary(['key', 'list'], dockerTrust), vouchList(dockerTrust, home));
    const opts = client(dockerTrust);
    await notary(['init', gun, '-p'], dockerTrust, opts);
    const [rootKey] = rootKeys(dockerTrust, gun).get('root') ?? [];
    assert.equal(canonicalKeyId(rootKey!), rootId, 'notary init used the root key Vouch made');
    await notary(['delegation', 'add', gun, 'targets/releases', join(home, 'releases.pub'), '--all-paths', '-p'], dockerTrust, opts);
    writeFileSync(join(home, 'payload'), 'signed with a Vouch delegation key\n');
    await notary(['add', gun, 'v1', join(home, 'payload'), '-r', 'targets/releases', '-p'], dockerTrust, opts);
    const listing = await notary(['list', gun], dockerTrust, opts);
    assert.match(listing, /\nv1\s+[0-9a-f]{64}\s+35\s+targets\/releases\n/);
    const releases = JSON.parse(readFileSync(join(dockerTrust, 'tuf', gun, 'metadata', 'targets', 'releases.json'), 'utf8'));
    const releasesKey = makePublicKey('ecdsa', decodeFirstPem(readFileSync(join(home, 'releases.pub'), 'utf8')).bytes);
    assert.deepEqual(releases.signatures.map((s: { keyid: string }) => s.keyid), [releasesKey.id]);
  });
});

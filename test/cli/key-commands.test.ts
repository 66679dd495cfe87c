// `vouch key …` and `vouch trust key …` as a user runs them: notary's and docker's output and
// messages, defaults for the trust dir, refusals with nothing changed on disk, prompts on a real
// pseudo-terminal (no echo), an unreadable directory (run as nobody), backup → delete → restore.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePemBlocks } from '../../src/crypto/pem.ts';
import { snapshotDir, tempDir, VECTOR10_ID, VECTOR10_PEM } from '../keystore/helpers.ts';
import { runVouch, runVouchOnTty, scriptAvailable } from './key-cli.ts';

const ENV = {
  NOTARY_ROOT_PASSPHRASE: 'root-pass-123', NOTARY_TARGETS_PASSPHRASE: 'targets-pass-123',
  NOTARY_DELEGATION_PASSPHRASE: 'delegation-pass-123',
};
const ID = /^Generated new (ecdsa|ed25519) (\S+) key with keyID: ([0-9a-f]{64})\n$/;

function setup(): { home: string; trust: string } {
  const home = tempDir('vouch-cli-');
  return { home, trust: join(home, 'trust') };
}

function generate(trust: string, home: string, args: string[] = []): string {
  const r = runVouch(['key', 'generate', '-d', trust, ...args], { home, env: ENV });
  assert.equal(r.code, 0, r.stderr);
  const m = ID.exec(r.stdout);
  assert.ok(m, r.stdout);
  return m[3]!;
}

void describe('vouch key generate and list', () => {
  void test('output as notary prints it; files notary can read', () => {
    const { home, trust } = setup();
    const root = generate(trust, home);
    const releases = generate(trust, home, ['-r', 'targets/releases']);
    const r = runVouch(['key', 'list', '-d', trust], { home });
    assert.equal(r.code, 0, r.stderr);
    const loc = join(trust, 'private');
    assert.equal(r.stdout, '\nROLE                GUN    KEY ID                                                              LOCATION\n'
      + '----                ---    ------                                                              --------\n'
      + `root                       ${root}    ${loc.length > 40 ? '...' + loc.slice(-37) : loc}\n`
      + `targets/releases           ${releases}    ${loc.length > 40 ? '...' + loc.slice(-37) : loc}\n\n`);
    const json = JSON.parse(runVouch(['key', 'list', '-d', trust, '--json'], { home }).stdout);
    assert.deepEqual(json.map((k: { id: string; role: string }) => [k.role, k.id]), [['root', root], ['targets/releases', releases]]);
    assert.equal(runVouch(['key', 'list', '-d', join(home, 'empty')], { home }).stdout, '\nNo signing keys found.\n\n');
  });

  void test('the default trust dir is docker’s: $DOCKER_CONFIG/trust, else ~/.docker/trust; -c trust_dir and -d override', () => {
    const { home } = setup();
    const viaHome = generate('', home).length;
    assert.equal(viaHome, 64);
    assert.equal(readdirSync(join(home, '.docker', 'trust', 'private')).length, 1);
    const dockerConfig = join(home, 'dc');
    const r = runVouch(['key', 'generate', '-r', 'alice'], { home, env: { ...ENV, DOCKER_CONFIG: dockerConfig } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readdirSync(join(dockerConfig, 'trust', 'private')).length, 1);
    mkdirSync(join(home, 'conf'));
    writeFileSync(join(home, 'conf', 'config.json'), JSON.stringify({ trust_dir: 'from-config' }));
    const c = runVouch(['key', 'list', '-c', join(home, 'conf', 'config.json'), '--json'], { home });
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(JSON.parse(c.stdout), []);
    assert.equal(runVouch(['key', 'generate', '-r', 'bob', '-c', join(home, 'conf', 'config.json')], { home, env: ENV }).code, 0);
    assert.equal(readdirSync(join(home, 'conf', 'from-config', 'private')).length, 1, 'relative to the config file');
    const missing = runVouch(['key', 'list', '-c', join(home, 'nope.json')], { home });
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `* fatal: error opening config file: open ${join(home, 'nope.json')}: no such file or directory\n`);
  });

  void test('refusals leave the disk unchanged', () => {
    const { home, trust } = setup();
    generate(trust, home);
    const before = snapshotDir(home);
    const cases: [string[], Record<string, string>, string][] = [
      [['key', 'generate', 'rsa', '-d', trust], ENV, 'rsa keys can only be imported'],
      [['key', 'generate', 'dsa', '-d', trust], ENV, 'Algorithm not allowed, possible values are: ECDSA, ED25519'],
      [['key', 'generate', '-d', trust, '-r', 'bad role'], ENV, 'invalid role "bad role": use letters, digits, ".", "_", "-" and "/"'],
      [['key', 'generate', '-d', trust], {}, 'please either use environment variables or STDIN with a terminal to provide key passphrases: '
        + 'set NOTARY_ROOT_PASSPHRASE (or DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE) for the new root key <id7>'],
      [['key', 'passwd', 'abc', '-d', trust], ENV, 'invalid key ID provided: abc'],
      [['key', 'passwd', 'ab'.repeat(32), '-d', trust], ENV, `could not retrieve local key for key ID provided: ${'ab'.repeat(32)}`],
      [['key', 'remove', 'ab'.repeat(32), '-d', trust], ENV, `No key with ID ${'ab'.repeat(32)} found`],
      [['key', 'export', '--key', 'xyz', '-d', trust], ENV, 'invalid key ID provided: xyz'],
      [['key', 'restore', join(home, 'missing.tar.gz'), '-d', trust], ENV, `cannot read ${join(home, 'missing.tar.gz')}: no such file or directory`],
    ];
    for (const [args, env, message] of cases) {
      const r = runVouch(args, { home, env });
      assert.equal(r.code, 1, args.join(' '));
      assert.equal(r.stderr.replace(/ [0-9a-f]{7}\n$/, ' <id7>\n'), `* fatal: ${message}\n`, args.join(' '));
      assert.deepEqual(snapshotDir(home), before, args.join(' '));
    }
  });

  void test('an unreadable key directory (run as nobody): a clear error and nothing changed', { skip: process.getuid?.() !== 0 ? 'needs root to switch users' : false }, () => {
    const { home, trust } = setup();
    generate(trust, home);
    chmodSync(home, 0o755);
    const before = snapshotDir(home);
    const nobodyHome = tempDir('vouch-nobody-');
    chmodSync(nobodyHome, 0o777);
    for (const args of [['key', 'list', '-d', trust], ['key', 'generate', '-r', 'alice', '-d', trust], ['key', 'backup', '-d', trust, '-o', join(nobodyHome, 'b.tgz')]]) {
      const r = runVouch(args, { home: nobodyHome, env: ENV, uid: 65534 });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`^\\* fatal: cannot (read key store|read|create directory|write) ${join(trust, 'private').replace(/[/.]/g, '\\$&')}.*: permission denied\\n$`));
    }
    assert.deepEqual(snapshotDir(home), before);
    assert.deepEqual(readdirSync(nobodyHome).filter((n) => n.endsWith('.tgz')), []);
  });
});

void describe('vouch key import, export, passwd, remove', () => {
  void test('export then import elsewhere: byte-identical files; export -o is 0600', () => {
    const { home, trust } = setup();
    generate(trust, home);
    generate(trust, home, ['-r', 'targets/releases']);
    const out = join(home, 'bundle.pem');
    assert.equal(runVouch(['key', 'export', '-d', trust, '-o', out], { home }).code, 0);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.equal(readFileSync(out, 'utf8'), runVouch(['key', 'export', '-d', trust], { home }).stdout);
    const other = join(home, 'other');
    const r = runVouch(['key', 'import', out, '-d', other], { home, env: ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshotDir(join(other, 'private')), snapshotDir(join(trust, 'private')));
  });

  void test('import refuses a bundle with any bad block and writes nothing', () => {
    const { home, trust } = setup();
    const bad = join(home, 'bad.pem');
    writeFileSync(bad, VECTOR10_PEM.replace('role: root', `path: ${'ab'.repeat(32)}\nrole: root`));
    const r = runVouch(['key', 'import', bad, '-d', trust], { home, env: { NOTARY_ROOT_PASSPHRASE: 'rootpass123' } });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `* fatal: failed to import all keys: ${bad}: path header names key ${'ab'.repeat(32)}, but the block holds key ${VECTOR10_ID}\n`);
    assert.deepEqual(snapshotDir(home), { 'bad.pem': snapshotDir(home)['bad.pem']! });
  });

  void test('remove asks (yes/no) on stdin as notary does', () => {
    const { home, trust } = setup();
    const id = generate(trust, home);
    const desc = `${id} (role root) from ${join(trust, 'private')}`;
    const no = runVouch(['key', 'remove', id, '-d', trust], { home, input: 'no\n' });
    assert.equal(no.stdout, `\nAre you sure you want to remove ${desc}?  (yes/no)  \nAborting action.\n\n`);
    assert.equal(readdirSync(join(trust, 'private')).length, 1);
    const yes = runVouch(['key', 'remove', id, '-d', trust], { home, input: 'YES\n' });
    assert.equal(yes.stdout, `\nAre you sure you want to remove ${desc}?  (yes/no)  \nDeleted ${desc}.\n\n`);
    assert.deepEqual(readdirSync(join(trust, 'private')), []);
  });
});

void describe('prompts on a terminal', { skip: scriptAvailable() ? false : 'util-linux script is not installed' }, () => {
  void test('new passphrase: warning, too short, mismatch, then accepted; nothing typed is echoed', async () => {
    const { home, trust } = setup();
    const r = await runVouchOnTty(['key', 'generate', '-d', trust], [
      ['Enter passphrase for new root key with ID ', 'tiny7'],
      ['Enter passphrase for new root key with ID ', 'first-long-pass'],
      ['Repeat passphrase for new root key with ID ', 'different-pass'],
      ['Enter passphrase for new root key with ID ', 'the-real-passphrase'],
      ['Repeat passphrase for new root key with ID ', 'the-real-passphrase'],
    ], { home });
    assert.equal(r.code, 0, r.screen);
    const id = /keyID: ([0-9a-f]{64})/.exec(r.stdout)?.[1] ?? '';
    const short = id.slice(0, 7);
    assert.ok(r.stdout.startsWith('You are about to create a new root signing key passphrase.'), r.stdout);
    assert.ok(r.stdout.includes(`Enter passphrase for new root key with ID ${short}: \n`
      + 'Passphrase is too short. Please use a password manager to generate and store a good random passphrase.\n'
      + `Enter passphrase for new root key with ID ${short}: \nRepeat passphrase for new root key with ID ${short}: \n`
      + 'Passphrases do not match. Please retry.\n'), r.stdout);
    for (const secret of ['tiny7', 'first-long-pass', 'different-pass', 'the-real-passphrase']) assert.ok(!r.screen.includes(secret), secret);
    const check = runVouch(['key', 'export', '-d', trust], { home });
    assert.equal(decodePemBlocks(check.stdout)[0]?.headers['path'], id);
  });

  void test('passwd: old passphrase (with a retry), then the new one twice', async () => {
    const { home, trust } = setup();
    const id = generate(trust, home, ['-r', 'targets/releases']);
    const before = readFileSync(join(trust, 'private', `${id}.key`));
    const r = await runVouchOnTty(['key', 'passwd', id, '-d', trust], [
      ['Enter passphrase for targets/releases key with ID ', 'wrong-one'],
      ['Passphrase incorrect. Please retry.', ''],
      ['Enter passphrase for targets/releases key with ID ', ENV.NOTARY_DELEGATION_PASSPHRASE],
      ['Enter passphrase for new targets/releases key with ID ', 'brand-new-passphrase'],
      ['Repeat passphrase for new targets/releases key with ID ', 'brand-new-passphrase'],
    ].filter(([, line]) => line !== '') as [string, string][], { home });
    assert.equal(r.code, 0, r.screen);
    assert.ok(r.stdout.endsWith(`\nSuccessfully updated passphrase for key ID: ${id}\n`), r.stdout);
    assert.notDeepEqual(readFileSync(join(trust, 'private', `${id}.key`)), before);
    const old = runVouch(['key', 'passwd', id, '-d', trust], { home, env: ENV });
    assert.equal(old.stderr, '* fatal: password invalid, operation has failed.\n');
  });
});

void describe('vouch key backup and restore', () => {
  void test('backup → delete the store → restore: byte-identical; restore again skips everything', () => {
    const { home, trust } = setup();
    generate(trust, home);
    generate(trust, home, ['-r', 'targets/releases']);
    const before = snapshotDir(trust);
    const out = join(home, 'keys.tar.gz');
    const b = runVouch(['key', 'backup', '-d', trust, '-o', out], { home });
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, `Backed up 2 keys (1 root) to ${out}\n`);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    rmSync(trust, { recursive: true });
    const r = runVouch(['key', 'restore', out, '-d', trust], { home, env: ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Restored root key [0-9a-f]{64}\nRestored targets\/releases key [0-9a-f]{64}\nRestored 2, skipped 0\.\n$|^Restored targets\/releases key [0-9a-f]{64}\nRestored root key [0-9a-f]{64}\nRestored 2, skipped 0\.\n$/);
    assert.deepEqual(snapshotDir(trust), before);
    const again = runVouch(['key', 'restore', out, '-d', trust], { home, env: ENV });
    assert.match(again.stdout, /Restored 0, skipped 2\.\n$/);
    const exists = runVouch(['key', 'backup', '-d', trust, '-o', out], { home });
    assert.equal(exists.stderr, `* fatal: refusing to overwrite existing file ${out}\n`);
  });

  void test('an encrypted backup needs only the backup passphrase to restore', () => {
    const { home, trust } = setup();
    const id = generate(trust, home);
    const out = join(home, 'enc.tar.gz');
    assert.equal(runVouch(['key', 'backup', '-e', '-d', trust, '-o', out], { home, env: { ...ENV, VOUCH_BACKUP_PASSPHRASE: 'backup-pass-1' } }).code, 0);
    const fresh = join(home, 'fresh');
    const r = runVouch(['key', 'restore', out, '-d', fresh], { home, env: { VOUCH_BACKUP_PASSPHRASE: 'backup-pass-1' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Restored root key ${id}\nRestored 1, skipped 0.\nThe restored keys use the backup passphrase; change it with: vouch key passwd <keyID>\n`);
    const wrong = runVouch(['key', 'restore', out, '-d', join(home, 'x')], { home, env: { VOUCH_BACKUP_PASSPHRASE: 'nope' } });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^\* fatal: backup cannot be restored, nothing was written: .*password invalid, operation has failed\.\n$/);
  });

  void test('--help carries the advice', () => {
    const { home } = setup();
    const help = runVouch(['key', 'backup', '--help'], { home }).stdout;
    assert.match(help, /Losing the root key is unrecoverable/);
    assert.match(help, /Keep two backups, each on its own encrypted medium/);
    const keyHelp = runVouch(['key', '--help'], { home }).stdout;
    assert.match(keyHelp, /\$DOCKER_CONFIG\/trust, or ~\/\.docker\/trust/);
  });
});

void describe('vouch trust key generate and load', () => {
  const DOCKER_ENV = { DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: 'repo-pass-123' };

  void test('generate: docker’s messages, NAME.pub and the key in $DOCKER_CONFIG/trust; refusals', () => {
    const { home } = setup();
    const env = { ...DOCKER_ENV, DOCKER_CONFIG: join(home, 'dc') };
    const out = join(home, 'out');
    mkdirSync(out);
    const r = runVouch(['trust', 'key', 'generate', 'alice', '--dir', out], { home, env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Generating key for alice...\nSuccessfully generated and loaded private key. Corresponding public key available: ${join(out, 'alice.pub')}\n`);
    const pub = readFileSync(join(out, 'alice.pub'), 'utf8');
    assert.match(pub, /^-----BEGIN PUBLIC KEY-----\nrole: alice\n\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/);
    assert.equal(statSync(join(out, 'alice.pub')).mode & 0o777, 0o600);
    const [key] = readdirSync(join(home, 'dc', 'trust', 'private'));
    assert.match(readFileSync(join(home, 'dc', 'trust', 'private', key!), 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: alice\n\n/);
    const before = snapshotDir(home);
    for (const [args, message] of [
      [['alice', '--dir', out], `public key file already exists: "${join(out, 'alice.pub')}"`],
      [['Alice', '--dir', out], 'key name "Alice" must start with lowercase alphanumeric characters and can include "-" or "_" after the first character'],
      [['bob', '--dir', join(home, 'nope')], `public key path does not exist: "${join(home, 'nope')}"`],
    ] as const) {
      const e = runVouch(['trust', 'key', 'generate', ...args], { home, env });
      assert.equal(e.code, 1);
      assert.equal(e.stderr, `${message}\n`);
      assert.deepEqual(snapshotDir(home), before);
    }
  });

  void test('load: mode check, not-a-key, encrypted keys really load', () => {
    const { home } = setup();
    const env = { ...DOCKER_ENV, DOCKER_CONFIG: join(home, 'dc') };
    const keyFile = join(home, 'v10.pem');
    writeFileSync(keyFile, VECTOR10_PEM, { mode: 0o644 });
    chmodSync(keyFile, 0o644);
    const open = runVouch(['trust', 'key', 'load', keyFile], { home, env });
    assert.equal(open.stdout, `Loading key from "${keyFile}"...\n`);
    assert.equal(open.stderr, `refusing to load key from ${keyFile}: private key file ${keyFile} must not be readable or writable by others\n`);
    chmodSync(keyFile, 0o600);
    const wrong = runVouch(['trust', 'key', 'load', keyFile], { home, env });
    assert.equal(wrong.stderr, `error importing key from ${keyFile}: cannot load key from provided file ${keyFile}: could not decrypt key\n`);
    const pubFile = join(home, 'leaf.pem');
    writeFileSync(pubFile, readFileSync('test/fixtures/certs/leaf.pem'), { mode: 0o600 });
    const notKey = runVouch(['trust', 'key', 'load', pubFile], { home, env });
    assert.equal(notKey.stderr, `error importing key from ${pubFile}: provided file ${pubFile} is not a supported private key - to add a signer's public key use docker trust signer add\n`);
    assert.deepEqual(snapshotDir(join(home, 'dc')), {});
    const ok = runVouch(['trust', 'key', 'load', keyFile, '--name', 'carol'], {
      home, env: { ...env, DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: 'rootpass123' },
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `Loading key from "${keyFile}"...\nSuccessfully imported key from ${keyFile}\n`);
    assert.match(readFileSync(join(home, 'dc', 'trust', 'private', `${VECTOR10_ID}.key`), 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: carol\n\n/);
  });
});

/**
 * `vouch key …` with a SoftHSM2 token, run as a user runs them (child processes, the token chosen
 * through VOUCH_PKCS11_* or the global flags): list shows the token location, generate puts a
 * root key on the token with a backup file, export refuses token keys and writes nothing, import
 * loads an encrypted root backup onto a second token, remove asks which copy and removes only
 * that one; with no token configured nothing changes.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePemBlocks } from '../../src/crypto/pem.ts';
import { readPrivateKeyPem } from '../../src/crypto/private-key-pem.ts';
import { keyIdOfPrivate } from '../../src/keystore/key-file.ts';
import { Pkcs11KeyStore } from '../../src/keystore/pkcs11/store.ts';
import { cleanEnv, REPO, runVouch, type CliResult } from '../cli/key-cli.ts';
import { createSoftHsm, SKIP_REASON, SOFTHSM_MODULE, tokenObjects as tokenObjectsOn } from './softhsm.ts';
import type { SoftHsm } from './softhsm.ts';

const PIN = '135791';
const ROOT_PASS = 'root-pass-123';
const PASSPHRASES = { NOTARY_ROOT_PASSPHRASE: ROOT_PASS, NOTARY_TARGETS_PASSPHRASE: 'targets-pass-123', NOTARY_DELEGATION_PASSPHRASE: 'delegation-pass-123' };
const GENERATED = /^Generated new ecdsa (\S+) key with keyID: ([0-9a-f]{64})\n$/;

let hsm: SoftHsm;
let home: string;

function tokenEnv(label: string): Record<string, string> {
  return { ...PASSPHRASES, SOFTHSM2_CONF: hsm.conf, VOUCH_PKCS11_MODULE: SOFTHSM_MODULE, VOUCH_PKCS11_TOKEN: label, VOUCH_PKCS11_PIN: PIN };
}

function vouch(args: string[], env: Record<string, string>, input = ''): CliResult {
  return runVouch(args, { home, env, input });
}

function generate(trust: string, env: Record<string, string>, extra: string[] = []): { id: string; r: CliResult } {
  const r = vouch(['key', 'generate', '-d', trust, ...extra], env);
  assert.equal(r.code, 0, r.stderr);
  const m = GENERATED.exec(r.stdout);
  assert.ok(m, r.stdout);
  return { id: m[2]!, r };
}

function tokenStore(label: string): Pkcs11KeyStore {
  hsm.use();
  return new Pkcs11KeyStore({ module: { path: SOFTHSM_MODULE, token: { label } }, pins: { userPin: PIN, userPinSource: 'VOUCH_PKCS11_PIN' } });
}

async function tokenKeys(label: string): Promise<string[][]> {
  return (await tokenStore(label).listKeys()).map((k) => [k.keyId, k.role, k.location]);
}

function tokenObjects(label: string): string[] {
  hsm.use();
  return tokenObjectsOn(label, PIN);
}

function privateFiles(trust: string): string[] {
  const dir = join(trust, 'private');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** The key inside an encrypted key file, decrypted with the root passphrase; returns its key ID. */
function backupKeyId(path: string): string {
  const [block] = decodePemBlocks(readFileSync(path, 'utf8'));
  assert.ok(block !== undefined);
  assert.equal(block.type, 'ENCRYPTED PRIVATE KEY');
  assert.equal(block.headers['role'], 'root');
  return keyIdOfPrivate(readPrivateKeyPem(block, ROOT_PASS));
}

const truncated = (loc: string): string => (loc.length > 40 ? '...' + loc.slice(-37) : loc);
const pad = (s: string, w: number): string => s + ' '.repeat(w - s.length);

describe('vouch key with a PKCS#11 token (SoftHSM2)', { skip: SKIP_REASON }, () => {
  beforeEach(() => {
    hsm = createSoftHsm();
    hsm.initToken('vouch-a', PIN);
    hsm.initToken('vouch-b', PIN);
    home = join(hsm.dir, 'home');
    mkdirSync(home);
  });
  afterEach(() => hsm.cleanup());

  test('generate puts the root key on the token with a backup file; list shows the token location (table and JSON)', async () => {
    const trust = join(hsm.dir, 'trust');
    const env = tokenEnv('vouch-a');
    const { id: root, r } = generate(trust, env);
    const backup = join(trust, 'private', `${root}.key`);
    assert.equal(r.stderr, `The root key is on pkcs11:vouch-a; its encrypted backup copy is ${backup}\n`);
    assert.deepEqual(await tokenKeys('vouch-a'), [[root, 'root', 'pkcs11:vouch-a']]);
    assert.deepEqual(privateFiles(trust), [`${root}.key`]);
    assert.equal(backupKeyId(backup), root);
    // Other roles are not token roles by default: into the files, the token unchanged.
    const { id: alice, r: ra } = generate(trust, env, ['-r', 'alice']);
    assert.equal(ra.stderr, '');
    assert.deepEqual(privateFiles(trust), [`${alice}.key`, `${root}.key`].sort());
    assert.equal((await tokenKeys('vouch-a')).length, 1);

    const list = vouch(['key', 'list', '-d', trust], env);
    assert.equal(list.code, 0, list.stderr);
    const loc = truncated(join(trust, 'private'));
    const row = (role: string, id: string, where: string) => `${pad(role, 9)}${pad('', 7)}${id}    ${where}\n`;
    // Root first; the two copies of the root key by location (the file path sorts before "pkcs11:").
    assert.equal(list.stdout, `\n${pad('ROLE', 9)}${pad('GUN', 7)}${pad('KEY ID', 68)}LOCATION\n`
      + `${pad('----', 9)}${pad('---', 7)}${pad('------', 68)}--------\n`
      + row('root', root, loc) + row('root', root, 'pkcs11:vouch-a') + row('alice', alice, loc) + '\n');
    const json = JSON.parse(vouch(['key', 'list', '-d', trust, '--json'], env).stdout) as { id: string; role: string; location: string; path: string }[];
    assert.deepEqual(json.map((k) => [k.role, k.id, k.location, k.path]), [
      ['root', root, join(trust, 'private'), backup], ['root', root, 'pkcs11:vouch-a', ''],
      ['alice', alice, join(trust, 'private'), join(trust, 'private', `${alice}.key`)],
    ]);
  });

  test('the global --pkcs11-module/--pkcs11-token flags choose the token', async () => {
    const trust = join(hsm.dir, 'trust');
    const main = join(REPO, 'src', 'cli', 'main.ts');
    const run = (args: string[]) => spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), main, ...args], {
      cwd: REPO, env: cleanEnv(home, { ...PASSPHRASES, SOFTHSM2_CONF: hsm.conf, VOUCH_PKCS11_PIN: PIN }), input: '', encoding: 'utf8', timeout: 60_000,
    });
    const flags = ['--pkcs11-module', SOFTHSM_MODULE, '--pkcs11-token', 'vouch-b'];
    const g = run([...flags, 'key', 'generate', '-d', trust]);
    assert.equal(g.status, 0, g.stderr);
    const id = GENERATED.exec(g.stdout)?.[2];
    assert.deepEqual(await tokenKeys('vouch-b'), [[id, 'root', 'pkcs11:vouch-b']]);
    assert.deepEqual(await tokenKeys('vouch-a'), []);
    const list = run([...flags, 'key', 'list', '-d', trust, '--json']);
    assert.equal(list.status, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as { location: string }[]).map((k) => k.location), [join(trust, 'private'), 'pkcs11:vouch-b']);
  });

  test('export of a key that is only on the token is refused and nothing is written; its backup copy exports', async () => {
    const trust = join(hsm.dir, 'trust');
    const config = join(hsm.dir, 'config.json');
    writeFileSync(config, JSON.stringify({ pkcs11: { roles: ['root', 'targets'] } }));
    const env = tokenEnv('vouch-a');
    // A targets key on the token (a token role by config) exists nowhere else.
    const { id: targets, r } = generate(trust, env, ['-c', config, '-r', 'targets']);
    assert.equal(r.stderr, 'The targets key is on pkcs11:vouch-a\n');
    assert.deepEqual(await tokenKeys('vouch-a'), [[targets, 'targets', 'pkcs11:vouch-a']]);
    assert.deepEqual(privateFiles(trust), []);
    const out = join(hsm.dir, 'exported.pem');
    for (const args of [['-o', out], []]) {
      const e = vouch(['key', 'export', '-d', trust, '-c', config, '--key', targets, ...args], env);
      assert.equal(e.code, 1);
      assert.equal(e.stdout, '');
      assert.equal(e.stderr, `* fatal: key ${targets} is stored on pkcs11:vouch-a and cannot be exported; `
        + 'export its backup copy from the file store instead, if one was made\n');
      assert.equal(existsSync(out), false);
    }
    // A root key on the token has its file copy: that exports, still encrypted.
    const { id: root } = generate(trust, env, ['-c', config]);
    const ok = vouch(['key', 'export', '-d', trust, '-c', config, '--key', root], env);
    assert.equal(ok.code, 0, ok.stderr);
    const [block] = decodePemBlocks(ok.stdout);
    assert.deepEqual([block?.type, block?.headers['path'], block?.headers['role']], ['ENCRYPTED PRIVATE KEY', root, 'root']);
  });

  test('import of an encrypted root backup loads it onto a second token (backup written unless already stored)', async () => {
    const trustA = join(hsm.dir, 'trust-a');
    const { id: root } = generate(trustA, tokenEnv('vouch-a'));
    const backup = join(trustA, 'private', `${root}.key`);
    const backupBytes = readFileSync(backup);

    // The store that already holds the file: the key goes onto token b, no second backup.
    const same = vouch(['key', 'import', backup, '-d', trustA], tokenEnv('vouch-b'));
    assert.equal(same.code, 0, same.stderr);
    assert.equal(same.stderr, `Imported root key ${root} onto pkcs11:vouch-b\n`);
    assert.deepEqual(await tokenKeys('vouch-b'), [[root, 'root', 'pkcs11:vouch-b']]);
    assert.deepEqual(readFileSync(backup), backupBytes);
    const twice = vouch(['key', 'import', backup, '-d', trustA], tokenEnv('vouch-b'));
    assert.equal(twice.stderr, `Skipped key ${root}: already on pkcs11:vouch-b\n`);

    // An exported bundle of it into an empty trust dir with token b emptied first: token + backup file.
    const exported = join(hsm.dir, 'root-export.pem');
    assert.equal(vouch(['key', 'export', '-d', trustA, '--key', root, '-o', exported], tokenEnv('vouch-a')).code, 0);
    await tokenStore('vouch-b').removeKey(root);
    const trustB = join(hsm.dir, 'trust-b');
    const r = vouch(['key', 'import', exported, '-d', trustB], tokenEnv('vouch-b'));
    assert.equal(r.code, 0, r.stderr);
    const copy = join(trustB, 'private', `${root}.key`);
    assert.equal(r.stderr, `Imported root key ${root} onto pkcs11:vouch-b\nWrote its encrypted backup copy to ${copy}\n`);
    assert.deepEqual(await tokenKeys('vouch-b'), [[root, 'root', 'pkcs11:vouch-b']]);
    assert.equal(backupKeyId(copy), root);
    // Both tokens hold the same public key and sign as the same key.
    const [a, b] = [await tokenStore('vouch-a').listKeys(), await tokenStore('vouch-b').listKeys()];
    assert.deepEqual(Buffer.from(b[0]!.spki), Buffer.from(a[0]!.spki));

    // A non-root key is imported into the files as before, the token untouched.
    const { id: alice } = generate(trustA, tokenEnv('vouch-a'), ['-r', 'alice']);
    const aliceFile = join(hsm.dir, 'alice.pem');
    assert.equal(vouch(['key', 'export', '-d', trustA, '--key', alice, '-o', aliceFile], tokenEnv('vouch-a')).code, 0);
    const d = vouch(['key', 'import', aliceFile, '-d', trustB], tokenEnv('vouch-b'));
    assert.equal(d.stderr, `Imported alice key ${alice}\n`);
    assert.deepEqual(privateFiles(trustB), [`${alice}.key`, `${root}.key`].sort());
    assert.equal((await tokenKeys('vouch-b')).length, 1);
  });

  test('remove asks which copy, then removes only the chosen one', () => {
    const trust = join(hsm.dir, 'trust');
    const env = tokenEnv('vouch-a');
    const { id } = generate(trust, env);
    const objects = tokenObjects('vouch-a');
    assert.ok(objects.length >= 2, objects.join());
    const fileDesc = `${id} (role root) from ${join(trust, 'private')}`;
    const tokenDesc = `${id} (role root) from pkcs11:vouch-a`;
    const menu = `Found the following matching keys:\n\t1. ${id}: root (pkcs11:vouch-a)\n\t2. ${id}: root (${join(trust, 'private')})\n`
      + 'Which would you like to delete?  Please enter a number:  ';

    // An invalid number asks again; "no" aborts: both copies stay.
    const no = vouch(['key', 'remove', id, '-d', trust], env, '9\n2\nno\n');
    assert.equal(no.code, 0, no.stderr);
    assert.equal(no.stdout, `\n${menu}\nInvalid choice: 9\n${menu}\nAre you sure you want to remove ${fileDesc}?  (yes/no)  \nAborting action.\n\n`);
    assert.deepEqual(tokenObjects('vouch-a'), objects);
    assert.deepEqual(privateFiles(trust), [`${id}.key`]);

    // End of input before a choice: an error, nothing removed.
    const eof = vouch(['key', 'remove', id, '-d', trust], env, '');
    assert.equal(eof.code, 1);
    assert.equal(eof.stderr, '* fatal: no choice entered (end of input): nothing was removed\n');
    assert.deepEqual(tokenObjects('vouch-a'), objects);

    // Choose the token copy: the token is emptied, the file stays.
    const yes = vouch(['key', 'remove', id, '-d', trust], env, '1\nyes\n');
    assert.equal(yes.code, 0, yes.stderr);
    assert.equal(yes.stdout, `\n${menu}\nAre you sure you want to remove ${tokenDesc}?  (yes/no)  \nDeleted ${tokenDesc}.\n\n`);
    assert.deepEqual(tokenObjects('vouch-a'), []);
    assert.deepEqual(privateFiles(trust), [`${id}.key`]);

    // Now only the file: notary's plain confirmation, as without a token.
    const file = vouch(['key', 'remove', id, '-d', trust], env, 'yes\n');
    assert.equal(file.stdout, `\nAre you sure you want to remove ${fileDesc}?  (yes/no)  \nDeleted ${fileDesc}.\n\n`);
    assert.deepEqual(privateFiles(trust), []);
  });

  test('remove of the file copy keeps the token copy; a token-only key is confirmed without a menu', () => {
    const trust = join(hsm.dir, 'trust');
    const env = tokenEnv('vouch-a');
    const { id } = generate(trust, env);
    const objects = tokenObjects('vouch-a');
    const r = vouch(['key', 'remove', id, '-d', trust], env, '2\ny\n');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Deleted ${id} \\(role root\\) from ${join(trust, 'private').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.\n\n$`));
    assert.deepEqual(privateFiles(trust), []);
    assert.deepEqual(tokenObjects('vouch-a'), objects);
    const desc = `${id} (role root) from pkcs11:vouch-a`;
    const t = vouch(['key', 'remove', id, '-d', trust], env, 'yes\n');
    assert.equal(t.stdout, `\nAre you sure you want to remove ${desc}?  (yes/no)  \nDeleted ${desc}.\n\n`);
    assert.deepEqual(tokenObjects('vouch-a'), []);
  });

  test('without a token configured the key commands behave as before and leave the token alone', async () => {
    const trust = join(hsm.dir, 'trust');
    const env = { ...PASSPHRASES, SOFTHSM2_CONF: hsm.conf };
    const { id, r } = generate(trust, env);
    assert.equal(r.stderr, '');
    assert.deepEqual(privateFiles(trust), [`${id}.key`]);
    assert.deepEqual(await tokenKeys('vouch-a'), []);
    const list = vouch(['key', 'list', '-d', trust, '--json'], env);
    assert.deepEqual((JSON.parse(list.stdout) as { location: string }[]).map((k) => k.location), [join(trust, 'private')]);
    const backup = join(trust, 'private', `${id}.key`);
    const rm = vouch(['key', 'remove', id, '-d', trust], env, 'yes\n');
    assert.equal(rm.stdout, `\nAre you sure you want to remove ${id} (role root) from ${join(trust, 'private')}?  (yes/no)  \nDeleted ${id} (role root) from ${join(trust, 'private')}.\n\n`);
    assert.equal(existsSync(backup), false);
    assert.deepEqual(tokenObjects('vouch-a'), []);
  });
});

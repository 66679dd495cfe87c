// notary's prompt texts and rules (passphrase/passphrase.go) over injected streams, docker's alias
// names, the shared line reader's queueing of piped input, and the CLI retriever's env-first order.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import {
  DOCKER_ALIAS_NAMES, askConfirm, cliPassphraseRetriever, createLineReader, namedPassphraseRetriever, promptRetriever,
} from '../../src/cli/passphrase.ts';

function harness(typed: string): { out: () => string; reader: ReturnType<typeof createLineReader>; output: PassThrough } {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (c: Buffer) => {
    text += c.toString('utf8');
  });
  input.end(typed);
  return { out: () => text, reader: createLineReader(input, output, false), output };
}

const KEY = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

void describe('promptRetriever', () => {
  void test('new root key: warning, too-short rejection, mismatch rejection, then confirmed', async () => {
    const h = harness('tiny\nlong-enough-1\nlong-enough-2\nlong-enough-1\nlong-enough-1\n');
    const r = promptRetriever({ reader: h.reader, output: h.output });
    await assert.rejects(r({ keyName: KEY, alias: 'root', createNew: true, attempt: 0 }), { code: 'PASSPHRASE_REJECTED', message: 'passphrase too short' });
    await assert.rejects(r({ keyName: KEY, alias: 'root', createNew: true, attempt: 1 }),
      { code: 'PASSPHRASE_REJECTED', message: 'the entered passphrases do not match' });
    assert.deepEqual(await r({ keyName: KEY, alias: 'root', createNew: true, attempt: 2 }), { passphrase: 'long-enough-1', giveUp: false });
    assert.ok(h.out().startsWith('You are about to create a new root signing key passphrase. This passphrase\nwill be used'));
    assert.ok(h.out().endsWith('You can find the key in your config directory.\n'
      + 'Enter passphrase for new root key with ID 0123456: \n'
      + 'Passphrase is too short. Please use a password manager to generate and store a good random passphrase.\n'
      + 'Enter passphrase for new root key with ID 0123456: \nRepeat passphrase for new root key with ID 0123456: \n'
      + 'Passphrases do not match. Please retry.\n'
      + 'Enter passphrase for new root key with ID 0123456: \nRepeat passphrase for new root key with ID 0123456: \n'), h.out());
    h.reader.close();
  });

  void test('unlocking: retry notice from attempt 1, too many attempts after 3 retries, one cached passphrase per alias', async () => {
    const h = harness('a\nb\nc\nd\n');
    const r = promptRetriever({ reader: h.reader, output: h.output });
    const answers = [];
    for (let attempt = 0; attempt <= 3; attempt++) answers.push((await r({ keyName: KEY, alias: 'targets', createNew: false, attempt })).passphrase);
    assert.deepEqual(answers, ['a', 'b', 'c', 'd']);
    await assert.rejects(r({ keyName: KEY, alias: 'targets', createNew: false, attempt: 4 }), { code: 'ATTEMPTS_EXCEEDED', message: 'too many attempts' });
    assert.equal(h.out(), 'Enter passphrase for targets key with ID 0123456: \n'
      + 'Passphrase incorrect. Please retry.\nEnter passphrase for targets key with ID 0123456: \n'.repeat(3));
    assert.deepEqual(await r({ keyName: 'other', alias: 'targets', createNew: false, attempt: 0 }), { passphrase: 'd', giveUp: false }, 'cached');
    await assert.rejects(r({ keyName: KEY, alias: 'snapshot', createNew: false, attempt: 0 }), { code: 'NO_PASSPHRASE_INPUT' }, 'end of input');
  });

  void test("docker's alias names and notary's key-name shortening", async () => {
    const h = harness('pass-word-1\npass-word-1\nx\n');
    const r = promptRetriever({ reader: h.reader, output: h.output, aliasNames: DOCKER_ALIAS_NAMES });
    await r({ keyName: KEY, alias: 'targets', createNew: true, attempt: 0 });
    await r({ keyName: `docker.io/lib/${KEY}`, alias: 'alice', createNew: false, attempt: 0 });
    assert.equal(h.out(), 'Enter passphrase for new repository key with ID 0123456: \nRepeat passphrase for new repository key with ID 0123456: \n'
      + 'Enter passphrase for alice key with ID 0123456 (docker.io/lib): \n');
  });

  void test('askConfirm: y or yes in any case', async () => {
    const h = harness('Yes\nno\ny\n\n');
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await askConfirm(h.reader, '? ', h.output));
    assert.deepEqual(answers, [true, false, true, false, false]);
  });
});

void describe('CLI retrievers', () => {
  void test('environment first; without a terminal, an error naming the variable', async () => {
    const r = cliPassphraseRetriever({ mode: 'docker', env: { DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: 'repo' }, interactive: false });
    assert.equal((await r({ keyName: KEY, alias: 'alice', createNew: false, attempt: 0 })).passphrase, 'repo');
    await assert.rejects(r({ keyName: KEY, alias: 'root', createNew: false, attempt: 0 }), {
      code: 'NO_PASSPHRASE_INPUT',
      message: 'please either use environment variables or STDIN with a terminal to provide key passphrases: '
        + 'set DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE (or NOTARY_ROOT_PASSPHRASE) for the root key 0123456',
    });
  });

  void test('the backup passphrase: its own variable, or a prompt', async () => {
    const env = namedPassphraseRetriever('backup', 'VOUCH_BACKUP_PASSPHRASE', { env: { VOUCH_BACKUP_PASSPHRASE: 'b' }, interactive: false });
    assert.equal((await env({ keyName: '', alias: 'backup', createNew: true, attempt: 0 })).passphrase, 'b');
    const none = namedPassphraseRetriever('backup', 'VOUCH_BACKUP_PASSPHRASE', { env: {}, interactive: false });
    await assert.rejects(none({ keyName: '', alias: 'backup', createNew: true, attempt: 0 }), {
      message: 'please either use environment variables or STDIN with a terminal to provide key passphrases: set VOUCH_BACKUP_PASSPHRASE for the backup passphrase',
    });
    const h = harness('backup-pass\nbackup-pass\n');
    const prompted = namedPassphraseRetriever('backup', 'VOUCH_BACKUP_PASSPHRASE', { env: {}, interactive: true, reader: h.reader, output: h.output });
    assert.equal((await prompted({ keyName: '', alias: 'backup', createNew: true, attempt: 0 })).passphrase, 'backup-pass');
    assert.equal(h.out(), 'Enter passphrase for new backup key: \nRepeat passphrase for new backup key: \n');
  });
});

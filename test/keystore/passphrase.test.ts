// Passphrase retrieval rules (docs/formats.md §10.3, vector 24): the environment mapping of the
// notary CLI and docker, attempt semantics, and the key store's unlock and new-passphrase loops.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VouchError } from '../../src/errors.ts';
import { KeyStoreError } from '../../src/keystore/errors.ts';
import {
  chooseNewPassphrase, envPassphrase, envRetriever, notaryPassphraseVariable, passphraseVariables, unlockWithRetriever,
  type PassphraseRequest, type PassphraseRetriever,
} from '../../src/keystore/passphrase.ts';

const req = (alias: string, attempt = 0, createNew = false): PassphraseRequest => ({ keyName: 'abcdef0123456789', alias, createNew, attempt });

void describe('environment mapping', () => {
  void test('notary: root, targets, snapshot by name; delegation for every non-base alias; none for timestamp', () => {
    assert.equal(notaryPassphraseVariable('root'), 'NOTARY_ROOT_PASSPHRASE');
    assert.equal(notaryPassphraseVariable('targets'), 'NOTARY_TARGETS_PASSPHRASE');
    assert.equal(notaryPassphraseVariable('snapshot'), 'NOTARY_SNAPSHOT_PASSPHRASE');
    for (const alias of ['delegation', 'targets/releases', 'alice', 'yubikey', 'encrypted']) {
      assert.equal(notaryPassphraseVariable(alias), 'NOTARY_DELEGATION_PASSPHRASE', alias);
    }
    assert.equal(notaryPassphraseVariable('timestamp'), undefined);
  });

  void test('docker: root has its own variable; every other alias uses the repository one', () => {
    assert.deepEqual(passphraseVariables('root', 'docker'), ['DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE', 'NOTARY_ROOT_PASSPHRASE']);
    assert.deepEqual(passphraseVariables('targets', 'docker'), ['DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE', 'NOTARY_TARGETS_PASSPHRASE']);
    assert.deepEqual(passphraseVariables('alice', 'notary'), ['NOTARY_DELEGATION_PASSPHRASE', 'DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE']);
    assert.deepEqual(passphraseVariables('timestamp', 'notary'), ['DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE']);
  });

  void test('vector 24: NOTARY_DELEGATION_PASSPHRASE alone unlocks role alice', () => {
    const env = { NOTARY_DELEGATION_PASSPHRASE: 'delegation-pass' };
    assert.deepEqual(envPassphrase(env, 'alice', 'notary'), { variable: 'NOTARY_DELEGATION_PASSPHRASE', value: 'delegation-pass' });
    assert.equal(envPassphrase(env, 'root', 'notary'), undefined);
    assert.equal(envPassphrase(env, 'targets', 'notary'), undefined);
  });

  void test('vector 24: DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE unlocks targets, snapshot and signers, never root', () => {
    const env = { DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: 'repo-pass' };
    for (const alias of ['targets', 'snapshot', 'alice', 'targets/releases']) {
      assert.equal(envPassphrase(env, alias, 'docker')?.value, 'repo-pass', alias);
    }
    assert.equal(envPassphrase(env, 'root', 'docker'), undefined);
    assert.equal(envPassphrase(env, 'root', 'notary'), undefined);
  });

  void test('an empty variable counts as unset', () => {
    assert.equal(envPassphrase({ NOTARY_ROOT_PASSPHRASE: '', DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE: 'd' }, 'root', 'notary')?.value, 'd');
  });
});

void describe('envRetriever', () => {
  void test('trusts the value for attempts 0 and 1, then gives up', async () => {
    const r = envRetriever({ NOTARY_ROOT_PASSPHRASE: 'p' }, 'notary');
    assert.deepEqual(await r(req('root', 0)), { passphrase: 'p', giveUp: false });
    assert.deepEqual(await r(req('root', 1)), { passphrase: 'p', giveUp: false });
    assert.deepEqual(await r(req('root', 2)), { passphrase: 'p', giveUp: true });
  });

  void test('no variable and no prompt: the error names the variable to set', async () => {
    const r = envRetriever({}, 'notary');
    await assert.rejects(r(req('root')), (e: unknown) => e instanceof KeyStoreError && e.code === 'NO_PASSPHRASE_INPUT'
      && e.message === 'please either use environment variables or STDIN with a terminal to provide key passphrases: '
        + 'set NOTARY_ROOT_PASSPHRASE (or DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE) for the root key abcdef0');
    await assert.rejects(envRetriever({}, 'docker')(req('targets', 0, true)), {
      message: 'please either use environment variables or STDIN with a terminal to provide key passphrases: '
        + 'set DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE (or NOTARY_TARGETS_PASSPHRASE) for the new targets key abcdef0',
    });
  });

  void test('defers to the fallback when no variable is set', async () => {
    const r = envRetriever({}, 'notary', () => Promise.resolve({ passphrase: 'typed', giveUp: false }));
    assert.equal((await r(req('root'))).passphrase, 'typed');
  });
});

class Wrong extends VouchError<'INCORRECT_PASSPHRASE'> {
  constructor() {
    super('INCORRECT_PASSPHRASE', 'pkcs8: incorrect password');
  }
}

void describe('unlockWithRetriever', () => {
  void test('a wrong environment passphrase is tried once (not re-derived), then password invalid', async () => {
    let derivations = 0;
    const r = envRetriever({ NOTARY_ROOT_PASSPHRASE: 'wrong' }, 'notary');
    await assert.rejects(unlockWithRetriever(r, 'id', 'root', () => {
      derivations++;
      throw new Wrong();
    }), { code: 'PASSWORD_INVALID', message: 'password invalid, operation has failed.' });
    assert.equal(derivations, 1);
  });

  void test('a prompt gets the first try plus 3 retries; the right passphrase on the last one works', async () => {
    const asked: number[] = [];
    const r: PassphraseRetriever = (q) => {
      asked.push(q.attempt);
      if (q.attempt > 3) return Promise.reject(new KeyStoreError('ATTEMPTS_EXCEEDED', 'too many attempts'));
      return Promise.resolve({ passphrase: `try${q.attempt}`, giveUp: false });
    };
    const ok = await unlockWithRetriever(r, 'id', 'root', (p) => {
      if (p !== 'try3') throw new Wrong();
      return 42;
    });
    assert.deepEqual(ok, { value: 42, passphrase: 'try3' });
    asked.length = 0;
    await assert.rejects(unlockWithRetriever(r, 'id', 'root', () => {
      throw new Wrong();
    }), { code: 'PASSWORD_INVALID' });
    assert.deepEqual(asked, [0, 1, 2, 3, 4]);
  });

  void test('damage found after decryption ends the loop at once, as itself', async () => {
    let calls = 0;
    const r = envRetriever({ NOTARY_ROOT_PASSPHRASE: 'p' }, 'notary');
    await assert.rejects(unlockWithRetriever(r, 'id', 'root', () => {
      calls++;
      throw new KeyStoreError('INVALID_KEY_FILE', 'unsupported');
    }), { code: 'INVALID_KEY_FILE' });
    assert.equal(calls, 1);
  });

  void test('NO_PASSPHRASE_INPUT passes through unchanged', async () => {
    await assert.rejects(unlockWithRetriever(envRetriever({}, 'notary'), 'id', 'alice', () => 1), { code: 'NO_PASSPHRASE_INPUT' });
  });
});

void describe('chooseNewPassphrase', () => {
  void test('a rejected passphrase is asked again, up to 4 times in all', async () => {
    const asked: number[] = [];
    const r: PassphraseRetriever = (q) => {
      asked.push(q.attempt);
      return q.attempt < 2 ? Promise.reject(new KeyStoreError('PASSPHRASE_REJECTED', 'passphrase too short'))
        : Promise.resolve({ passphrase: 'long enough', giveUp: false });
    };
    assert.equal(await chooseNewPassphrase(r, 'id', 'root'), 'long enough');
    assert.deepEqual(asked, [0, 1, 2]);
    const never: PassphraseRetriever = () => Promise.reject(new KeyStoreError('PASSPHRASE_REJECTED', 'x'));
    await assert.rejects(chooseNewPassphrase(never, 'id', 'root'), { code: 'ATTEMPTS_EXCEEDED', message: 'maximum number of passphrase attempts exceeded' });
  });

  void test('an empty passphrase is refused: Vouch never stores a key unencrypted', async () => {
    await assert.rejects(chooseNewPassphrase(() => Promise.resolve({ passphrase: '', giveUp: false }), 'id', 'root'),
      { code: 'PASSPHRASE_REJECTED', message: 'no password provided' });
  });

  void test('environment values bypass the length rule', async () => {
    assert.equal(await chooseNewPassphrase(envRetriever({ NOTARY_TARGETS_PASSPHRASE: 'short' }, 'notary'), 'id', 'targets'), 'short');
  });
});

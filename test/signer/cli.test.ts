// `vouch signer rekey` and `vouch signer health` as a user runs them (child processes), on a
// SQLite key database holding keys under two aliases.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseSignerConfig } from '../../src/signer/config.ts';
import { openSignerStore } from '../../src/signer/daemon.ts';
import { envPassphrases } from '../../src/signer/key-crypto.ts';
import { LocalSigningService } from '../../src/signer/local-service.ts';
import { generateTestPki } from '../helpers/tls.ts';
import { aliasEnv, runVouchSigner, signerConfig } from './helpers/vouch-signer.ts';

const OLD = { alpha: 'alpha-passphrase', beta: 'beta-passphrase' };

void describe('vouch signer rekey / health', () => {
  let dir: string;
  let configFile: string;
  const keyIds: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vouch-signer-cli-'));
    const pki = generateTestPki(join(dir, 'pki'));
    configFile = join(dir, 'signer.json');
    const json = signerConfig({ pki, workDir: dir, defaultAlias: 'alpha' }, 0);
    writeFileSync(configFile, JSON.stringify(json));
    for (const alias of ['alpha', 'beta']) {
      const env = aliasEnv(OLD);
      const s = await openSignerStore(parseSignerConfig(JSON.stringify(json), configFile, env), env);
      const service = new LocalSigningService({ store: s.store, passphrases: envPassphrases(env), defaultAlias: alias });
      keyIds.push((await service.createKey({ algorithm: 'ecdsa', gun: `g/${alias}`, role: 'timestamp' })).keyId);
      await service.close();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  void test('health --json: healthy with both passphrases; exit 1 naming the missing variable', () => {
    const ok = runVouchSigner(['health', '--config', configFile, '--json', '--all'], aliasEnv(OLD));
    assert.equal(ok.code, 0, ok.stderr);
    const report = JSON.parse(ok.stdout) as { healthy: boolean; activeKeys: number; aliases: { alias: string; keys: number; decryptable: boolean }[] };
    assert.equal(report.healthy, true);
    assert.equal(report.activeKeys, 2);
    assert.deepEqual(report.aliases.map((a) => [a.alias, a.keys, a.decryptable]), [['alpha', 1, true], ['beta', 1, true]]);
    const missing = runVouchSigner(['--config', configFile, 'health'], aliasEnv({ alpha: OLD.alpha }));
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /^status: UNHEALTHY\n/);
    assert.match(missing.stdout, /\nalias beta: 1 key\(s\), passphrase NOT SET \(NOTARY_SIGNER_BETA is not set\)\n/);
  });

  void test('rekey --to moves every key to the new alias; health then passes with only that passphrase', () => {
    const env = aliasEnv({ ...OLD, gamma: 'gamma-passphrase' });
    const r = runVouchSigner(['rekey', '--config', configFile, '--to', 'gamma'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 're-encrypted 2 key(s) under alias gamma (from alpha, beta)\nnew keys still use alias alpha: set storage.default_alias to gamma\n');
    const h = runVouchSigner(['health', '--config', configFile, '--all'], { ...aliasEnv({ gamma: 'gamma-passphrase' }), NOTARY_SIGNER_STORAGE_DEFAULT_ALIAS: 'gamma' });
    assert.equal(h.code, 0, h.stdout + h.stderr);
    assert.match(h.stdout, /^status: healthy\n/);
    assert.match(h.stdout, /\nalias gamma: 2 key\(s\), decrypts\n/);
    const noTarget = runVouchSigner(['rekey', '--config', configFile, '--to', 'delta'], env);
    assert.equal(noTarget.code, 1);
    assert.equal(noTarget.stderr, 'vouch signer: passphrase alias "delta" is not available: set NOTARY_SIGNER_DELTA\n');
  });
});

// The docker CLI (28, no engine) against `vouch server` (issue #5): signer add (which initialises
// the repository), inspect and inspect --pretty, re-signing a tag that is already signed, revoke,
// and signer remove as far as docker itself gets (docs/compatibility.md §3: it removes nothing).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

import { notaryPeersUnavailableReason } from '../helpers/notary-harness.ts';
import { startVouchHarness, type VouchHarness } from './harness.ts';

const DOCKER = '/usr/local/bin/docker';
const missing = !existsSync(DOCKER) ? `${DOCKER} is missing` : notaryPeersUnavailableReason();
const REPO = 'registry.example.com/team/app';
const ROOT_PASS = 'docker-root-passphrase';
const REPO_PASS = 'docker-repo-passphrase';

interface TrustInspect {
  Name: string;
  SignedTags: { SignedTag: string; Digest: string; Signers: string[] }[];
  Signers: { Name: string; Keys: { ID: string }[] }[];
  AdministrativeKeys: { Name: string; Keys: { ID: string }[] }[];
}

void describe('docker CLI against vouch server', { skip: missing === undefined ? false : missing }, () => {
  let h: VouchHarness;
  let dockerConfig: string;
  let work: string;
  const env = (): Record<string, string> => ({
    PATH: '/usr/local/bin:/usr/bin:/bin', HOME: work, DOCKER_CONFIG: dockerConfig,
    DOCKER_CONTENT_TRUST_SERVER: h.url, DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE: ROOT_PASS,
    DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: REPO_PASS,
  });
  // Asynchronous: the server runs in this process, so a blocking spawn would starve it.
  const docker = (args: string[]): Promise<{ code: number | null; out: string }> => new Promise((resolve, reject) => {
    const child = spawn(DOCKER, args, { cwd: work, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
  const inspect = async (): Promise<TrustInspect> => {
    const r = await docker(['trust', 'inspect', REPO]);
    assert.equal(r.code, 0, r.out);
    return (JSON.parse(r.out) as TrustInspect[])[0]!;
  };

  before(async () => {
    h = await startVouchHarness();
    work = h.newDir('docker');
    dockerConfig = join(work, 'config');
    const tlsDir = join(dockerConfig, 'tls', h.url.replace(/^https:\/\//, ''));
    mkdirSync(tlsDir, { recursive: true });
    copyFileSync(h.caFile, join(tlsDir, 'ca.crt'));
  });
  after(async () => {
    await h?.stop();
  });

  void test('signer add, inspect, re-sign, revoke, signer remove', async () => {
    let r = await docker(['trust', 'key', 'generate', 'alice']);
    assert.equal(r.code, 0, r.out);
    r = await docker(['trust', 'signer', 'add', '--key', 'alice.pub', 'alice', REPO]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`Successfully initialized "${REPO}"\\nSuccessfully added signer: alice to ${REPO}`));
    let view = await inspect();
    assert.deepEqual(view.Signers.map((s) => s.Name), ['alice']);
    assert.deepEqual(view.AdministrativeKeys.map((k) => k.Name), ['Root', 'Repository']);
    assert.deepEqual(view.SignedTags, []);

    // docker cannot put the first signature on a tag without an engine (docs/compatibility.md §3): notary does.
    const digest = createHash('sha256').update('a manifest').digest('hex');
    const signed = await h.notary(['addhash', REPO, 'v1', '10', '--sha256', digest, '-r', 'targets/releases', '-r', 'targets/alice', '-p'], {
      trustDir: join(dockerConfig, 'trust'), passphrases: { targets: REPO_PASS, delegation: REPO_PASS },
    });
    assert.equal(signed.code, 0, signed.stderr);
    view = await inspect();
    assert.deepEqual(view.SignedTags, [{ SignedTag: 'v1', Digest: digest, Signers: ['alice'] }]);
    const pretty = await docker(['trust', 'inspect', '--pretty', REPO]);
    assert.equal(pretty.code, 0, pretty.out);
    assert.match(pretty.out, new RegExp(`v1 +${digest} +alice`));
    assert.match(pretty.out, /SIGNER +KEYS\nalice +[0-9a-f]{12}\n/);

    const before = (await h.store.getLatest(REPO, 'timestamp'))!.version;
    r = await docker(['trust', 'sign', `${REPO}:v1`]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`Successfully signed ${REPO}:v1`));
    assert.equal((await h.store.getLatest(REPO, 'timestamp'))!.version, before + 1, 're-signing published once');
    assert.deepEqual((await inspect()).SignedTags, [{ SignedTag: 'v1', Digest: digest, Signers: ['alice'] }]);

    r = await docker(['trust', 'revoke', '-y', `${REPO}:v1`]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`Successfully deleted signature for ${REPO}:v1`));
    assert.deepEqual((await inspect()).SignedTags, []);

    // docker 28 prints this, exits 0 and removes nothing (docs/compatibility.md §3): assert what it did.
    r = await docker(['trust', 'signer', 'remove', '-f', 'alice', REPO]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`Removing signer "alice" from ${REPO}...`));
    assert.deepEqual((await inspect()).Signers.map((s) => s.Name), ['alice']);
  });
});

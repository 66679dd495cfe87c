/**
 * The other direction: the Vouch core produces root, targets (with a delegation) and snapshot,
 * uploads them to the Debian notary-server as the notary client would (multipart POST), and the
 * real notary client trusts them: `notary list` and `notary lookup` show the targets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { generateKeyPairSync } from '../helpers/keys.ts';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { notaryHarnessForFile } from '../helpers/notary-harness.ts';
import { parseNotaryList, runNotary } from '../helpers/notary-cli.ts';
import { fetchRole, roleUrl } from '../helpers/fetch-collection.ts';
import { createRootCertificate } from '../../src/crypto/x509.ts';
import { rootCertificateKey } from '../../src/tuf/certs.ts';
import { localSigner } from '../../src/tuf/local-signer.ts';
import { parsePublicKey } from '../../src/tuf/keys.ts';
import { newRepository, signChanges } from '../../src/tuf/builder.ts';
import type { Metadata } from '../../src/tuf/metadata.ts';
import type { RoleName } from '../../src/tuf/types.ts';
import { fileMetaOf } from '../../src/tuf/verify.ts';
import { TrustedCollection } from '../../src/tuf/trusted.ts';
import { parseGun } from '../../src/tuf/types.ts';

const peers = notaryHarnessForFile();
const { skip } = peers;

/** The notary client's upload: one `files` part per role, the bare role name as filename. */
function publish(gun: string, files: readonly Metadata[]): Promise<{ status: number; body: string }> {
  const boundary = randomBytes(30).toString('hex');
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${f.role}"\r\nContent-Type: application/octet-stream\r\n\r\n`));
    parts.push(Buffer.from(f.bytes), Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  const body = Buffer.concat(parts);
  const url = new URL(roleUrl(peers.harness.url, gun, ''));
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST', ca: readFileSync(peers.harness.caFile),
      headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': body.length },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('publish timed out')));
    req.end(body);
  });
}

function ecKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

test('the real notary client trusts and lists a collection the Vouch core produced', { skip }, async () => {
  const gun = 'example.com/vouch/made-by-core';
  const now = new Date();
  const timestampKey = parsePublicKey(JSON.parse((await fetchRole(peers.harness.url, gun, 'timestamp.key', peers.harness.caFile)).toString('utf8')), 'timestamp.key');
  const rootPriv = ecKey();
  const rootSigner = localSigner(rootPriv, rootCertificateKey(createRootCertificate({ gun, privateKey: rootPriv, now })));
  const targetsSigner = localSigner(ecKey());
  const snapshotSigner = localSigner(ecKey());
  const releasesSigner = localSigner(ecKey());
  const repo = await newRepository({ gun, now, rootKeys: [rootSigner], targetsKey: targetsSigner, snapshotKey: snapshotSigner, timestampKey, snapshot: 'client' });

  const payload = Buffer.from('signed by the vouch core\n');
  const odd = 'a<b&c>é"q\\z';
  const signers = (role: RoleName) => (role === 'targets' ? [targetsSigner] : role === 'snapshot' ? [snapshotSigner] : role === 'targets/releases' ? [releasesSigner] : [rootSigner]);
  const changed = await signChanges({
    now, snapshot: 'client', signers,
    current: { root: repo.root, targets: new Map([['targets' as RoleName, repo.targets]]), ...(repo.snapshot ? { snapshot: repo.snapshot } : {}) },
    changes: [
      { kind: 'addTarget', role: 'targets', name: 'hello', meta: fileMetaOf(payload) },
      { kind: 'addTarget', role: 'targets', name: odd, meta: fileMetaOf(payload) },
      { kind: 'updateDelegation', name: 'targets/releases', threshold: 1, addKeys: [releasesSigner.publicKey], addPaths: [''] },
      { kind: 'addTarget', role: 'targets/releases', name: 'v2', meta: fileMetaOf(Buffer.from('v2\n')) },
    ],
  });
  const upload = [...changed.files.values()];
  // The first publish carries root v1 as well: notary-server needs a root to validate the rest.
  if (!changed.files.has('root' as RoleName)) upload.push(repo.root);
  const res = await publish(gun, upload);
  assert.equal(res.status, 200, res.body);

  // The real client, with an empty trust dir: TOFU over HTTPS, then full verification.
  const trustDir = join(peers.harness.newDir('reader'), 'trust');
  const list = await runNotary(['list', gun], { trustDir, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0 });
  const rows = parseNotaryList(list.stdout);
  const sha = createHash('sha256').update(payload).digest('hex');
  assert.deepEqual(
    rows.map((r) => [r.name, r.sha256, r.size, r.role]).sort(),
    [['hello', sha, payload.length, 'targets'], [odd, sha, payload.length, 'targets'], ['v2', createHash('sha256').update('v2\n').digest('hex'), 3, 'targets/releases']].sort(),
  );
  const lookup = await runNotary(['lookup', gun, odd], { trustDir, serverUrl: peers.harness.url, caFile: peers.harness.caFile, expectCode: 0 });
  assert.equal(lookup.stdout.trim(), `${odd} sha256:${sha} ${payload.length}`);

  // And Vouch's own state machine agrees with what the server now serves (server-made timestamp).
  const tc = new TrustedCollection({ gun: parseGun(gun), now: new Date() });
  tc.updateRoot(new Uint8Array(await fetchRole(peers.harness.url, gun, 'root.json', peers.harness.caFile)));
  tc.updateTimestamp(new Uint8Array(await fetchRole(peers.harness.url, gun, 'timestamp.json', peers.harness.caFile)));
  tc.updateSnapshot(new Uint8Array(await fetchRole(peers.harness.url, gun, 'snapshot.json', peers.harness.caFile)));
  tc.updateTargets(new Uint8Array(await fetchRole(peers.harness.url, gun, 'targets.json', peers.harness.caFile)));
  tc.updateDelegation('targets/releases' as RoleName, new Uint8Array(await fetchRole(peers.harness.url, gun, 'targets/releases.json', peers.harness.caFile)));
  assert.equal(tc.lookup('v2')?.role, 'targets/releases');
});

test('notary-server rejects a Vouch root whose certificate CN is another GUN, as notary validates', { skip }, async () => {
  const gun = 'example.com/vouch/wrong-cn';
  const now = new Date();
  const timestampKey = parsePublicKey(JSON.parse((await fetchRole(peers.harness.url, gun, 'timestamp.key', peers.harness.caFile)).toString('utf8')), 'timestamp.key');
  const rootPriv = ecKey();
  const rootSigner = localSigner(rootPriv, rootCertificateKey(createRootCertificate({ gun: 'example.com/someone/else', privateKey: rootPriv, now })));
  const repo = await newRepository({ gun, now, rootKeys: [rootSigner], targetsKey: localSigner(ecKey()), snapshotKey: localSigner(ecKey()), timestampKey, snapshot: 'client' });
  const res = await publish(gun, [repo.root, repo.targets, repo.snapshot!]);
  assert.equal(res.status, 400);
  const body = JSON.parse(res.body);
  assert.equal(body.errors[0].code, 'INVALID_UPDATE');
  assert.equal(body.errors[0].detail.Name, 'ErrBadRoot');
});

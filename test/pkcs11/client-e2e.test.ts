/**
 * End to end with a SoftHSM2 token and the real notary stack: `init` puts the root key on the
 * token (backup copy in the file store), `publish` signs root on the token, and the real notary
 * client verifies the collection; then the targets key is rotated onto the token, and a publish
 * that needs the token while it is unreachable fails cleanly, keeping the staged change.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordingLogger } from '../../src/client/log.ts';
import { RemoteStore } from '../../src/client/remote.ts';
import { Repository } from '../../src/client/repository.ts';
import { HttpTransport } from '../../src/client/transport.ts';
import { hasCode } from '../../src/errors.ts';
import { KeyFileStore } from '../../src/keystore/file-store.ts';
import { constantRetriever } from '../../src/keystore/passphrase.ts';
import { TokenFirstKeys } from '../../src/keystore/pkcs11/chain.ts';
import { Pkcs11KeyStore } from '../../src/keystore/pkcs11/store.ts';
import { canonicalKeyId, parsePublicKey } from '../../src/tuf/keys.ts';
import { fileMetaOf } from '../../src/tuf/verify.ts';
import { notaryPeersUnavailableReason, startNotaryHarness, type NotaryHarness } from '../helpers/notary-harness.ts';
import { parseNotaryList, runNotary } from '../helpers/notary-cli.ts';
import { createSoftHsm, hookedPort, SKIP_REASON, SOFTHSM_MODULE } from './softhsm.ts';
import type { SoftHsm } from './softhsm.ts';

const skip = SKIP_REASON !== false ? SKIP_REASON : notaryPeersUnavailableReason();
const PIN = '112358';
let harness: NotaryHarness;
let hsm: SoftHsm;
before(async () => {
  if (skip !== undefined) return;
  harness = await startNotaryHarness();
  hsm = createSoftHsm();
  hsm.initToken('vouch-root', PIN);
});
after(async () => {
  await harness?.stop();
  hsm?.cleanup();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('init with the root on the token, publish, notary verifies; targets key rotated onto the token', { skip }, async () => {
  const gun = 'example.com/vouch/pkcs11';
  const trustDir = join(harness.newDir('vouch'), 'trust');
  mkdirSync(trustDir, { recursive: true });
  const files = KeyFileStore.open(trustDir, { retriever: constantRetriever('token backup passphrase'), iterations: 2048 });
  let tokenSignatures = 0;
  const token = new Pkcs11KeyStore({
    module: {
      path: SOFTHSM_MODULE, token: { label: 'vouch-root' },
      openPort: hookedPort({ signEcdsa: (real, ...args) => { tokenSignatures++; return real.signEcdsa(...args); } }),
    },
    pins: { userPin: PIN, userPinSource: 'VOUCH_PKCS11_PIN' },
  });
  const transport = new HttpTransport({ baseUrl: harness.url, tls: { ca: readFileSync(harness.caFile, 'utf8') } });
  const repoWith = (keys: TokenFirstKeys) => new Repository({ gun, trustDir, keys, log: recordingLogger(), remote: new RemoteStore(transport, gun) });
  const readerDir = join(harness.newDir('reader'), 'trust');
  const notary = (args: string[]) => runNotary(args, { trustDir: readerDir, serverUrl: harness.url, caFile: harness.caFile, expectCode: 0 });
  try {
    const repo = repoWith(new TokenFirstKeys(files, token, { required: true }));
    const init = await repo.initialize();
    assert.equal(init.createdRootKey, true);
    const [rootId] = init.rootKeyIds;
    const onToken = await token.listKeys();
    assert.deepEqual(onToken.map((k) => [k.keyId, k.role]), [[rootId, 'root']]);
    // notary's backup copy of the root key, plus the targets and snapshot keys, are files.
    const fileKeys = files.list().keys;
    assert.deepEqual(fileKeys.map((k) => k.role).sort(), ['root', 'snapshot', 'targets']);
    assert.equal(fileKeys.find((k) => k.role === 'root')?.keyId, rootId);
    assert.ok(tokenSignatures >= 2, 'the certificate and root.json were signed on the token');

    const payload = Buffer.from('signed with a hardware root\n');
    await repo.addTarget('hello', fileMetaOf(payload));
    const first = await repo.publish();
    assert.equal(first.initial, true);
    const list = await notary(['list', gun]);
    assert.deepEqual(parseNotaryList(list.stdout).map((r) => [r.name, r.sha256, r.size]), [['hello', sha(payload), payload.length]]);
    // The root notary trusts is the token key, wrapped in its certificate.
    const root = JSON.parse(readFileSync(join(readerDir, 'tuf', gun, 'metadata', 'root.json'), 'utf8')) as { signed: { keys: Record<string, unknown>; roles: { root: { keyids: string[] } } } };
    const [rootKeyId] = root.signed.roles.root.keyids;
    assert.equal(canonicalKeyId(parsePublicKey(root.signed.keys[rootKeyId!], 'root')), rootId);

    // Rotation of the targets key onto the token (root signs the new root on the token).
    const before = tokenSignatures;
    const rotating = repoWith(new TokenFirstKeys(files, token, { tokenRoles: ['root', 'targets'], required: true }));
    await rotating.rotateKey('targets');
    const targetsOnToken = (await token.listKeys()).filter((k) => k.role === 'targets');
    assert.equal(targetsOnToken.length, 1);
    assert.equal(targetsOnToken[0]!.gun, gun);
    assert.equal(files.has(targetsOnToken[0]!.keyId), false, 'a targets key made on the token has no file copy');
    const two = Buffer.from('signed with a hardware targets key\n');
    await rotating.addTarget('two', fileMetaOf(two));
    await rotating.publish();
    assert.ok(tokenSignatures > before + 1);
    const lookup = await notary(['lookup', gun, 'two']);
    assert.equal(lookup.stdout, `two sha256:${sha(two)} ${two.length}\n`);

    // The token is unreachable (module pointed elsewhere): the publish fails, the change stays staged.
    const elsewhere = new Pkcs11KeyStore({ module: { path: join(hsm.dir, 'missing.so'), token: { label: 'vouch-root' } }, pins: { userPin: PIN } });
    const offline = repoWith(new TokenFirstKeys(files, elsewhere, { tokenRoles: ['root', 'targets'], required: true }));
    await offline.addTarget('three', fileMetaOf(Buffer.from('three\n')));
    await assert.rejects(offline.publish(), (e: unknown) => hasCode(e, 'MODULE_LOAD_FAILED'));
    assert.equal((await offline.status()).length, 1);
    assert.deepEqual(parseNotaryList((await notary(['list', gun])).stdout).map((r) => r.name), ['hello', 'two']);
    // With the token back, the same staged change publishes.
    await repoWith(new TokenFirstKeys(files, token, { tokenRoles: ['root', 'targets'], required: true })).publish();
    assert.deepEqual(parseNotaryList((await notary(['list', gun])).stdout).map((r) => r.name), ['hello', 'three', 'two']);
  } finally {
    await transport.close();
  }
});

/**
 * What a command process of the agent does while it waits: runs, on throw-away keys and an
 * in-memory repository, the code every trust command runs first — key import, export and
 * decryption, a root certificate, signing, canonical JSON, metadata parsing, root validation and
 * signature checks. The first call of each costs far more than later ones (OpenSSL loads digests
 * and curves on first use; V8 has no type feedback yet): in a profile of `add -p` run by a process
 * that had only loaded Vouch, such first calls were a third of its CPU time.
 *
 * It touches no file, no network and no state a command reads: everything it makes is garbage
 * when it returns.
 */
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { decodeFirstPem } from '../crypto/pem.ts';
import { readPrivateKeyPemAsync, writeEncryptedPrivateKeyPem } from '../crypto/private-key-pem.ts';
import { createRootCertificate } from '../crypto/x509.ts';
import { newRepository, roleVerifier, signTimestamp } from '../tuf/builder.ts';
import { rootCertificateKey } from '../tuf/certs.ts';
import { publicKeyFromPrivate } from '../tuf/keys.ts';
import { localSigner } from '../tuf/local-signer.ts';
import { parseMetadata } from '../tuf/metadata.ts';
import { validateRoot } from '../tuf/root-trust.ts';
import { parseGun } from '../tuf/types.ts';
import { countValidSignatures } from '../tuf/verify.ts';
import type { RoleKeys } from '../tuf/metadata.ts';

const ROUNDS = 3;

// Fixed throw-away keys, not generated ones: on Node 20 a key-generation job collected by a GC
// that runs while the same key is being exported deadlocks the process (seen here: the main
// thread waiting forever on the key's mutex inside ~KeyGenJob during ExportJWK).
const P256_SEC1_PREFIX = Buffer.from('30310201010420', 'hex');
const P256_SEC1_SUFFIX = Buffer.from('a00a06082a8648ce3d030107', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function scalar(n: number): Buffer {
  return createHash('sha256').update(`vouch agent warm-up key ${n}`).digest();
}

function fixedEcKey(n: number): KeyObject {
  return createPrivateKey({ key: Buffer.concat([P256_SEC1_PREFIX, scalar(n), P256_SEC1_SUFFIX]), format: 'der', type: 'sec1' });
}

function fixedEd25519Key(n: number): KeyObject {
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, scalar(n)]), format: 'der', type: 'pkcs8' });
}

export async function warmUp(): Promise<void> {
  for (let round = 0; round < ROUNDS; round++) await warmUpOnce();
}

async function warmUpOnce(): Promise<void> {
  const now = new Date();
  const gun = parseGun('vouch/agent-warm-up');
  const rootKey = fixedEcKey(1);
  const targetsKey = fixedEcKey(2);
  const snapshotKey = fixedEcKey(3);
  const timestampKey = fixedEd25519Key(4);

  // A key file written and read back the way the key store does (few iterations: the derivation
  // itself needs no warming, the code around it does).
  const pem = writeEncryptedPrivateKeyPem(targetsKey, 'warm-up passphrase', { role: 'targets', gun }, { iterations: 1000 });
  await readPrivateKeyPemAsync(decodeFirstPem(pem), 'warm-up passphrase');
  createPrivateKey({ key: targetsKey.export({ format: 'der', type: 'pkcs8' }), format: 'der', type: 'pkcs8' });
  createHash('sha256').update(pem).digest('hex');
  createHash('sha512').update(pem).digest();

  const certKey = rootCertificateKey(createRootCertificate({ gun, privateKey: rootKey, now }));
  const repo = await newRepository({
    gun, now,
    rootKeys: [localSigner(rootKey, certKey)],
    targetsKey: localSigner(targetsKey),
    snapshotKey: localSigner(snapshotKey),
    timestampKey: publicKeyFromPrivate(timestampKey),
    snapshot: 'client',
  });
  const root = parseMetadata('root', repo.root.bytes);
  validateRoot({ root, previous: undefined, gun, now, pinning: undefined });
  const targets = parseMetadata('targets', repo.targets.bytes);
  const role = (name: string) => roleVerifier(name, root.signed.keys, root.signed.roles.get(name) as RoleKeys);
  countValidSignatures(targets, role('targets'));
  if (repo.snapshot !== undefined) {
    const snapshot = parseMetadata('snapshot', repo.snapshot.bytes);
    countValidSignatures(snapshot, role('snapshot'));
    const timestamp = await signTimestamp({
      now, snapshotBytes: repo.snapshot.bytes, signer: localSigner(timestampKey), verifier: role('timestamp'),
    });
    countValidSignatures(parseMetadata('timestamp', timestamp.bytes), role('timestamp'));
  }
}

// Backup and restore: byte-identical round trip, archive shape and modes, re-encrypted backups,
// refusal of damaged or mismatched archives with nothing written, no clobbering, and a full disk
// during backup (a real small tmpfs when this process may mount one, and an injected ENOSPC).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { packArchive, unpackArchive } from '../../src/keystore/archive.ts';
import { BACKUP_MANIFEST, createBackup, restoreBackup, writeBackupFile } from '../../src/keystore/backup.ts';
import { KeyFileStore } from '../../src/keystore/file-store.ts';
import { constantRetriever, envRetriever } from '../../src/keystore/passphrase.ts';
import { TEST_ITERATIONS, snapshotDir, tempDir } from './helpers.ts';

const NOW = new Date('2026-03-04T05:06:07.890Z');
const PASS = constantRetriever('store-pass-1');

async function populatedStore(): Promise<KeyFileStore> {
  const store = KeyFileStore.open(join(tempDir(), 'trust'), { retriever: PASS, iterations: TEST_ITERATIONS });
  await store.generate('root');
  await store.generate('targets', { gun: 'example.com/app' });
  await store.generate('targets/releases', { keyType: 'ed25519' });
  return store;
}

function restoreOpts(name = 'backup.tar.gz') {
  return { name, retriever: PASS, backupRetriever: constantRetriever('backup-pass-1') };
}

/** A tar.gz built without any of packArchive's checks: raw entries, for hostile-archive tests. */
function rawTarGz(entries: readonly { path: string; type: 'File' | 'Directory' | 'SymbolicLink'; data?: Uint8Array; linkpath?: string }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? new Uint8Array());
    const block = Buffer.alloc(512);
    new Header({ path: e.path, mode: 0o600, size: data.length, mtime: NOW, type: e.type, uid: 0, gid: 0, ...(e.linkpath ? { linkpath: e.linkpath } : {}) }).encode(block, 0);
    parts.push(block, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts));
}

/** Rebuilds an archive after `edit` changes its entries (for tampering tests). */
function tamper(archive: Buffer, edit: (entries: ReturnType<typeof unpackArchive>) => ReturnType<typeof unpackArchive>): Buffer {
  return packArchive(edit(unpackArchive(archive)), NOW);
}

void describe('backup', () => {
  void test('backup → delete the store → restore gives byte-identical key files', async () => {
    const store = await populatedStore();
    const before = snapshotDir(store.trustDir);
    const { archive, manifest } = await createBackup(store, { now: NOW });
    assert.equal(manifest.reencrypted, false);
    assert.equal(manifest.created, '2026-03-04T05:06:07.890Z');
    rmSync(store.privateDir, { recursive: true });
    const result = await restoreBackup(store, archive, restoreOpts());
    assert.equal(result.restored.length, 3);
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(snapshotDir(store.trustDir), before);
  });

  void test('the archive: manifest, private/ 0700, key files 0600, readable by tar; same input, same bytes', async () => {
    const store = await populatedStore();
    const { archive, manifest } = await createBackup(store, { now: NOW });
    assert.deepEqual((await createBackup(store, { now: NOW })).archive, archive);
    const out = join(tempDir(), 'b.tar.gz');
    writeBackupFile(out, archive);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const listing = spawnSync('tar', ['-tvzf', out], { encoding: 'utf8' });
    assert.equal(listing.status, 0, listing.stderr);
    const lines = listing.stdout.trim().split('\n').map((l) => `${l.split(/\s+/)[0]} ${l.split(/\s+/).at(-1)}`);
    assert.deepEqual(lines, [
      `-rw------- ${BACKUP_MANIFEST}`, 'drwx------ private',
      ...manifest.keys.map((k) => `-rw------- private/${k.id}.key`),
    ]);
    const extracted = tempDir();
    assert.equal(spawnSync('tar', ['-xzf', out, '-C', extracted]).status, 0);
    assert.deepEqual(snapshotDir(join(extracted, 'private')), snapshotDir(store.privateDir));
    for (const k of manifest.keys) {
      const bytes = readFileSync(join(store.privateDir, `${k.id}.key`));
      assert.equal(k.sha256, createHash('sha256').update(bytes).digest('hex'));
    }
    assert.throws(() => writeBackupFile(out, archive), { code: 'FILE_EXISTS' });
  });

  void test('re-encrypted backup: every key opens with the backup passphrase alone', async () => {
    const store = await populatedStore();
    const { archive, manifest } = await createBackup(store, { now: NOW, backupPassphrase: 'backup-pass-1' });
    assert.equal(manifest.reencrypted, true);
    const target = KeyFileStore.open(tempDir(), { retriever: constantRetriever('backup-pass-1') });
    const result = await restoreBackup(target, archive, { ...restoreOpts(), retriever: constantRetriever('wrong') });
    assert.equal(result.restored.length, 3);
    for (const k of manifest.keys) assert.equal((await target.signer(k.id)).keyId, k.id);
    assert.deepEqual(result.restored.map((k) => [k.role, k.gun]).sort(), [['root', ''], ['targets', 'example.com/app'], ['targets/releases', '']]);
  });

  void test('a store with an unreadable key file is not backed up', async () => {
    const store = await populatedStore();
    writeFileSync(join(store.privateDir, `${'ab'.repeat(32)}.key`), 'garbage');
    await assert.rejects(createBackup(store, { now: NOW }), /^KeyStoreError: cannot back up the key store: .*: PEM block is empty; fix or remove it first$/);
  });

  void test('disk full (injected ENOSPC): a clear error and no file left behind', async () => {
    const store = await populatedStore();
    const { archive } = await createBackup(store, { now: NOW });
    const dir = tempDir();
    const before = snapshotDir(store.trustDir);
    assert.throws(() => writeBackupFile(join(dir, 'b.tar.gz'), archive, {
      write: () => {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    }), { code: 'WRITE_FAILED', message: `cannot write ${join(dir, 'b.tar.gz')}: no space left on device` });
    assert.deepEqual(readdirSync(dir), []);
    assert.deepEqual(snapshotDir(store.trustDir), before);
  });

  void test('disk full (a real 16 KiB tmpfs, when this process may mount one): a clear error and no file left behind', async (t) => {
    const mountPoint = mkdtempSync(join(tmpdir(), 'vouch-tmpfs-'));
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16k,mode=0700', 'tmpfs', mountPoint]).status !== 0) {
      rmSync(mountPoint, { recursive: true, force: true });
      t.skip('cannot mount a tmpfs here (needs root); the injected-ENOSPC test covers this path');
      return;
    }
    try {
      const store = await populatedStore();
      const { archive } = await createBackup(store, { now: NOW });
      // Fill the file system so the archive cannot fit.
      writeFileSync(join(mountPoint, 'filler'), Buffer.alloc(16 * 1024 - 512));
      const before = snapshotDir(mountPoint);
      const storeBefore = snapshotDir(store.trustDir);
      const out = join(mountPoint, 'b.tar.gz');
      assert.throws(() => writeBackupFile(out, archive), { code: 'WRITE_FAILED', message: `cannot write ${out}: no space left on device` });
      assert.deepEqual(snapshotDir(mountPoint), before);
      assert.deepEqual(snapshotDir(store.trustDir), storeBefore);
    } finally {
      spawnSync('umount', [mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    }
  });
});

void describe('restore refusals: nothing is written', () => {
  async function expectRefused(archive: Buffer, pattern: RegExp, opts = restoreOpts()): Promise<void> {
    const target = KeyFileStore.open(tempDir(), { retriever: PASS });
    await assert.rejects(restoreBackup(target, archive, opts), pattern);
    assert.deepEqual(snapshotDir(target.trustDir), {});
  }

  void test('damaged, foreign, tampered and mismatched archives', async () => {
    const store = await populatedStore();
    const { archive, manifest } = await createBackup(store, { now: NOW });
    const [k0, k1] = manifest.keys;
    const flipped = Buffer.from(archive);
    flipped[flipped.length - 12] = (flipped[flipped.length - 12] ?? 0) ^ 0xff;
    await expectRefused(flipped, /not a readable gzip archive/);
    await expectRefused(gzipSync(Buffer.from('hello')), /archive is truncated/);
    await expectRefused(tamper(archive, (es) => es.filter((e) => e.path !== BACKUP_MANIFEST)), /not a Vouch key backup \(no vouch-key-backup\.json\)/);
    const entries = unpackArchive(archive).map((e) => ({ path: e.path, type: e.type, ...(e.data ? { data: e.data } : {}) }));
    await expectRefused(rawTarGz([...entries, { path: 'private/../evil', type: 'File' }]), /unsafe name: "private\/\.\.\/evil"/);
    await expectRefused(rawTarGz([...entries, { path: '/etc/evil', type: 'File' }]), /unsafe name: "\/etc\/evil"/);
    await expectRefused(rawTarGz([...entries, { path: 'private/x.key', type: 'SymbolicLink', linkpath: '/etc/passwd' }]),
      /archive entry "private\/x\.key" is a SymbolicLink, not a file or directory/);
    await expectRefused(rawTarGz([...entries, entries[2]!]), /appears twice/);
    await expectRefused(rawTarGz([...entries, { path: 'private/notes.txt', type: 'File' }]), /unexpected archive entry "private\/notes\.txt"/);
    await expectRefused(tamper(archive, (es) => es.map((e) => (e.path === `private/${k0!.id}.key`
      ? { ...e, data: Buffer.from(Buffer.from(e.data!).toString('utf8').replace('role: ', 'role:  ')) } : e))),
    new RegExp(`key file ${k0!.id} is damaged \\(checksum mismatch\\)`));
    // A key under another key's name, with the manifest made consistent: the ID check catches it.
    await expectRefused(tamper(archive, (es) => es.map((e) => {
      if (e.path === BACKUP_MANIFEST) {
        const m = JSON.parse(Buffer.from(e.data!).toString('utf8'));
        m.keys = m.keys.filter((k: { id: string }) => k.id !== k0!.id).map((k: { id: string; sha256: string }) => (k.id === k1!.id ? { ...k0, id: k1!.id } : k));
        return { ...e, data: Buffer.from(JSON.stringify(m)) };
      }
      if (e.path === `private/${k1!.id}.key`) return { ...e, data: readFileSync(join(store.privateDir, `${k0!.id}.key`)) };
      return e.path === `private/${k0!.id}.key` ? { ...e, path: 'private' } : e;
    }).filter((e, i, all) => all.findIndex((x) => x.path === e.path) === i)), new RegExp(`holds key ${k0!.id}, not ${k1!.id}`));
  });

  void test('a wrong passphrase for any key refuses the whole restore', async () => {
    const store = await populatedStore();
    const { archive } = await createBackup(store, { now: NOW });
    await expectRefused(archive, /backup cannot be restored, nothing was written: .*password invalid, operation has failed\./,
      { ...restoreOpts(), retriever: envRetriever({ NOTARY_ROOT_PASSPHRASE: 'wrong', NOTARY_TARGETS_PASSPHRASE: 'wrong', NOTARY_DELEGATION_PASSPHRASE: 'wrong' }, 'notary') });
  });

});

void describe('restore never clobbers', () => {
  void test('an existing different file for the same key is kept and reported; identical files are skipped', async () => {
    const store = await populatedStore();
    const { archive, manifest } = await createBackup(store, { now: NOW });
    const [changed, same] = manifest.keys;
    await store.changePassphrase(changed!.id, PASS);
    rmSync(join(store.privateDir, `${manifest.keys[2]!.id}.key`));
    const keptBytes = readFileSync(join(store.privateDir, `${changed!.id}.key`));
    const result = await restoreBackup(store, archive, restoreOpts());
    assert.deepEqual(result.restored.map((k) => k.keyId), [manifest.keys[2]!.id]);
    assert.deepEqual(result.skipped, [
      { keyId: changed!.id, reason: 'a different file for this key is already in the key store; it was kept' },
      { keyId: same!.id, reason: 'already in the key store (identical file)' },
    ]);
    assert.deepEqual(readFileSync(join(store.privateDir, `${changed!.id}.key`)), keptBytes);
    mkdirSync(store.privateDir, { recursive: true });
  });
});

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { hasCode } from '../../src/errors.ts';
import {
  cosign,
  newRepository,
  parseCustom,
  roleVerifier,
  signChanges,
  signRole,
  signSnapshot,
  signTimestamp,
  type Change,
  type RepoState,
} from '../../src/tuf/builder.ts';
import { applyChange, draftFrom } from '../../src/tuf/edit.ts';
import { ValidationError } from '../../src/tuf/errors.ts';
import { canonicalKeyId, type PublicKey } from '../../src/tuf/keys.ts';
import { parseMetadata, type FileMeta, type Metadata, type RootSigned, type TargetsSigned } from '../../src/tuf/metadata.ts';
import { checkHashes, verifySignatures } from '../../src/tuf/verify.ts';
import { formatExpiry, YEAR_MS, DAY_MS } from '../../src/tuf/time.ts';
import type { RoleName } from '../../src/tuf/types.ts';
import type { Signer } from '../../src/tuf/signer.ts';
import { allSigners, ecdsaSigner, publicOnly, rootSigner, verifyState } from './builder-keys.ts';

const GUN = 'docker.com/vouch/builder';
const NOW = new Date('2024-01-02T03:04:05.678Z');
const rootKey = rootSigner(GUN, NOW);
const targetsKey = ecdsaSigner();
const snapshotKey = ecdsaSigner();
const timestampKey = publicOnly();
const delegateA = ecdsaSigner();
const delegateB = ecdsaSigner();

function fileMeta(content: string, custom?: FileMeta['custom']): FileMeta {
  const bytes = Buffer.from(content);
  const hashes = new Map([
    ['sha256', new Uint8Array(createHash('sha256').update(bytes).digest())],
    ['sha512', new Uint8Array(createHash('sha512').update(bytes).digest())],
  ]);
  return custom === undefined ? { length: bytes.length, hashes, unrecognized: {} } : { length: bytes.length, hashes, custom, unrecognized: {} };
}

async function freshRepo(): Promise<RepoState> {
  const repo = await newRepository({ gun: GUN, now: NOW, rootKeys: [rootKey], targetsKey, snapshotKey, timestampKey, snapshot: 'client' });
  return { root: repo.root, targets: new Map([['targets', repo.targets]]), snapshot: repo.snapshot };
}

const everyone = allSigners(rootKey, targetsKey, snapshotKey, delegateA, delegateB);

function publish(current: RepoState, changes: Change[], now = NOW, signers: (r: RoleName) => readonly Signer[] = everyone) {
  return signChanges({ now, current, changes, signers, snapshot: 'client' });
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf8');
}

function targetsOf(state: RepoState, role = 'targets'): Metadata<TargetsSigned> {
  const m = state.targets?.get(role);
  assert.ok(m, `no ${role} file`);
  return m;
}

async function rejects(p: Promise<unknown> | (() => unknown), code: string, message?: string | RegExp): Promise<void> {
  await assert.rejects(
    // The executor turns a synchronous throw into a rejection that is checked like any other.
    () => new Promise((resolve) => resolve(typeof p === 'function' ? p() : p)),
    (e: unknown) => {
      assert.ok(hasCode(e, code), `expected ${code}, got ${String(e)}`);
      if (typeof message === 'string') assert.equal((e as Error).message, message);
      else if (message !== undefined) assert.match((e as Error).message, message);
      return true;
    },
  );
}

describe('newRepository', () => {
  test('root v1, targets v1 and snapshot v1 verify against the new root, with exact expiries', async () => {
    const repo = await newRepository({ gun: GUN, now: NOW, rootKeys: [rootKey], targetsKey, snapshotKey, timestampKey, snapshot: 'client' });
    const root = repo.root.signed;
    assert.equal(root.version, 1);
    assert.equal(root.expires.raw, '2033-12-30T03:04:05.678Z');
    assert.equal(root.consistentSnapshot, false);
    assert.deepEqual([...root.keys.keys()].sort(), [rootKey.keyId, targetsKey.keyId, snapshotKey.keyId, timestampKey.id].sort());
    assert.equal(root.keys.get(rootKey.keyId)?.keyType, 'ecdsa-x509');
    for (const [role, key] of [['root', rootKey.keyId], ['targets', targetsKey.keyId], ['snapshot', snapshotKey.keyId], ['timestamp', timestampKey.id]] as const) {
      assert.deepEqual(root.roles.get(role)?.keyIds, [key]);
      assert.equal(root.roles.get(role)?.threshold, 1);
    }
    const v = (r: string) => roleVerifier(r, root.keys, root.roles.get(r)!);
    assert.deepEqual([...verifySignatures(repo.root, v('root'))], [rootKey.keyId]);
    assert.deepEqual([...verifySignatures(repo.targets, v('targets'))], [targetsKey.keyId]);
    assert.ok(repo.snapshot);
    assert.deepEqual([...verifySignatures(repo.snapshot, v('snapshot'))], [snapshotKey.keyId]);
    assert.equal(repo.targets.signed.version, 1);
    assert.equal(repo.targets.signed.expires.raw, '2027-01-01T03:04:05.678Z');
    assert.equal(repo.snapshot.signed.version, 1);
    assert.equal(repo.snapshot.signed.expires.raw, '2027-01-01T03:04:05.678Z');
    assert.deepEqual([...repo.snapshot.signed.meta.keys()].sort(), ['root', 'targets']);
    checkHashes(repo.root.bytes, 'root', repo.snapshot.signed.meta.get('root')!);
    checkHashes(repo.targets.bytes, 'targets', repo.snapshot.signed.meta.get('targets')!);
    assert.equal(repo.snapshot.signed.meta.get('root')?.length, repo.root.bytes.length);
    assert.equal(repo.root.signatures.length, 1);
    assert.equal(repo.root.signatures[0]?.method, 'ecdsa');
    assert.equal(repo.root.signatures[0]?.sig.length, 64);
    const t = `{"signed":{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2027-01-01T03:04:05.678Z","targets":{},"version":1},"signatures":[`;
    assert.ok(text(repo.targets.bytes).startsWith(t), text(repo.targets.bytes));
  });

  test('server-managed snapshot: no snapshot file, the server key is listed', async () => {
    const serverSnapshot = publicOnly();
    const repo = await newRepository({ gun: GUN, now: NOW, rootKeys: [rootKey], targetsKey, snapshotKey: serverSnapshot, timestampKey, snapshot: 'server' });
    assert.equal(repo.snapshot, undefined);
    assert.deepEqual(repo.root.signed.roles.get('snapshot')?.keyIds, [serverSnapshot.id]);
  });

  test('refuses a plain root key and a malformed GUN', async () => {
    await rejects(newRepository({ gun: GUN, now: NOW, rootKeys: [targetsKey], targetsKey, snapshotKey, timestampKey, snapshot: 'client' }), 'INVALID_KEY');
    await rejects(newRepository({ gun: 'a*b', now: NOW, rootKeys: [rootKey], targetsKey, snapshotKey, timestampKey, snapshot: 'client' }), 'INVALID_METADATA');
  });
});

describe('targets edits', () => {
  test('vector 5: HTML-unsafe target name is escaped in the file, raw in the signed bytes', async () => {
    const name = 'a<b&c>é"q\\z';
    const out = await publish(await freshRepo(), [{ kind: 'addTarget', role: 'targets', name, meta: fileMeta('hello world!') }]);
    const t = out.files.get('targets' as RoleName)!;
    assert.deepEqual([...out.files.keys()], ['targets', 'snapshot']);
    const fm = fileMeta('hello world!');
    const b64 = (alg: string) => Buffer.from(fm.hashes.get(alg)!).toString('base64');
    const sig = Buffer.from(t.signatures[0]!.sig).toString('base64');
    const expected =
      `{"signed":{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2027-01-01T03:04:05.678Z",` +
      `"targets":{"a\\u003cb\\u0026c\\u003eé\\"q\\\\z":{"hashes":{"sha256":"${b64('sha256')}","sha512":"${b64('sha512')}"},"length":12}},` +
      `"version":2},"signatures":[{"keyid":"${targetsKey.keyId}","method":"ecdsa","sig":"${sig}"}]}`;
    assert.equal(text(t.bytes), expected);
    assert.ok(text(t.signedBytes).includes('"a<b&c>é\\"q\\\\z"'));
    verifyState(out.state);
  });

  test('vector 6: a TAB in a target name is refused before signing', async () => {
    await rejects(
      publish(await freshRepo(), [{ kind: 'addTarget', role: 'targets', name: 'a\tb', meta: fileMeta('x') }]),
      'NOT_CANONICALIZABLE',
      `target name "a\\tb" cannot be signed: invalid character '\\t' in string literal`,
    );
    await rejects(
      publish(await freshRepo(), [{ kind: 'addTarget', role: 'targets', name: 'a\u0001', meta: fileMeta('x') }]),
      'NOT_CANONICALIZABLE',
      /invalid character '\\x01' in string literal/,
    );
  });

  test('vector 7: custom data is stored canonical; fractions are refused', async () => {
    const custom = parseCustom(Buffer.from('{"b": 1, "a": "x<y"}'));
    const out = await publish(await freshRepo(), [{ kind: 'addTarget', role: 'targets', name: 'v1', meta: fileMeta('x', custom) }]);
    const t = out.files.get('targets' as RoleName)!;
    assert.ok(text(t.signedBytes).includes('"custom":{"a":"x<y","b":1}'), text(t.signedBytes));
    assert.ok(text(t.bytes).includes('"custom":{"a":"x\\u003cy","b":1}'), text(t.bytes));
    verifyState(out.state);
    await rejects(() => parseCustom(Buffer.from('{"a": 1.5}')), 'NOT_CANONICALIZABLE', /^custom data cannot be signed: /);
    await rejects(publish(await freshRepo(), [{ kind: 'addTarget', role: 'targets', name: 'v1', meta: fileMeta('x', { a: 0.5 }) }]), 'NOT_CANONICALIZABLE');
  });

  test('remove target, missing hashes, unchanged re-add', async () => {
    const s1 = (await publish(await freshRepo(), [{ kind: 'addTarget', role: 'targets', name: 'v1', meta: fileMeta('x') }])).state;
    const same = await publish(s1, [{ kind: 'addTarget', role: 'targets', name: 'v1', meta: fileMeta('x') }]);
    assert.equal(same.files.size, 0);
    const s2 = await publish(s1, [{ kind: 'removeTarget', role: 'targets', name: 'v1' }]);
    assert.equal(targetsOf(s2.state).signed.targets.size, 0);
    assert.equal(targetsOf(s2.state).signed.version, 3);
    assert.equal(s2.state.snapshot?.signed.version, 3);
    verifyState(s2.state);
    const bad: FileMeta = { length: 1, hashes: new Map([['md5', new Uint8Array(16)]]), unrecognized: {} };
    await rejects(publish(s1, [{ kind: 'addTarget', role: 'targets', name: 'v2', meta: bad }]), 'INVALID_METADATA', 'target v2 checksum invalid: at least one supported hash needed');
  });
});

describe('delegations', () => {
  test('vector 14: add, sign into, change keys and paths, remove; unused keys dropped', async () => {
    const s0 = await freshRepo();
    const add: Change = { kind: 'updateDelegation', name: 'targets/releases', addKeys: [delegateA.publicKey], addPaths: [''] };
    const s1 = await publish(s0, [add, { kind: 'addTarget', role: 'targets/releases', name: 'v1', meta: fileMeta('r') }]);
    assert.deepEqual([...s1.files.keys()], ['targets', 'targets/releases', 'snapshot']);
    const t1 = targetsOf(s1.state);
    assert.ok(text(t1.signedBytes).includes(`"roles":[{"keyids":["${delegateA.keyId}"],"name":"targets/releases","paths":[""],"threshold":1}]`));
    assert.equal(t1.signed.delegations.keys.get(delegateA.keyId)?.keyType, 'ecdsa');
    assert.equal(targetsOf(s1.state, 'targets/releases').signed.version, 1);
    verifyState(s1.state);

    const swap: Change = { kind: 'updateDelegation', name: 'targets/releases', addKeys: [delegateB.publicKey], removeKeys: [canonicalKeyId(delegateA.publicKey)], removePaths: [''], addPaths: ['v'] };
    const s2 = await publish(s1.state, [swap]);
    // The old delegate's file no longer verifies until a remaining delegate witnesses it (E5).
    await rejects(() => verifyState(s2.state), 'THRESHOLD_NOT_MET', 'valid signatures did not meet threshold for targets/releases');
    const t2 = targetsOf(s2.state).signed;
    assert.deepEqual(t2.delegations.roles[0]?.keyIds, [delegateB.keyId]);
    assert.deepEqual([...t2.delegations.keys.keys()], [delegateB.keyId]);
    assert.deepEqual(t2.delegations.roles[0]?.paths, ['v']);
    const s3 = await publish(s2.state, [{ kind: 'updateDelegation', name: 'targets/releases', clearPaths: true }, { kind: 'witness', role: 'targets/releases' }]);
    assert.deepEqual([...s3.files.keys()], ['targets', 'targets/releases', 'snapshot']);
    assert.equal(targetsOf(s3.state, 'targets/releases').signed.version, 2);
    assert.ok(targetsOf(s3.state, 'targets/releases').signed.targets.has('v1'));
    assert.ok(text(targetsOf(s3.state).signedBytes).includes(`{"keyids":["${delegateB.keyId}"],"name":"targets/releases","threshold":1}`));
    verifyState(s3.state);

    const s4 = await publish(s3.state, [{ kind: 'removeDelegation', name: 'targets/releases' }]);
    assert.deepEqual(s4.removed, ['targets/releases']);
    assert.equal(targetsOf(s4.state).signed.delegations.keys.size, 0);
    assert.equal(s4.state.targets?.has('targets/releases'), false);
    assert.equal(s4.state.snapshot?.signed.meta.has('targets/releases'), false);
    verifyState(s4.state);
  });

  test('a delegation removed and recreated in one publish continues its version, with none of the old targets', async () => {
    const s0 = await freshRepo();
    const add: Change = { kind: 'updateDelegation', name: 'targets/a', addKeys: [delegateA.publicKey], addPaths: [''] };
    const s1 = await publish(s0, [add, { kind: 'addTarget', role: 'targets/a', name: 'old', meta: fileMeta('o') }]);
    const s2 = await publish(s1.state, [{ kind: 'addTarget', role: 'targets/a', name: 'old2', meta: fileMeta('p') }]);
    assert.equal(targetsOf(s2.state, 'targets/a').signed.version, 2);
    const s3 = await publish(s2.state, [
      { kind: 'removeDelegation', name: 'targets/a' },
      { kind: 'updateDelegation', name: 'targets/a', addKeys: [delegateB.publicKey], addPaths: ['v'] },
      { kind: 'addTarget', role: 'targets/a', name: 'v1', meta: fileMeta('') },
    ]);
    const recreated = targetsOf(s3.state, 'targets/a');
    assert.equal(recreated.signed.version, 3);
    assert.deepEqual([...recreated.signed.targets.keys()], ['v1']);
    assert.deepEqual(recreated.signatures.map((sig) => sig.keyid), [delegateB.keyId]);
    verifyState(s3.state);
  });

  test('nested delegations need their parent; paths must stay inside it', async () => {
    const s0 = await freshRepo();
    await rejects(
      publish(s0, [{ kind: 'updateDelegation', name: 'targets/a/b', addKeys: [delegateA.publicKey], addPaths: [''] }]),
      'INVALID_ROLE',
      'tuf: invalid role targets/a. delegation does not exist',
    );
    const s1 = await publish(s0, [{ kind: 'updateDelegation', name: 'targets/a', addKeys: [delegateA.publicKey], addPaths: ['lib/'] }]);
    await rejects(
      publish(s1.state, [{ kind: 'updateDelegation', name: 'targets/a/b', addKeys: [delegateB.publicKey], addPaths: ['bin/'] }]),
      'INVALID_ROLE',
      'tuf: invalid role targets/a/b. invalid paths to add to role',
    );
    const s2 = await publish(s1.state, [
      { kind: 'updateDelegation', name: 'targets/a/b', addKeys: [delegateB.publicKey], addPaths: ['lib/x'] },
      { kind: 'addTarget', role: 'targets/a/b', name: 'lib/x1', meta: fileMeta('1') },
    ]);
    assert.deepEqual([...s2.files.keys()], ['targets/a', 'targets/a/b', 'snapshot']);
    verifyState(s2.state);
    await rejects(
      publish(s2.state, [{ kind: 'addTarget', role: 'targets/a/b', name: 'lib/y', meta: fileMeta('1') }]),
      'INVALID_METADATA',
      'could not add target "lib/y": it is outside the paths delegated to targets/a/b',
    );
    // Removing the parent takes the subtree with it.
    const s3 = await publish(s2.state, [{ kind: 'removeDelegation', name: 'targets/a' }]);
    assert.deepEqual([...s3.removed].sort(), ['targets/a', 'targets/a/b']);
    assert.deepEqual([...s3.state.snapshot!.signed.meta.keys()].sort(), ['root', 'targets']);
  });

  test('bad names, keyless new roles and thresholds above the key count are refused', async () => {
    const s0 = await freshRepo();
    await rejects(publish(s0, [{ kind: 'updateDelegation', name: 'targets/Releases', addKeys: [delegateA.publicKey] }]), 'INVALID_ROLE', 'invalid delegation name targets/Releases');
    await rejects(publish(s0, [{ kind: 'updateDelegation', name: 'targets/../x', addKeys: [delegateA.publicKey] }]), 'INVALID_ROLE');
    await rejects(publish(s0, [{ kind: 'updateDelegation', name: 'targets/x', addPaths: [''] }]), 'INVALID_ROLE', 'tuf: invalid role targets/x. a new delegation needs at least one key');
    await rejects(
      publish(s0, [{ kind: 'updateDelegation', name: 'targets/x', addKeys: [delegateA.publicKey], threshold: 2 }]),
      'INVALID_METADATA',
      'role targets/x has fewer keys than its threshold of 2; it would not be usable until keys are added to it',
    );
    await rejects(publish(s0, [{ kind: 'addTarget', role: 'targets/nope', name: 'v', meta: fileMeta('') }]), 'INVALID_ROLE', 'tuf: invalid role targets/nope. delegation does not exist');
    await rejects(publish(s0, [{ kind: 'setThreshold', role: 'targets', threshold: 2 }]), 'INVALID_METADATA');
    await rejects(publish(s0, [{ kind: 'setThreshold', role: 'targets/x', threshold: 1 }]), 'INVALID_ROLE', 'tuf: invalid role targets/x. delegation does not exist');
    await rejects(publish(s0, [{ kind: 'witness', role: 'timestamp' }]), 'INVALID_ROLE', 'tuf: invalid role timestamp. the server signs the timestamp');
  });
});

describe('root rotation (§5.5, vector 13)', () => {
  test('new root keeps the old certificate, lists only the new one, is signed by both', async () => {
    const s0 = await freshRepo();
    const newRoot = rootSigner(GUN, NOW);
    const rotate: Change = { kind: 'rotateBaseRole', role: 'root', keys: [newRoot.publicKey] };
    const out = await publish(s0, [rotate], NOW, allSigners(rootKey, newRoot, snapshotKey));
    assert.deepEqual([...out.files.keys()], ['root', 'snapshot']);
    const root = out.files.get('root' as RoleName) as Metadata<RootSigned>;
    assert.equal(root.signed.version, 2);
    assert.ok(root.signed.keys.has(rootKey.keyId));
    assert.ok(root.signed.keys.has(newRoot.keyId));
    assert.deepEqual(root.signed.roles.get('root')?.keyIds, [newRoot.keyId]);
    assert.deepEqual(root.signatures.map((s) => s.keyid).sort(), [rootKey.keyId, newRoot.keyId].sort());
    const old = s0.root!.signed;
    verifySignatures(root, roleVerifier('root', old.keys, old.roles.get('root')!));
    verifySignatures(root, roleVerifier('root', root.signed.keys, root.signed.roles.get('root')!));
    verifyState(out.state);

    // Without the old key the rotation cannot satisfy the root clients trust today.
    await rejects(
      publish(s0, [rotate], NOW, allSigners(newRoot, snapshotKey)),
      'INSUFFICIENT_SIGNERS',
      `signing keys not available: need 1 keys from 1 possible keys (${canonicalKeyId(rootKey.publicKey)})`,
    );
    // Later roots are signed by the new key only.
    const later = await publish(out.state, [{ kind: 'witness', role: 'root' }], NOW, allSigners(rootKey, newRoot, snapshotKey));
    assert.deepEqual(later.files.get('root' as RoleName)?.signatures.map((s) => s.keyid), [newRoot.keyId]);
  });

  test('rotating the targets key drops the old key and re-signs targets', async () => {
    const s0 = await freshRepo();
    const next = ecdsaSigner();
    const out = await publish(s0, [{ kind: 'rotateBaseRole', role: 'targets', keys: [next.publicKey] }], NOW, allSigners(rootKey, next, snapshotKey));
    assert.deepEqual([...out.files.keys()], ['targets', 'root', 'snapshot']);
    const root = out.state.root!.signed;
    assert.equal(root.keys.has(targetsKey.keyId), false);
    assert.deepEqual(targetsOf(out.state).signatures.map((s) => s.keyid), [next.keyId]);
    verifyState(out.state);
    await rejects(
      publish(s0, [{ kind: 'rotateBaseRole', role: 'root', keys: [next.publicKey] }]),
      'INVALID_KEY',
      'root keys must be x509 certificates (ecdsa-x509 or rsa-x509)',
    );
  });
});

describe('m-of-n signing', () => {
  test('threshold 2: one signer fails, a second publisher completes with previous', async () => {
    const a = ecdsaSigner();
    const b = ecdsaSigner();
    const s0 = await freshRepo();
    const twoKeys: Change[] = [
      { kind: 'rotateBaseRole', role: 'targets', keys: [a.publicKey, b.publicKey] },
      { kind: 'setThreshold', role: 'targets', threshold: 2 },
      { kind: 'addTarget', role: 'targets', name: 'v1', meta: fileMeta('m') },
    ];
    await rejects(
      publish(s0, twoKeys, NOW, allSigners(rootKey, snapshotKey, a)),
      'INSUFFICIENT_SIGNERS',
      `not enough signing keys: found 1 of 2 needed keys - 1 other possible keys (${b.keyId})`,
    );
    const partial = await signChanges({ now: NOW, current: s0, changes: twoKeys, signers: allSigners(rootKey, snapshotKey, a), snapshot: 'client', allowPartial: true });
    const root = partial.state.root!.signed;
    const verifier = roleVerifier('targets', root.keys, root.roles.get('targets')!);
    const first = targetsOf(partial.state);
    await rejects(() => verifySignatures(first, verifier), 'THRESHOLD_NOT_MET', 'valid signatures did not meet threshold for targets');
    const done = await cosign(first, [b], verifier);
    assert.equal(done.signed.version, first.signed.version);
    assert.deepEqual(Buffer.from(done.signedBytes), Buffer.from(first.signedBytes));
    assert.deepEqual(done.signatures.map((s) => s.keyid), [b.keyId, a.keyId]);
    assert.deepEqual(Buffer.from(done.signatures[1]!.sig), Buffer.from(first.signatures[0]!.sig));
    assert.equal(verifySignatures(done, verifier).size, 2);
    // The same signer twice never yields two signatures by one key.
    const again = await cosign(done, [b, b], verifier);
    assert.equal(again.signatures.length, 2);
  });

  test('signRole: threshold check, previous signatures from foreign keys are dropped', async () => {
    const a = ecdsaSigner();
    const b = ecdsaSigner();
    const keys = new Map<string, PublicKey>([[a.keyId, a.publicKey], [b.keyId, b.publicKey]]);
    const verifier = roleVerifier('targets/x', keys, { keyIds: [a.keyId, b.keyId], threshold: 2, unrecognized: {} });
    const signed = { _type: 'Targets', delegations: { keys: {}, roles: [] }, expires: '2030-01-01T00:00:00Z', targets: {}, version: 1 };
    await rejects(signRole('targets/x', signed, [a], { verifier }), 'INSUFFICIENT_SIGNERS');
    const partial = await signRole('targets/x', signed, [a, delegateA], { verifier, allowPartial: true });
    assert.deepEqual(partial.signatures.map((s) => s.keyid), [a.keyId]); // delegateA is not a key of the role
    const stranger = await signRole('targets/x', signed, [delegateA]);
    const full = await signRole('targets/x', signed, [b], { verifier, previous: { signatures: [...partial.signatures, ...stranger.signatures] } });
    assert.deepEqual(full.signatures.map((s) => s.keyid), [b.keyId, a.keyId]);
    // Previous signatures over other bytes do not survive.
    const changed = await signRole('targets/x', { ...signed, version: 2 }, [b], { verifier, previous: partial, allowPartial: true });
    assert.deepEqual(changed.signatures.map((s) => s.keyid), [b.keyId]);
    await rejects(signRole('targets/x', signed, [delegateA], { verifier }), 'NO_SIGNING_KEYS', /^could not find necessary signing keys, at least one of these keys must be available: [0-9a-f]{64}, [0-9a-f]{64}$/);
  });

  test('a signer returning a bad signature is caught', async () => {
    const liar: Signer = { keyId: targetsKey.keyId, publicKey: targetsKey.publicKey, sign: () => Promise.resolve({ method: 'ecdsa', sig: new Uint8Array(64) }) };
    await rejects(publish(await freshRepo(), [{ kind: 'witness', role: 'targets' }], NOW, allSigners(liar, snapshotKey)), 'BAD_SIGNATURE');
  });
});

describe('expiry-driven re-signing', () => {
  test('near-expiry roles are re-signed with version + 1 even without changes', async () => {
    const s0 = await freshRepo();
    assert.equal((await publish(s0, [])).files.size, 0);
    const later = new Date(NOW.getTime() + 3 * YEAR_MS - 30 * DAY_MS);
    const out = await publish(s0, [], later);
    assert.deepEqual([...out.files.keys()], ['targets', 'snapshot']);
    assert.equal(targetsOf(out.state).signed.version, 2);
    assert.equal(targetsOf(out.state).signed.expires.raw, formatExpiry(new Date(later.getTime() + 3 * YEAR_MS)));
    verifyState(out.state);
    const rootLate = new Date(NOW.getTime() + 10 * YEAR_MS - 100 * DAY_MS);
    const out2 = await publish(s0, [], rootLate);
    assert.deepEqual([...out2.files.keys()].sort(), ['root', 'snapshot', 'targets']);
    assert.equal(out2.state.root?.signed.version, 2);
    assert.equal(out2.state.root?.signed.expires.raw, formatExpiry(new Date(rootLate.getTime() + 10 * YEAR_MS)));
    // Without the targets or root keys, those roles are skipped rather than failing the publish.
    const out3 = await publish(s0, [], rootLate, allSigners(snapshotKey));
    assert.deepEqual([...out3.skipped].sort(), ['root', 'targets']);
    assert.deepEqual([...out3.files.keys()], ['snapshot']);
  });

  test('a changed role without its keys fails in notary wording', async () => {
    await rejects(
      publish(await freshRepo(), [{ kind: 'addTarget', role: 'targets', name: 'v', meta: fileMeta('') }], NOW, allSigners(snapshotKey)),
      'NO_SIGNING_KEYS',
      `could not find necessary signing keys, at least one of these keys must be available: ${targetsKey.keyId}`,
    );
  });
});

describe('server-side snapshot and timestamp', () => {
  test('timestamp: version + 1, snapshot hashes, 14 days', async () => {
    const repo = await freshRepo();
    const ts = ecdsaSigner();
    const t1 = await signTimestamp({ now: NOW, snapshotBytes: repo.snapshot!.bytes, signer: ts });
    assert.equal(t1.signed.version, 1);
    assert.equal(t1.signed.expires.raw, '2024-01-16T03:04:05.678Z');
    checkHashes(repo.snapshot!.bytes, 'snapshot', t1.signed.meta.get('snapshot')!);
    assert.equal(t1.signed.meta.get('snapshot')?.length, repo.snapshot!.bytes.length);
    const t2 = await signTimestamp({ now: NOW, snapshotBytes: repo.snapshot!.bytes, signer: ts, previous: t1 });
    assert.equal(t2.signed.version, 2);
  });

  test('snapshot: keeps other entries, replaces and removes', async () => {
    const repo = await freshRepo();
    const prev = repo.snapshot!;
    const extra = Buffer.from('delegation bytes');
    const s = await signSnapshot({ now: NOW, previous: prev, files: new Map([['targets/x', extra]]), signers: [snapshotKey] });
    assert.equal(s.signed.version, 2);
    assert.deepEqual([...s.signed.meta.keys()], ['root', 'targets', 'targets/x']);
    checkHashes(extra, 'targets/x', s.signed.meta.get('targets/x')!);
    const s2 = await signSnapshot({ now: NOW, previous: s, files: new Map(), removed: ['targets/x'], signers: [snapshotKey] });
    assert.deepEqual([...s2.signed.meta.keys()], ['root', 'targets']);
    await rejects(signSnapshot({ now: NOW, files: new Map([['root', extra]]), signers: [snapshotKey] }), 'INVALID_METADATA', 'snapshot type metadata invalid: missing targets sha256 checksum information');
  });
});

describe('property: random edit sequences', () => {
  const delegateC = ecdsaSigner();
  const targets2 = ecdsaSigner();
  const pool = [delegateA, delegateB, delegateC];
  const signers = allSigners(rootKey, targetsKey, targets2, snapshotKey, ...pool);
  const roleArb = fc.constantFrom('targets', 'targets/a', 'targets/b', 'targets/a/c', 'targets/A', 'targets/a/../b');
  const delegationArb = fc.oneof(
    { arbitrary: fc.constantFrom('targets/a', 'targets/b', 'targets/a/c', 'targets/b/c'), weight: 5 },
    { arbitrary: fc.constantFrom('targets/b/c/d', 'targets/a//x', 'targets/X'), weight: 1 },
  );
  const nameArb = fc.constantFrom('v1', 'lib/x', 'bin/y', 'a<b&c>é"q\\z', '__proto__', 'x\u2028y', 'tab\there', '😀');
  const pathArb = fc.constantFrom('', 'lib/', 'bin/', 'v', 'a<');
  const metaArb = fc.tuple(fc.string({ maxLength: 8 }), fc.option(fc.constantFrom<FileMeta['custom']>({ b: 1, a: 'x<y' }, [1, 2], 'c', { f: 0.5 }), { nil: undefined }));
  const addTargetArb = fc.record({ kind: fc.constant('addTarget' as const), role: roleArb, name: nameArb, meta: metaArb.map(([c, custom]) => fileMeta(c, custom)) });
  const changeArb: fc.Arbitrary<Change> = fc.oneof(
    { arbitrary: addTargetArb, weight: 4 },
    fc.record({ kind: fc.constant('removeTarget' as const), role: roleArb, name: nameArb }),
    { arbitrary: fc.record(
      {
        kind: fc.constant('updateDelegation' as const),
        name: delegationArb,
        threshold: fc.integer({ min: 0, max: 3 }),
        addKeys: fc.subarray(pool).map((ss) => ss.map((x) => x.publicKey)),
        removeKeys: fc.subarray(pool).map((ss) => ss.map((x) => canonicalKeyId(x.publicKey))),
        addPaths: fc.subarray(['', 'lib/', 'bin/', 'v']),
        removePaths: fc.array(pathArb, { maxLength: 2 }),
        clearPaths: fc.boolean(),
      },
      { requiredKeys: ['kind', 'name', 'addKeys'] },
    ), weight: 4 },
    fc.record({ kind: fc.constant('removeDelegation' as const), name: delegationArb }),
    fc.record({ kind: fc.constant('witness' as const), role: fc.constantFrom('targets', 'targets/a', 'targets/a/c', 'root', 'snapshot', 'timestamp') }),
    fc.record({ kind: fc.constant('setThreshold' as const), role: fc.constantFrom('targets', 'targets/a', 'root'), threshold: fc.integer({ min: 1, max: 2 }) }),
    fc.record({ kind: fc.constant('rotateBaseRole' as const), role: fc.constant('targets' as const), keys: fc.subarray([targetsKey, targets2], { minLength: 1 }).map((ss) => ss.map((x) => x.publicKey)) }),
  );

  test('every publish parses, verifies and is listed in the snapshot (200 runs)', async () => {
    const seeded = await publish(await freshRepo(), [
      { kind: 'updateDelegation', name: 'targets/a', addKeys: [delegateA.publicKey], addPaths: [''] },
      { kind: 'updateDelegation', name: 'targets/a/c', addKeys: [delegateB.publicKey], addPaths: ['lib/'] },
      { kind: 'addTarget', role: 'targets/a/c', name: 'lib/x', meta: fileMeta('x') },
    ]);
    const start = seeded.state;
    let valid = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(changeArb, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 3 }), async (batches) => {
        let state = start;
        for (const batch of batches) {
          let draft = draftFrom(state);
          const changes: Change[] = [];
          for (const c of batch) {
            try {
              draft = applyChange(draft, c);
              changes.push(c);
            } catch (e) {
              if (!(e instanceof ValidationError)) throw e;
            }
          }
          valid += changes.length;
          const out = await signChanges({ now: NOW, current: state, changes, signers, snapshot: 'client' });
          for (const [role, meta] of out.files) {
            const reparsed = parseMetadata(role, meta.bytes);
            assert.deepEqual(Buffer.from(reparsed.signedBytes), Buffer.from(meta.signedBytes));
            const before = role === 'root' ? state.root : role === 'snapshot' ? state.snapshot : state.targets?.get(role);
            assert.equal(meta.signed.version, (before?.signed.version ?? 0) + 1, role);
          }
          verifyState(out.state, new Set(out.files.keys()));
          if (out.files.size > 0) assert.ok(out.files.has('snapshot' as RoleName));
          state = out.state;
        }
      }),
      { numRuns: 200 },
    );
    assert.ok(valid > 300, `only ${valid} valid changes were exercised`);
  });
});

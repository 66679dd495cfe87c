/**
 * notary's changelist format (docs/formats.md §10.4): change files round-trip byte for byte
 * (fixtures written by notary 0.1 and 0.3), Vouch writes the same bytes notary does, the
 * directory keeps file-name order, and unreadable files are errors, not silently skipped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Changelist, decodeChangeFile, encodeChangeFile } from '../../src/client/changelist.ts';
import { addTargetChange, delegationChange, removeTargetChange, rotateRoleChange, toOperation, witnessChange, baseThresholdChange } from '../../src/client/changes.ts';
import { parsePublicKey } from '../../src/tuf/keys.ts';
import { fileMetaOf } from '../../src/tuf/verify.ts';
import { hasCode } from '../../src/errors.ts';
import { NOTARY_COMPAT } from '../helpers/fixtures.js';

const FIXTURES = NOTARY_COMPAT;
const FIXTURE_CHANGES = [
  'notary0.1/tuf/docker.com/notary0.1/samplerepo/changelist/01454633937352279550_d85b9e45-2339-4fb4-b8f8-705ee39f73b7.change',
  'notary0.3/tuf/docker.com/notary0.3/tst/changelist/01469661765810851111_248d5486-7f39-42c6-80ab-c29bfb336e99.change',
  'notary0.3/tuf/docker.com/notary0.3/tst/changelist/01469661815470834910_e03d56d2-2e4e-4732-9d42-b6d5b9e1f48b.change',
];
const KEY = parsePublicKey({ keytype: 'ecdsa', keyval: { private: null, public: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENgK7kx/HdvmLUG4733JIJd0Bv6FML8SVEmgGynvhl64nCVmWzTLdziS1bMUgb6hlSkqTYtvyOCC5YMY+GrAH+Q==' } }, 'k');

test('fixture change files written by notary decode and re-encode to the same bytes', () => {
  for (const rel of FIXTURE_CHANGES) {
    const bytes = readFileSync(join(FIXTURES, rel));
    const c = decodeChangeFile(bytes, rel);
    assert.equal(encodeChangeFile(c), bytes.toString('utf8'), rel);
    // The inner FileMeta is written the way notary wrote it, too.
    const op = toOperation(c);
    assert.ok(op.kind === 'change' && op.change.kind === 'addTarget');
    assert.equal(Buffer.from(addTargetChange(c.role, c.path, op.change.meta).data!).toString('utf8'), Buffer.from(c.data!).toString('utf8'), rel);
  }
});

test('change files are Go encoding/json: member order, base64 data, null data, HTML escaping', () => {
  assert.equal(encodeChangeFile(removeTargetChange('targets/releases', 'a<b&c>')),
    '{"action":"delete","role":"targets/releases","type":"target","path":"a\\u003cb\\u0026c\\u003e","data":null}');
  const add = addTargetChange('targets', 'v1', fileMetaOf(Buffer.from('hello\n')));
  assert.equal(Buffer.from(add.data!).toString('utf8'),
    '{"length":6,"hashes":{"sha256":"WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=","sha512":"58IrmUxZ2c8rSOVJseJGZmNgRZMNPafBrLKZ0cO3+TH5Sq5B7dosKyB6NuEPi8uNRSI+VIePWzFufOO2vAGWKQ=="}}');
  assert.equal(encodeChangeFile(witnessChange('targets/releases')), '{"action":"update","role":"targets/releases","type":"witness","path":"","data":null}');
});

test('delegation data is notary\'s TUFDelegation with omitempty members', () => {
  const pub = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENgK7kx/HdvmLUG4733JIJd0Bv6FML8SVEmgGynvhl64nCVmWzTLdziS1bMUgb6hlSkqTYtvyOCC5YMY+GrAH+Q==';
  const keys = Buffer.from(delegationChange('create', 'targets/releases', { threshold: 1, addKeys: [KEY] }).data!).toString('utf8');
  assert.equal(keys, `{"threshold":1,"add_keys":[{"keytype":"ecdsa","keyval":{"public":"${pub}","private":null}}]}`);
  assert.equal(Buffer.from(delegationChange('create', 'targets/releases', { addPaths: [''] }).data!).toString('utf8'), '{"add_paths":[""]}');
  assert.equal(Buffer.from(delegationChange('update', 'targets/*', { removeKeys: ['abc'] }).data!).toString('utf8'), '{"remove_keys":["abc"]}');
  assert.equal(Buffer.from(delegationChange('update', 'targets/x', { removePaths: ['a/'], clearPaths: true }).data!).toString('utf8'), '{"remove_paths":["a/"],"clear_paths":true}');
  assert.equal(Buffer.from(rotateRoleChange('snapshot', [KEY]).data!).toString('utf8'), `{"keys":[{"keytype":"ecdsa","keyval":{"public":"${pub}","private":null}}],"role":"snapshot"}`);
});

test('every change kind reads back into the operation it stands for', () => {
  const ops = [
    delegationChange('create', 'targets/releases', { threshold: 2, addKeys: [KEY] }),
    delegationChange('update', 'targets/*', { removeKeys: ['k1'] }),
    { action: 'delete', role: 'targets/releases', type: 'delegation', path: '', data: null },
    witnessChange('targets'),
    rotateRoleChange('snapshot', [KEY]),
    baseThresholdChange('targets', 2),
  ].map((c) => toOperation(c));
  assert.deepEqual(ops.map((o) => (o.kind === 'change' ? o.change.kind : o.kind)), ['updateDelegation', 'purgeKeys', 'removeDelegation', 'witness', 'rotateBaseRole', 'setThreshold']);
  const d = ops[0]!;
  assert.ok(d.kind === 'change' && d.change.kind === 'updateDelegation' && d.change.threshold === 2 && d.change.addKeys?.[0]?.id === KEY.id);
});

test('a change that cannot be applied is refused with the file and the reason', () => {
  const bad = (c: Parameters<typeof toOperation>[0], message: RegExp) => assert.throws(() => toOperation(c), (e: unknown) => hasCode(e, 'INVALID_CHANGE') && message.test((e as Error).message));
  bad({ action: 'create', role: 'targets', type: 'target', path: 'x', data: new Uint8Array(Buffer.from('{"length":-1,"hashes":{}}')), file: 'f1' }, /^change file f1 \(create target x in targets\): length must be a non-negative integer$/);
  bad({ action: 'create', role: 'root', type: 'target', path: 'x', data: null }, /type of root change not yet supported: target/);
  bad({ action: 'frobnicate', role: 'targets', type: 'target', path: 'x', data: null }, /action not yet supported: frobnicate/);
  bad({ action: 'create', role: 'snapshot', type: 'target', path: 'x', data: null }, /scope not supported: snapshot/);
  assert.throws(() => decodeChangeFile(Buffer.from('{"action":1}'), 'f2'), /change file f2: action must be a string/);
});

test('the changelist keeps file-name order, ignores temp files, removes by status index', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-cl-'));
  const cl = new Changelist(dir);
  assert.deepEqual(await cl.list(), []);
  const names = await cl.add(['a', 'b', 'c'].map((n) => removeTargetChange('targets', n)));
  assert.equal(names.length, 3);
  for (const n of names) assert.match(n, /^\d{20}_[0-9a-f-]{36}\.change$/);
  writeFileSync(join(dir, 'changelist', '.leftover.tmp'), 'junk');
  assert.deepEqual((await cl.list()).map((c) => c.path), ['a', 'b', 'c']);
  await cl.remove([1]);
  assert.deepEqual((await cl.list()).map((c) => c.path), ['a', 'c']);
  // A damaged file is an error naming it (notary would skip it and publish the rest).
  const damaged = readdirSync(join(dir, 'changelist')).find((n) => n.endsWith('.change'))!;
  writeFileSync(join(dir, 'changelist', damaged), '{not json');
  await assert.rejects(cl.list(), { code: 'INVALID_CHANGE', message: `change file ${damaged} is not valid JSON` });
  await cl.clear();
  assert.deepEqual(readdirSync(join(dir, 'changelist')), ['.leftover.tmp']);
});

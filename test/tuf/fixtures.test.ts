/**
 * The trust dirs written by notary 0.1 and 0.3 (test/fixtures/notary-compat) load through the
 * trusted-metadata state machine: root → timestamp → snapshot → targets → delegations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TrustedCollection } from '../../src/tuf/trusted.ts';
import { parseGun, type RoleName } from '../../src/tuf/types.ts';
import { hasCode } from '../../src/errors.ts';
import { sha256Hex } from '../../src/tuf/verify.ts';
import { NOTARY_COMPAT } from '../helpers/fixtures.js';
import { pathToFileURL } from 'node:url';

const FIXTURES = pathToFileURL(`${NOTARY_COMPAT}/`);
const TODAY = new Date('2026-11-25T12:00:00Z');

function metadataDir(version: string, gun: string): URL {
  return new URL(`${version}/tuf/${gun}/metadata/`, FIXTURES);
}

function load(version: string, gun: string, now: Date): TrustedCollection {
  const dir = metadataDir(version, gun);
  const read = (f: string) => new Uint8Array(readFileSync(new URL(f, dir)));
  const tc = new TrustedCollection({ gun: parseGun(gun), now });
  tc.updateRoot(read('root.json'));
  tc.updateTimestamp(read('timestamp.json'));
  tc.updateSnapshot(read('snapshot.json'));
  tc.updateTargets(read('targets.json'));
  for (const d of tc.childrenOf('targets' as RoleName)) tc.updateDelegation(d.name, read(`${d.name}.json`));
  tc.deferRootChecksum();
  return tc;
}

test('notary 0.1 fixture verifies today: LICENSE with its size and sha256', () => {
  const tc = load('notary0.1', 'docker.com/notary0.1/samplerepo', TODAY);
  assert.deepEqual(tc.walkOrder(), ['targets']);
  const hit = tc.lookup('LICENSE');
  assert.ok(hit);
  assert.equal(hit.role, 'targets');
  assert.equal(hit.meta.length, 11309);
  assert.match(Buffer.from(hit.meta.hashes.get('sha256')!).toString('hex'), /^9395bac6.*6a62$/);
  assert.equal(tc.pendingChecksums.size, 0);
  assert.equal(tc.root?.signed.version, 1);
});

test('notary 0.3 fixture: the expired root certificate is reported the way notary does', () => {
  assert.throws(
    () => load('notary0.3', 'docker.com/notary0.3/tst', TODAY),
    (e) =>
      hasCode(e, 'ROOT_UNTRUSTED') &&
      (e as Error).message.startsWith('could not validate the path to a trusted root: unable to retrieve valid leaf certificates') &&
      (e as Error).message.includes('certificate with CN docker.com/notary0.3/tst is expired'),
  );
});

test('notary 0.3 fixture verifies inside the certificate window, delegation included', () => {
  const tc = load('notary0.3', 'docker.com/notary0.3/tst', new Date('2020-01-01T00:00:00Z'));
  assert.deepEqual(tc.walkOrder(), ['targets', 'targets/releases']);
  assert.deepEqual([...tc.targetsOf('targets' as RoleName).keys()].sort(), ['LICENSE', 'change']);
  assert.deepEqual([...tc.targetsOf('targets/releases' as RoleName).keys()], ['hello']);
  assert.equal(tc.lookup('hello')?.role, 'targets/releases');
  assert.equal(tc.lookup('hello', ['targets' as RoleName]), undefined);
  assert.equal(tc.lookup('change')?.meta.length, 0);
  // The snapshot recorded the exact bytes of root.json (vector 9).
  const rootMeta = tc.snapshot!.signed.meta.get('root')!;
  assert.equal(rootMeta.length, 2393);
  assert.equal(Buffer.from(rootMeta.hashes.get('sha256')!).toString('base64'), 'Nx4/VGy1hGXBUmnTuFfpeBFJlpS1hG6Hd75CKQjyDGY=');
  assert.equal(tc.timestamp!.signed.meta.get('snapshot')!.length, 890);
  assert.equal(sha256Hex(tc.root!.bytes), Buffer.from(rootMeta.hashes.get('sha256')!).toString('hex'));
});

test('the fixture certificate is checked against the injected clock, not the machine clock', () => {
  // One day before NotAfter (2026-07-25) it still loads; one day after it does not.
  assert.doesNotThrow(() => load('notary0.3', 'docker.com/notary0.3/tst', new Date('2026-07-24T00:00:00Z')));
  assert.throws(() => load('notary0.3', 'docker.com/notary0.3/tst', new Date('2026-07-26T00:00:00Z')), (e) => hasCode(e, 'ROOT_UNTRUSTED'));
});

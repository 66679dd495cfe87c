import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDelegationName, isValidRoleName, parentRole, parentsFirst, pathAllowed, restrictPaths } from '../../src/tuf/roles.ts';
import type { RoleName } from '../../src/tuf/types.ts';

test('vector 14: delegation names follow notary\'s rules', () => {
  for (const ok of ['targets/releases', 'targets/a/b', 'targets/a-b_c/9']) assert.equal(isDelegationName(ok), true, ok);
  for (const bad of ['targets/Releases', 'targets/../x', 'targets/./x', 'targets//x', 'targets/x/', 'targets', 'targets/',
    'root/x', 'targets/a b', 'targets/*', `targets/${'a'.repeat(248)}`]) {
    assert.equal(isDelegationName(bad), false, bad);
  }
  assert.equal(isDelegationName(`targets/${'a'.repeat(247)}`), true); // 255 bytes: the DB column limit
  assert.equal(isValidRoleName('snapshot'), true);
  assert.equal(isValidRoleName('Snapshot'), false);
});

test('parents come before children, and paths restrict by prefix', () => {
  assert.equal(parentRole('targets/a/b' as RoleName), 'targets/a');
  assert.equal(parentRole('targets' as RoleName), undefined);
  assert.deepEqual(parentsFirst(['targets/a/b', 'targets/b', 'targets/a']), ['targets/a', 'targets/b', 'targets/a/b']);
  assert.deepEqual(restrictPaths(['lib/', 'bin/'], ['lib/x', 'doc/', '']), ['lib/x']);
  assert.deepEqual(restrictPaths([''], ['']), ['']);
  assert.equal(pathAllowed([''], 'anything'), true);
  assert.equal(pathAllowed([], 'anything'), false);
});

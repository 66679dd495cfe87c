// applyChanges: the same drafts (and refusals) as folding applyChange, never touching its input,
// and linear in the number of target edits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { newRepository, type Change, type RepoState } from '../../src/tuf/builder.ts';
import { applyChange, applyChanges, draftFrom, type RepoDraft } from '../../src/tuf/edit.ts';
import type { FileMeta } from '../../src/tuf/metadata.ts';
import { ecdsaSigner, publicOnly, rootSigner } from './builder-keys.ts';

const GUN = 'docker.com/vouch/edit-batch';
const NOW = new Date('2024-01-02T03:04:05.678Z');
const delegate = publicOnly();

function fileMeta(content: string): FileMeta {
  const hashes = new Map([['sha256', new Uint8Array(createHash('sha256').update(content).digest())]]);
  return { length: content.length, hashes, unrecognized: {} };
}

async function freshRepo(): Promise<RepoState> {
  const repo = await newRepository({ gun: GUN, now: NOW, rootKeys: [rootSigner(GUN, NOW)], targetsKey: ecdsaSigner(), snapshotKey: ecdsaSigner(), timestampKey: publicOnly(), snapshot: 'client' });
  return { root: repo.root, targets: new Map([['targets', repo.targets]]), snapshot: repo.snapshot };
}

/** A comparable view of a draft: every role's targets, delegations and the dirty/removed sets. */
function view(d: RepoDraft): unknown {
  return {
    targets: [...d.targets].map(([role, f]) => [role, [...f.targets].map(([n, m]) => [n, m.length, m.custom]), f.delegations.roles.map((r) => [r.name, r.keyIds, r.paths])]),
    dirty: [...d.dirty].sort(),
    removed: [...d.removed].sort(),
    rootKeys: [...(d.root?.keys.keys() ?? [])].sort(),
  };
}

function outcome(f: () => RepoDraft): unknown {
  try {
    return view(f());
  } catch (e) {
    return `refused: ${(e as Error).message}`;
  }
}

const names = fc.constantFrom('a', 'b', 'c', 'rel/x', 'rel/y', 'other');
const roles = fc.constantFrom('targets', 'targets/releases', 'targets/releases/deep');
const change: fc.Arbitrary<Change> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ role: roles, name: names, content: fc.constantFrom('1', '22', '333') }).map(({ role, name, content }) => ({ kind: 'addTarget' as const, role, name, meta: fileMeta(content) })) },
  { weight: 3, arbitrary: fc.record({ role: roles, name: names }).map(({ role, name }) => ({ kind: 'removeTarget' as const, role, name })) },
  fc.constantFrom<Change>(
    { kind: 'updateDelegation', name: 'targets/releases', addKeys: [delegate], addPaths: ['rel/', ''] },
    { kind: 'updateDelegation', name: 'targets/releases/deep', addKeys: [delegate], addPaths: ['rel/'] },
    { kind: 'removeDelegation', name: 'targets/releases' },
    { kind: 'witness', role: 'targets' },
  ),
);

test('applyChanges matches applyChange one by one, and leaves its input alone', async () => {
  const start = draftFrom(await freshRepo());
  fc.assert(
    fc.property(fc.array(change, { maxLength: 25 }), (changes) => {
      const before = view(start);
      const expected = outcome(() => changes.reduce(applyChange, start));
      assert.deepEqual(outcome(() => applyChanges(start, changes)), expected);
      assert.deepEqual(view(start), before);
    }),
    { numRuns: 400 },
  );
});

test('a second batch on a draft does not disturb the first batch’s result', async () => {
  const first = applyChanges(draftFrom(await freshRepo()), [{ kind: 'addTarget', role: 'targets', name: 'a', meta: fileMeta('1') }]);
  const snapshot = view(first);
  applyChanges(first, [{ kind: 'addTarget', role: 'targets', name: 'b', meta: fileMeta('2') }, { kind: 'removeTarget', role: 'targets', name: 'a' }]);
  assert.deepEqual(view(first), snapshot);
});

test('20,000 target edits stay linear', async () => {
  const start = draftFrom(await freshRepo());
  const changes: Change[] = [];
  for (let i = 0; i < 20_000; i++) changes.push({ kind: 'addTarget', role: 'targets', name: `t-${i}`, meta: fileMeta(String(i)) });
  for (let i = 0; i < 20_000; i += 2) changes.push({ kind: 'removeTarget', role: 'targets', name: `t-${i}` });
  const t = performance.now();
  const d = applyChanges(start, changes);
  const ms = performance.now() - t;
  assert.equal(d.targets.get('targets' as never)?.targets.size, 10_000);
  // Copying the map per change (the quadratic way) takes minutes here; linear takes well under a second.
  assert.ok(ms < 5_000, `applyChanges took ${Math.round(ms)} ms`);
});

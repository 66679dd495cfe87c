/**
 * The engine harness itself (test/helpers/engine.ts), so a failure in the gate or push/pull tests
 * is never a harness failure in disguise: dockerd pushes an imported image to the Debian
 * docker-registry and pulls it back by digest, and containerd's ctr pulls the same digest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engineUnavailableReason, importImage, startContainerd, startDockerd } from '../helpers/engine.ts';
import { registryUnavailableReason, startRegistry } from '../registry/registry.ts';

const skip = engineUnavailableReason() ?? registryUnavailableReason();

test('dockerd pushes to docker-registry, pulls by digest and runs with no network; ctr pulls the same digest', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-engine-'));
  const registry = await startRegistry({ workDir: dir });
  const engine = await startDockerd(dir);
  const containerd = await startContainerd(dir);
  try {
    const ref = `${registry.host}/harness/busy:1`;
    importImage(engine, ref, 'harness content');
    const push = engine.docker(['push', ref]);
    assert.equal(push.status, 0, push.stderr);
    const digest = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(push.stdout)?.[1];
    assert.ok(digest, push.stdout);
    assert.equal(engine.docker(['rmi', ref]).status, 0);
    const pull = engine.docker(['pull', `${registry.host}/harness/busy@${digest}`]);
    assert.equal(pull.status, 0, pull.stderr);
    const run = engine.docker(['run', '--rm', '--network', 'none', `${registry.host}/harness/busy@${digest}`, 'cat', '/content']);
    assert.equal(run.stdout, 'harness content', run.stderr);
    const ctr = containerd.ctr(['images', 'pull', '--plain-http', `${registry.host}/harness/busy:1`]);
    assert.equal(ctr.status, 0, ctr.stderr);
    const list = containerd.ctr(['images', 'ls']);
    assert.match(list.stdout, new RegExp(digest.replace(':', ':')));
  } finally {
    await containerd.stop();
    await engine.stop();
    await registry.stop();
  }
});

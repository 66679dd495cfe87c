// bin/vouch.cjs: the built CLI (dist/vouch.cjs, when `npm ci`/`npm run build` made it from the
// current sources) and the TypeScript through tsx answer identically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { isAscii } from 'node:buffer';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/vouch.cjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function vouch(args: string[], fromSource: boolean): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env, VOUCH_FROM_SOURCE: fromSource ? '1' : '0' };
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('version and help are the same built and from source', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const fromSource of [false, true]) {
    assert.deepEqual(vouch(['version'], fromSource), { status: 0, stdout: `vouch\n Version:    ${pkg.version}\n`, stderr: '' });
  }
  const built = vouch(['--help'], false);
  assert.equal(built.status, 0);
  assert.match(built.stdout, /^ {2}server /m);
  assert.match(built.stdout, /^ {2}signer /m);
  assert.deepEqual(built, vouch(['--help'], true));
});

test('an unknown command fails the same way built and from source', () => {
  const built = vouch(['no-such-command'], false);
  assert.equal(built.status, 1);
  assert.deepEqual(built, vouch(['no-such-command'], true));
});

test('the built script is ASCII (read as Latin-1), and non-ASCII text it prints is intact', (t) => {
  const bundle = `${ROOT}dist/vouch.cjs`;
  if (!existsSync(bundle)) return t.skip('not built (npm run build)');
  assert.ok(isAscii(readFileSync(bundle)), 'dist/vouch.cjs has non-ASCII bytes');
  const built = vouch(['trust', 'resolve', '--help'], false);
  assert.match(built.stdout, /Print the fully qualified name \(docker\.io\/library\/\u2026\)/);
  assert.deepEqual(built, vouch(['trust', 'resolve', '--help'], true));
});

test('the build records its inputs, main.ts among them', (t) => {
  const stamp = `${ROOT}dist/vouch.inputs.json`;
  if (!existsSync(stamp)) return t.skip('not built (npm run build)');
  const inputs = (JSON.parse(readFileSync(stamp, 'utf8')) as { inputs: [string, number, number][] }).inputs.map(([p]) => p);
  assert.ok(inputs.includes('src/cli/main.ts'));
  assert.ok(inputs.every((p) => !p.includes('node_modules')));
});

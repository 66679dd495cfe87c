#!/usr/bin/env node
// Runs the built CLI (dist/vouch.mjs, from `npm run build` or npm's `prepare`) when it was built
// from exactly the sources in this checkout; otherwise runs the TypeScript through tsx, so a
// fresh or edited checkout still works. VOUCH_FROM_SOURCE=1 forces the TypeScript.
import { readFileSync, statSync } from 'node:fs';

const root = new URL('../', import.meta.url);

function builtAndCurrent() {
  if (process.env.VOUCH_FROM_SOURCE === '1') return false;
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(new URL('dist/vouch.inputs.json', root), 'utf8'));
  } catch {
    return false;
  }
  if (!Array.isArray(stamp?.inputs) || stamp.inputs.length === 0) return false;
  for (const [path, size, mtimeMs] of stamp.inputs) {
    const s = statSync(new URL(path, root), { throwIfNoEntry: false });
    if (s === undefined || s.size !== size || s.mtimeMs !== mtimeMs) return false;
  }
  return true;
}

if (builtAndCurrent()) {
  await import('../dist/vouch.mjs');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}

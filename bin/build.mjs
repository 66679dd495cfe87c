#!/usr/bin/env node
/**
 * Builds the `vouch` command line into plain JavaScript (`npm run build`, and npm's `prepare`, so
 * `npm ci` leaves a built CLI): esbuild bundles src/cli/main.ts into dist/vouch.mjs, with the
 * server and signer commands (loaded only when asked for) split into dist/vouch-chunks/. Packages
 * stay external and load from node_modules, native modules (better-sqlite3, pkcs11js) included.
 *
 * dist/vouch.inputs.json records every source file the bundle was made from (size and mtime);
 * bin/vouch.mjs runs the bundle only while all of them are unchanged, and the TypeScript through
 * tsx otherwise, so an edited checkout never runs stale code.
 */
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const CHUNKS = 'vouch-chunks';

const BUNDLED = ['commander', '@commander-js/extra-typings'];
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

export const BUNDLE = join(dist, 'vouch.mjs');
export const INPUTS = join(dist, 'vouch.inputs.json');

export async function buildCli() {
  const started = Date.now();
  const result = await build({
    absWorkingDir: root,
    entryPoints: { vouch: 'src/cli/main.ts' },
    outdir: dist,
    outExtension: { '.js': '.mjs' },
    chunkNames: `${CHUNKS}/[name]-[hash]`,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Packages load from node_modules, except the argument parser every command needs: bundled,
    // it skips a resolution and a CommonJS compile at every start. Its `require`s of Node's own
    // modules go through a real `require`.
    external: Object.keys(pkg.dependencies).filter((name) => !BUNDLED.includes(name)),
    banner: { js: "import { createRequire as __vouchCreateRequire } from 'node:module';\nconst require = __vouchCreateRequire(import.meta.url);" },
    metafile: true,
    write: false,
    logLevel: 'warning',
  });
  // Chunks first, the entry point after them (by rename), the input list last: a `vouch` started
  // meanwhile finds either the old build or a complete new one.
  mkdirSync(join(dist, CHUNKS), { recursive: true });
  const fresh = new Set();
  const entry = result.outputFiles.find((f) => f.path === BUNDLE);
  for (const f of result.outputFiles) {
    if (f === entry) continue;
    fresh.add(f.path);
    writeFileSync(f.path, f.contents);
  }
  if (entry === undefined) throw new Error(`esbuild produced no ${BUNDLE}`);
  writeFileSync(`${BUNDLE}.tmp`, entry.contents);
  renameSync(`${BUNDLE}.tmp`, BUNDLE);
  const inputs = Object.keys(result.metafile.inputs)
    .filter((p) => !p.includes('node_modules/'))
    .sort()
    .map((p) => {
      const s = statSync(join(root, p));
      // Edited while esbuild was reading it: the bundle may hold either version, so never trust it.
      return [p, s.size, s.mtimeMs >= started - 1000 ? -1 : s.mtimeMs];
    });
  writeFileSync(`${INPUTS}.tmp`, JSON.stringify({ bundle: relative(root, BUNDLE), inputs }) + '\n');
  renameSync(`${INPUTS}.tmp`, INPUTS);
  for (const name of readdirSync(join(dist, CHUNKS))) {
    const p = join(dist, CHUNKS, name);
    if (!fresh.has(p)) rmSync(p, { force: true });
  }
  return BUNDLE;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildCli();
}

#!/usr/bin/env node
/**
 * Builds the `vouch` command line into plain JavaScript (`npm run build`, and npm's `prepare`, so
 * `npm ci` leaves a built CLI): esbuild bundles src/cli/main.ts into one CommonJS script,
 * dist/vouch.cjs. Packages stay external and load from node_modules (native modules included),
 * except the argument parser, which every command needs. The server and signer modules are in the
 * script but initialised only when those commands run.
 *
 * Why CommonJS: bin/vouch.cjs compiles it with `vm.Script` and V8's code cache, which Node 20
 * offers for scripts but not for ES modules; that saves a tenth of a short command's time. The
 * cache, dist/vouch-<build id>.cache, is written by the first run of a build; the build ID is the
 * script's first line, so a cache can only ever be used with the script it was made from (V8
 * itself checks no more than the source length).
 *
 * dist/vouch.inputs.json records every source file the bundle was made from (size and mtime, once
 * its content is checked to be what esbuild read); bin/vouch.cjs runs the bundle only while all of
 * them are unchanged, and the TypeScript through tsx otherwise, so an edited checkout never runs
 * stale code.
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const BUNDLED = ['commander', '@commander-js/extra-typings'];
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

export const BUNDLE = join(dist, 'vouch.cjs');
export const INPUTS = join(dist, 'vouch.inputs.json');

/** Source files as esbuild read them: path relative to the root → SHA-256 of the content. */
function recordingSources(read) {
  return {
    name: 'vouch-record-sources',
    setup(b) {
      b.onLoad({ filter: /\.(ts|json)$/ }, (args) => {
        if (args.path.includes('/node_modules/')) return undefined;
        const contents = readFileSync(args.path);
        read.set(relative(root, args.path), createHash('sha256').update(contents).digest('hex'));
        return { contents, loader: args.path.endsWith('.json') ? 'json' : 'ts' };
      });
    },
  };
}

/**
 * commander requires `node:child_process` at load for executable subcommands, which vouch does not
 * use; loading it (with `net` and `dgram` behind it) costs every command ≈ 5–9 ms of start-up. The
 * bundle gives commander a stand-in that loads the real module on first property access.
 */
function lazyChildProcessForCommander() {
  return {
    name: 'vouch-lazy-child-process',
    setup(b) {
      b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
        args.importer.includes('/node_modules/commander/') ? { path: 'child_process', namespace: 'vouch-lazy' } : undefined);
      b.onLoad({ filter: /.*/, namespace: 'vouch-lazy' }, () => ({
        contents: "module.exports = new Proxy({}, { get: (_t, k) => process.getBuiltinModule('node:child_process')[k] });",
        loader: 'js',
      }));
    },
  };
}

/** [path, size, mtime] of each input whose content is still what went into the bundle. */
function currentInputs(read) {
  return [...read.keys()].sort().map((p) => {
    const s = statSync(join(root, p));
    // Changed while esbuild was reading it: the bundle holds another version, so never trust it.
    const same = createHash('sha256').update(readFileSync(join(root, p))).digest('hex') === read.get(p);
    return [p, s.size, same ? s.mtimeMs : -1];
  });
}

/**
 * esbuild escapes non-ASCII characters in strings, templates and identifiers, but comments it keeps
 * (`§`, `–`) stay UTF-8. Escaped there too, the whole script is ASCII, which bin/vouch.cjs decodes
 * faster than UTF-8. The escape is only safe where esbuild left such characters, in comments.
 */
function asciiOnly(text) {
  return text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export async function buildCli() {
  const read = new Map();
  const result = await build({
    absWorkingDir: root,
    entryPoints: ['src/cli/main.ts'],
    outfile: BUNDLE,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external: Object.keys(pkg.dependencies).filter((name) => !BUNDLED.includes(name)),
    // `import.meta.url` (createRequire of lazily loaded packages) has a CommonJS equivalent, and
    // `import()` of a package becomes `require()`: a script restored from V8's code cache has no
    // dynamic-import callback in Node 20.
    define: { 'import.meta.url': '__vouchModuleUrl' },
    supported: { 'dynamic-import': false },
    banner: { js: `// vouch-build ${randomUUID()}\nconst __vouchModuleUrl = require('node:url').pathToFileURL(__filename).href;` },
    plugins: [recordingSources(read), lazyChildProcessForCommander()],
    write: false,
    logLevel: 'warning',
  });
  const [out] = result.outputFiles;
  if (out === undefined) throw new Error(`esbuild produced no ${BUNDLE}`);
  // The script by rename, then the input list: a `vouch` started meanwhile finds either the old
  // build or the complete new one. Code caches of earlier builds are of no further use.
  mkdirSync(dist, { recursive: true });
  writeFileSync(`${BUNDLE}.tmp`, asciiOnly(out.text));
  renameSync(`${BUNDLE}.tmp`, BUNDLE);
  for (const name of readdirSync(dist)) if (/^vouch-[0-9a-f-]+(-g16|-agent)?\.cache$/.test(name)) rmSync(join(dist, name), { force: true });
  writeFileSync(`${INPUTS}.tmp`, JSON.stringify({ bundle: relative(root, BUNDLE), inputs: currentInputs(read) }) + '\n');
  renameSync(`${INPUTS}.tmp`, INPUTS);
  return BUNDLE;
}

/**
 * dist/vouch-client, the agent's front end (native/vouch-client.c, docs/agent.md), with the
 * system's C compiler. Without one, bin/vouch runs bin/vouch.cjs directly: everything works, only
 * an agent cannot be used. Returns the path, or undefined when it could not be built.
 */
export function buildFrontEnd() {
  const out = join(dist, 'vouch-client');
  const cc = process.env.CC || 'cc';
  mkdirSync(dist, { recursive: true });
  const r = spawnSync(cc, ['-O2', '-std=c11', '-Wall', '-o', `${out}.tmp`, join(root, 'native', 'vouch-client.c')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error !== undefined || r.status !== 0) {
    rmSync(`${out}.tmp`, { force: true });
    process.stderr.write(`vouch build: no agent front end (${r.error?.message ?? `${cc} exited ${r.status}`}); vouch runs without an agent\n`);
    return undefined;
  }
  renameSync(`${out}.tmp`, out);
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildCli();
  buildFrontEnd();
}

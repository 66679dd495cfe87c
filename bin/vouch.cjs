#!/usr/bin/env node
// Runs the built CLI (dist/vouch.cjs, from `npm run build` or npm's `prepare`) when it was built
// from exactly the sources in this checkout; otherwise runs the TypeScript through tsx, so a
// fresh or edited checkout still works. VOUCH_FROM_SOURCE=1 forces the TypeScript.
//
// The built script is compiled with V8's code cache (see bin/build.mjs): the first run of a build
// writes dist/vouch-<build id>.cache, later runs skip most of the compiling. This file is
// CommonJS because Node starts a CommonJS entry ≈ 10 ms sooner than an ES module one.
'use strict';
const { readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { Script } = require('node:vm');

const rootPath = join(__dirname, '..') + '/';

// Reading a whole collection allocates its working set at once (a 10,000-target list parses
// ≈ 20 MB that all stays live), and V8's young generation starts at 1 MiB and doubles per
// scavenge, so the same live objects get copied again and again: 20–25 ms of a cold `list`.
// Growing it 16× per step leaves two or three scavenges (≈ 7 ms). Other commands keep V8's
// default: committing the larger young generation costs a short command ≈ 10 ms. The flag is
// part of V8's code-cache check, so each setting keeps its own cache file.
// A command process of `vouch agent` (src/agent) runs many commands, so it grows its young
// generation once for all of them; it also runs with V8 flags of its own, which V8's code-cache
// check includes too.
const agentProcess = process.env.VOUCH_AGENT_WORKER === '1';
const READS_COLLECTION = new Set(['list', 'lookup', 'verify', 'witness', 'inspect']);
const largeHeap = agentProcess || process.argv.slice(2).some((a) => READS_COLLECTION.has(a));
if (largeHeap) require('node:v8').setFlagsFromString('--semi-space-growth-factor=16');

function builtAndCurrent() {
  if (process.env.VOUCH_FROM_SOURCE === '1') return false;
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(rootPath + 'dist/vouch.inputs.json', 'utf8'));
  } catch {
    return false;
  }
  if (!Array.isArray(stamp?.inputs) || stamp.inputs.length === 0) return false;
  for (const [path, size, mtimeMs] of stamp.inputs) {
    const s = statSync(rootPath + path, { throwIfNoEntry: false });
    if (s === undefined || s.size !== size || s.mtimeMs !== mtimeMs) return false;
  }
  return true;
}

function runBuilt() {
  const file = rootPath + 'dist/vouch.cjs';
  // esbuild writes the bundle as ASCII (bin/build.mjs): decoding it as Latin-1 gives the same
  // string ≈ 8 ms sooner than UTF-8 validation; a bundle that is not ASCII is decoded as UTF-8.
  const bytes = readFileSync(file);
  const source = require('node:buffer').isAscii(bytes) ? bytes.latin1Slice(0, bytes.length) : bytes.toString('utf8');
  const id = /^\/\/ vouch-build ([0-9a-f-]{36})\n/.exec(source)?.[1];
  const cacheFile = id === undefined ? undefined : `${rootPath}dist/vouch-${id}${largeHeap ? '-g16' : ''}${agentProcess ? '-agent' : ''}.cache`;
  let cachedData;
  try {
    if (cacheFile !== undefined) cachedData = readFileSync(cacheFile);
  } catch {
    // No cache yet: this run makes one.
  }
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
  const script = new Script(wrapped, {
    filename: file,
    ...(cachedData !== undefined ? { cachedData } : {}),
  });
  if (cacheFile !== undefined && (cachedData === undefined || script.cachedDataRejected === true)) {
    // At exit the cache also holds every function this command compiled.
    process.once('exit', () => {
      try {
        writeFileSync(`${cacheFile}.${process.pid}`, script.createCachedData());
        renameSync(`${cacheFile}.${process.pid}`, cacheFile);
      } catch {
        // A read-only checkout simply runs without a cache.
      }
    });
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
}

if (builtAndCurrent()) {
  runBuilt();
} else {
  import('tsx/esm/api')
    .then(({ register }) => {
      register();
      return import(pathToFileURL(rootPath + 'src/cli/main.ts').href);
    })
    .catch((e) => {
      process.exitCode = 1;
      console.error(e);
    });
}

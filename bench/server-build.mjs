// Bundles `vouch server` into one ESM file with esbuild (dist/bench/vouch-server.mjs), so the
// benchmark measures the server as a release would ship it: plain `node`, no TypeScript loader.
// Native and dynamically loaded packages stay external and load from node_modules.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// dist/ is git-ignored; the bundle imports its packages from the checkout's node_modules.
export const BUNDLE = join(root, 'dist', 'bench', 'vouch-server.mjs');

export async function buildServerBundle() {
  await build({
    entryPoints: [join(root, 'bench', 'server-cli.ts')],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: false,
    logLevel: 'warning',
  });
  return BUNDLE;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${await buildServerBundle()}\n`);
}

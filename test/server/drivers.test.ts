// Database drivers load with the first database of their kind (src/storage/database.ts): the
// embedded default server (SQLite metadata, SQLite signer keys) starts and stops without loading
// pg or mysql2, and each of those loads only when a database of its kind is opened. Runs in a
// child process, because this test process's module cache is shared with its imports.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const src = (file: string): string => pathToFileURL(join(import.meta.dirname, '..', '..', 'src', file)).href;

// The driver packages in the CommonJS module cache, after each step.
const CHILD = `
import { createRequire } from 'node:module';
const { prepareEmbedded } = await import(${JSON.stringify(src('server/embedded.ts'))});
const { startFromConfig } = await import(${JSON.stringify(src('server/bootstrap.ts'))});
const { openDatabase } = await import(${JSON.stringify(src('storage/database.ts'))});
const cache = createRequire(import.meta.url).cache;
const drivers = () => [...new Set(Object.keys(cache)
  .map((p) => /\\/node_modules\\/(better-sqlite3|mysql2|pg)\\//.exec(p)?.[1]).filter((d) => d !== undefined))].sort();
const steps = {};
const embedded = prepareEmbedded({ dataDir: process.env.DATA_DIR, listen: '127.0.0.1:0' });
const server = await startFromConfig(embedded.config, { env: {} });
await server.close();
steps.sqlite = drivers();
// Network backends connect on the first query, so opening one needs no server.
await openDatabase({ backend: 'mysql', dbUrl: 'vouch@tcp(127.0.0.1:9)/vouch' }).close();
steps.mysql = drivers();
await openDatabase({ backend: 'postgres', dbUrl: 'postgres://vouch@127.0.0.1:9/vouch' }).close();
steps.postgres = drivers();
process.stdout.write(JSON.stringify(steps));
`;

void describe('database drivers load lazily', () => {
  void test('a SQLite server never loads pg or mysql2; each loads with its first database', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vouch-drivers-'));
    try {
      const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', CHILD], {
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, DATA_DIR: join(dir, 'data') }, encoding: 'utf8', timeout: 60_000,
      });
      const steps = JSON.parse(out) as Record<string, string[]>;
      assert.deepEqual(steps['sqlite'], ['better-sqlite3'], 'the embedded default loads the SQLite driver only');
      assert.deepEqual(steps['mysql'], ['better-sqlite3', 'mysql2']);
      assert.deepEqual(steps['postgres'], ['better-sqlite3', 'mysql2', 'pg']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Throwaway PostgreSQL databases for notary-server / notary-signer interop runs.
 *
 * Contract: `createTestDatabase(prefix, schemaFile)` creates a fresh database on the local
 * PostgreSQL (127.0.0.1:5432, user `postgres`, trust auth; override with VOUCH_TEST_PGHOST /
 * VOUCH_TEST_PGPORT / VOUCH_TEST_PGUSER), applies the schema as the owner (docs/compatibility.md §3: running
 * notary's schema as a non-owner fails on PostgreSQL 15), and returns a lib/pq URL for the Go
 * peers. `drop()` removes it; databases not dropped are removed when the process exits. All psql
 * calls have a timeout and throw with psql's output on failure.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PSQL = '/usr/bin/psql';
const PSQL_TIMEOUT_MS = 20_000;

export const SQL_DIR = join(dirname(fileURLToPath(import.meta.url)), 'sql');
export const SERVER_SCHEMA = join(SQL_DIR, 'notary-server.postgres.sql');
export const SIGNER_SCHEMA = join(SQL_DIR, 'notary-signer.postgres.sql');

export interface PgTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
}

export function pgTarget(): PgTarget {
  return {
    host: process.env['VOUCH_TEST_PGHOST'] ?? '127.0.0.1',
    port: Number(process.env['VOUCH_TEST_PGPORT'] ?? '5432'),
    user: process.env['VOUCH_TEST_PGUSER'] ?? 'postgres',
  };
}

export interface TestDatabase {
  readonly name: string;
  /** lib/pq URL, e.g. `postgres://postgres@127.0.0.1:5432/vouch_x?sslmode=disable`. */
  readonly url: string;
  /** Runs one SQL statement and returns psql's unaligned, tuples-only output. */
  query(sql: string): string;
  drop(): void;
}

export interface PsqlResult {
  readonly ok: boolean;
  readonly output: string;
}

/** Runs psql against `db`; never throws. */
export function psql(db: string, args: readonly string[], target = pgTarget()): PsqlResult {
  const r = spawnSync(PSQL, ['-h', target.host, '-p', String(target.port), '-U', target.user,
    '-d', db, '-X', '-q', '-v', 'ON_ERROR_STOP=1', ...args], {
    encoding: 'utf8', timeout: PSQL_TIMEOUT_MS,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PGCONNECT_TIMEOUT: '5' },
  });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}`;
  return { ok: r.error === undefined && r.status === 0, output };
}

function psqlOrThrow(db: string, args: readonly string[], target: PgTarget): string {
  const r = psql(db, args, target);
  if (!r.ok) throw new Error(`psql -d ${db} ${args.join(' ')} failed:\n${r.output}`);
  return r.output;
}

/** Why PostgreSQL cannot be used for tests, or undefined when it can. */
export function postgresUnavailableReason(target = pgTarget()): string | undefined {
  if (!existsSync(PSQL)) return `${PSQL} is missing (apt-get install postgresql-client)`;
  const r = psql('postgres', ['-A', '-t', '-c', 'SELECT 1'], target);
  if (!r.ok) {
    return `PostgreSQL at ${target.user}@${target.host}:${target.port} is not reachable ` +
      `with trust auth: ${r.output.trim()}`;
  }
  return undefined;
}

const undropped = new Map<string, PgTarget>();
let exitHookInstalled = false;

function dropNow(name: string, target: PgTarget): void {
  psql('postgres', ['-c', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`], target);
  undropped.delete(name);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // WITH (FORCE) ends the sessions of peers that may still be alive at this point.
  process.on('exit', () => {
    for (const [name, target] of [...undropped]) dropNow(name, target);
  });
}

/** Creates `vouch_<prefix>_<random>` and applies `schemaFile` to it. */
export function createTestDatabase(prefix: string, schemaFile: string,
  target = pgTarget()): TestDatabase {
  if (!/^[a-z0-9_]{1,30}$/.test(prefix)) throw new Error(`bad database prefix: ${prefix}`);
  const name = `vouch_${prefix}_${randomBytes(5).toString('hex')}`;
  installExitHook();
  psqlOrThrow('postgres', ['-c', `CREATE DATABASE "${name}"`], target);
  undropped.set(name, target);
  try {
    psqlOrThrow(name, ['-f', schemaFile], target);
  } catch (e) {
    dropNow(name, target);
    throw e;
  }
  return {
    name,
    url: `postgres://${target.user}@${target.host}:${target.port}/${name}?sslmode=disable`,
    query: (sql) => psqlOrThrow(name, ['-A', '-t', '-c', sql], target).trim(),
    drop: () => dropNow(name, target),
  };
}

/**
 * Throwaway databases for signer storage tests on all three backends.
 *
 * Contract: `createThrowawayDatabase(backend, dir)` returns a notary-style `StorageConfig` for a
 * fresh, empty database — a file under `dir` for SQLite, `vouch_signer_<random>` on the local
 * PostgreSQL (127.0.0.1:5432, user postgres, trust auth) or MariaDB (127.0.0.1:3306, root, no
 * password) — and `drop()` removes it. Databases not dropped are removed when the process exits.
 * `backendUnavailableReason` names why a server backend cannot be used, for test skips.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import type { StorageBackend, StorageConfig } from '../../../src/storage/config.ts';
import { pgTarget, postgresUnavailableReason, psql } from '../../helpers/postgres.ts';

const MYSQL = '/usr/bin/mysql';
export const MYSQL_HOST = process.env['VOUCH_TEST_MYSQL_HOST'] ?? '127.0.0.1';
export const MYSQL_PORT = Number(process.env['VOUCH_TEST_MYSQL_PORT'] ?? '3306');

export interface ThrowawayDatabase {
  readonly name: string;
  readonly config: StorageConfig;
  /** Runs SQL through the backend's CLI (psql / mysql / none for SQLite) and returns its output. */
  query(sql: string): string;
  drop(): void;
}

function mysqlCli(db: string | undefined, sql: string): { ok: boolean; output: string } {
  const r = spawnSync(MYSQL, ['-h', MYSQL_HOST, '-P', String(MYSQL_PORT), '-u', 'root', '-N', '-B',
    ...(db !== undefined ? [db] : []), '-e', sql], { encoding: 'utf8', timeout: 20_000 });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

export function backendUnavailableReason(backend: StorageBackend): string | undefined {
  if (backend === 'sqlite3') return undefined;
  if (backend === 'postgres') return postgresUnavailableReason();
  if (!existsSync(MYSQL)) return `${MYSQL} is missing (apt-get install mariadb-client)`;
  const r = mysqlCli(undefined, 'SELECT 1');
  return r.ok ? undefined : `MariaDB at root@${MYSQL_HOST}:${MYSQL_PORT} is not reachable: ${r.output.trim()}`;
}

const undropped = new Map<string, () => void>();
let hookInstalled = false;

function track(name: string, drop: () => void): () => void {
  if (!hookInstalled) {
    hookInstalled = true;
    process.on('exit', () => { for (const d of [...undropped.values()]) d(); });
  }
  const once = (): void => {
    if (!undropped.delete(name)) return;
    drop();
  };
  undropped.set(name, once);
  return once;
}

function orThrow(r: { ok: boolean; output: string }, what: string): string {
  if (!r.ok) throw new Error(`${what} failed:\n${r.output}`);
  return r.output.trim();
}

export function createThrowawayDatabase(backend: StorageBackend, dir: string): ThrowawayDatabase {
  const name = `vouch_signer_${randomBytes(5).toString('hex')}`;
  if (backend === 'sqlite3') {
    const file = join(dir, `${name}.db`);
    const drop = track(name, () => { for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true }); });
    return { name, config: { backend, dbUrl: file }, query: () => { throw new Error('no CLI for SQLite'); }, drop };
  }
  if (backend === 'postgres') {
    const t = pgTarget();
    orThrow(psql('postgres', ['-c', `CREATE DATABASE "${name}"`]), 'CREATE DATABASE');
    const drop = track(name, () => { psql('postgres', ['-c', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`]); });
    return {
      name, config: { backend, dbUrl: `postgres://${t.user}@${t.host}:${t.port}/${name}?sslmode=disable` },
      query: (sql) => orThrow(psql(name, ['-A', '-t', '-c', sql]), sql), drop,
    };
  }
  orThrow(mysqlCli(undefined, `CREATE DATABASE \`${name}\``), 'CREATE DATABASE');
  const drop = track(name, () => { mysqlCli(undefined, `DROP DATABASE IF EXISTS \`${name}\``); });
  return {
    name, config: { backend, dbUrl: `root@tcp(${MYSQL_HOST}:${MYSQL_PORT})/${name}?parseTime=true` },
    query: (sql) => orThrow(mysqlCli(name, sql), sql), drop,
  };
}

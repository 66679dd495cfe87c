/**
 * A private PostgreSQL cluster for outage tests: the shared server on 5432 must never be stopped,
 * so this one is made with initdb in a temp dir, runs as the `postgres` user on a free loopback
 * port, and can be stopped (`-m immediate`) and started again on the same port.
 *
 * Contract: `startPrivatePostgres()` resolves once the cluster accepts connections (trust auth,
 * database `postgres`); `stop()`/`start()` toggle it; `destroy()` stops it and removes the dir.
 * `privatePostgresUnavailableReason()` says why it cannot run here (for test skips).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/ports.ts';

const BIN = '/usr/lib/postgresql/15/bin';
const RUNUSER = '/usr/sbin/runuser';

function asPostgres(args: string[], timeoutMs = 60_000): { ok: boolean; output: string } {
  const r = spawnSync(RUNUSER, ['-u', 'postgres', '--', ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error?.message ?? ''}` };
}

function uid(name: string): number | undefined {
  const r = spawnSync('/usr/bin/id', ['-u', name], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
}

export function privatePostgresUnavailableReason(): string | undefined {
  if (!existsSync(`${BIN}/initdb`) || !existsSync(RUNUSER)) return `${BIN}/initdb or ${RUNUSER} is missing`;
  if (process.getuid?.() !== 0) return 'starting a private PostgreSQL needs root (runuser -u postgres)';
  if (uid('postgres') === undefined) return 'there is no postgres user';
  return undefined;
}

export interface PrivatePostgres {
  readonly port: number;
  readonly url: string;
  stop(): void;
  start(): void;
  destroy(): void;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-pg-'));
  const pgUid = uid('postgres')!;
  chmodSync(dir, 0o700);
  chownSync(dir, pgUid, pgUid);
  const data = join(dir, 'data');
  const init = asPostgres([`${BIN}/initdb`, '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  if (!init.ok) throw new Error(`initdb failed:\n${init.output}`);
  const port = await freePort();
  const opts = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c fsync=off`;
  const start = (): void => {
    const r = asPostgres([`${BIN}/pg_ctl`, '-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '30', 'start']);
    if (!r.ok) throw new Error(`pg_ctl start failed:\n${r.output}`);
  };
  const stop = (): void => {
    asPostgres([`${BIN}/pg_ctl`, '-D', data, '-m', 'immediate', '-w', 'stop']);
  };
  start();
  let destroyed = false;
  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    stop();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', destroy);
  return { port, url: `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`, stop, start, destroy };
}

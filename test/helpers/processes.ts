/**
 * Long-running child processes for interop tests, with no orphans and no hangs.
 *
 * Contract: `spawnManaged` starts a command under `/usr/bin/timeout` (a hard lifetime cap, so even
 * a SIGKILLed test runner leaves no peer behind for long), sends stdout and stderr to a log file,
 * and registers the child. `stop()` sends SIGTERM, then SIGKILL to the child's process group after
 * a grace period, and resolves once the child has exited. Every child still registered is killed
 * when this Node process exits or receives SIGINT/SIGTERM/SIGHUP. Children are unref'd: a test
 * that forgets `stop()` ends anyway, and the exit hook reaps the peer.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

const TIMEOUT_BIN = '/usr/bin/timeout';
const DEFAULT_MAX_LIFETIME_S = 600;
const DEFAULT_STOP_GRACE_MS = 3_000;

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the child has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** Exit status once the child has exited, else undefined. */
  exitInfo(): ExitInfo | undefined;
  stop(graceMs?: number): Promise<void>;
  /** Everything the child wrote so far. */
  logs(): string;
}

export interface SpawnManagedOptions {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly logFile: string;
  /** Hard cap on the child's lifetime, enforced by /usr/bin/timeout. */
  readonly maxLifetimeS?: number;
}

const live = new Set<ChildProcess>();
let hooksInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  const pid = child.pid;
  if (pid === undefined) return;
  // `timeout` makes itself a process-group leader, so the group holds it and the peer.
  try { process.kill(-pid, signal); } catch { /* already gone */ }
  try { process.kill(pid, signal); } catch { /* already gone */ }
}

function killAllNow(): void {
  for (const child of live) killGroup(child, 'SIGKILL');
  live.clear();
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAllNow();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** Reads a log file; empty when it does not exist (yet). */
export function readLog(logFile: string): string {
  return existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
}

/** The last `maxChars` characters of a log, for error messages. */
export function logTail(logFile: string, maxChars = 4_000): string {
  const text = readLog(logFile);
  return text.length <= maxChars ? text : `…${text.slice(-maxChars)}`;
}

export function spawnManaged(command: string, args: readonly string[],
  opts: SpawnManagedOptions): ManagedProcess {
  installExitHooks();
  const lifetime = String(opts.maxLifetimeS ?? DEFAULT_MAX_LIFETIME_S);
  const fd = openSync(opts.logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(TIMEOUT_BIN, ['--kill-after=5', lifetime, command, ...args], {
      cwd: opts.cwd, env: { ...opts.env }, stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not spawn ${command}`);
  live.add(child);
  child.unref();
  let info: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      info = { code, signal };
      live.delete(child);
      resolve(info);
    });
    child.once('error', () => {
      info ??= { code: null, signal: null };
      live.delete(child);
      resolve(info);
    });
  });
  const stop = async (graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> => {
    if (info !== undefined) return;
    try { child.kill('SIGTERM'); } catch { /* already gone */ }
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), graceMs); });
    const outcome = await Promise.race([exited, grace]);
    clearTimeout(timer);
    if (outcome === 'late') {
      killGroup(child, 'SIGKILL');
      await exited;
    }
  };
  return {
    pid: child.pid, logFile: opts.logFile, exited, exitInfo: () => info, stop,
    logs: () => readLog(opts.logFile),
  };
}

/** Resolves after `ms` (a ref'd timer: awaiting it keeps the test alive). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

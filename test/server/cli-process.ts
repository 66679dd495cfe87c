/**
 * `vouch server` as a child process (through cli-entry.ts), for tests that need a real process:
 * restarts, signals, and outages that must not end it.
 *
 * Contract: `startServerProcess(args, env)` resolves with the URL the server printed once it
 * listens, or rejects with its output when it exits or does not start within 30 s; `opts.node`
 * replaces the node arguments before `server` (another entry point, V8 flags);
 * `stopServerProcess` sends SIGTERM and resolves with the exit code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ENTRY = join(import.meta.dirname, 'cli-entry.ts');

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly banner: string;
  output(): string;
}

export interface ServerProcessOptions {
  /** Node's arguments before `server` (default: tsx and cli-entry.ts). */
  readonly node?: readonly string[];
  readonly cwd?: string;
}

export function startServerProcess(args: readonly string[], env: Readonly<Record<string, string>>, opts: ServerProcessOptions = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...(opts.node ?? ['--import', 'tsx', ENTRY]), 'server', ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start:\n${out}`));
    }, 30_000);
    const check = (): void => {
      const m = /^vouch server: listening on (https?:\/\/[^\s]+)\n/m.exec(out);
      if (m === null || (out.includes('Point clients') && !/export DOCKER_CONTENT_TRUST_SERVER=\S+\n/.test(out))) return;
      clearTimeout(timer);
      resolve({ child, url: m[1]!, banner: out, output: () => out });
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited ${String(code)}:\n${out}`));
    });
  });
}

export function stopServerProcess(s: ServerProcess): Promise<number | null> {
  if (s.child.exitCode !== null) return Promise.resolve(s.child.exitCode);
  return new Promise((resolve) => {
    s.child.removeAllListeners('exit');
    s.child.once('exit', (code) => resolve(code));
    s.child.kill('SIGTERM');
  });
}

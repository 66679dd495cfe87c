// Runs the key commands as a user would: `node --import tsx test/cli/run-cli.ts …` in a child
// process with a scrubbed environment, optionally as another user, or on a pseudo-terminal
// (util-linux `script`) answering prompts as they appear.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const RUN_CLI = fileURLToPath(new URL('./run-cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly input?: string;
  readonly cwd?: string;
  /** Run as this uid/gid (via setpriv), e.g. 65534 for nobody. */
  readonly uid?: number;
}

export function cliArgv(args: readonly string[]): string[] {
  return [process.execPath, '--import', TSX, RUN_CLI, ...args];
}

/** PATH and a HOME with nothing in it, plus `extra`. */
export function cleanEnv(home: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, TZ: 'UTC', ...extra };
}

export function runVouch(args: readonly string[], opts: CliOptions & { home: string }): CliResult {
  let argv = cliArgv(args);
  if (opts.uid !== undefined) {
    argv = ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', ...argv];
  }
  const r = spawnSync(argv[0]!, argv.slice(1), {
    cwd: opts.cwd ?? REPO, env: cleanEnv(opts.home, opts.env), input: opts.input ?? '', encoding: 'utf8', timeout: 60_000,
  });
  if (r.error !== undefined) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function scriptAvailable(): boolean {
  return existsSync('/usr/bin/script') && spawnSync('/usr/bin/script', ['-qec', 'true', '/dev/null']).status === 0;
}

/**
 * Runs the CLI on a pseudo-terminal. `answers` are [prompt fragment, line to type] pairs: each line
 * is typed only after its prompt has appeared (text typed earlier would be echoed by the terminal
 * before Vouch turns echo off). Resolves with everything the terminal showed.
 */
export function runVouchOnTty(args: readonly string[], answers: readonly (readonly [string, string])[],
  opts: { home: string; env?: Readonly<Record<string, string>>; timeoutMs?: number }): Promise<CliResult & { screen: string }> {
  const command = cliArgv(args).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/script', ['-qfec', command, '/dev/null'], {
      cwd: REPO, env: cleanEnv(opts.home, opts.env), stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    let stderr = '';
    let next = 0;
    let searchFrom = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out waiting for prompt ${JSON.stringify(answers[next]?.[0])}; screen so far:\n${screen}`));
    }, opts.timeoutMs ?? 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      screen += chunk.toString('utf8');
      while (next < answers.length) {
        const [prompt, line] = answers[next]!;
        const at = screen.indexOf(prompt, searchFrom);
        if (at < 0) break;
        searchFrom = at + prompt.length;
        next++;
        child.stdin.write(line + '\r');
      }
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: screen.replace(/\r\n/g, '\n'), stderr, screen });
    });
  });
}

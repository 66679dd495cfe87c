/**
 * Runs `vouch trust …` (test entry) and the real docker CLI 28 (no engine) with the same scrubbed
 * docker environment, so their outputs can be compared byte for byte.
 *
 * Contract: `dockerEnv(opts)` builds PATH/HOME/TZ, DOCKER_CONFIG, DOCKER_CONTENT_TRUST_SERVER and
 * both DOCKER_CONTENT_TRUST_*_PASSPHRASE variables; `runVouch` / `runDocker` spawn with it, write
 * `input` to stdin and close it, kill after `timeoutMs`, and resolve `{code, stdout, stderr}`.
 * With `expectCode`, any other exit throws an error quoting the command and both streams.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('./cli-bin.mjs', import.meta.url));
export const DOCKER_BIN = process.env['VOUCH_TEST_DOCKER'] ?? 'docker';

export const ROOT_PASSPHRASE = 'vouch-test-root-passphrase';
export const REPOSITORY_PASSPHRASE = 'vouch-test-repository-passphrase';

export interface DockerEnvOptions {
  readonly configDir: string;
  /** `https://127.0.0.1:<port>` of the trust server; omitted: docker's default selection. */
  readonly trustServer?: string;
  readonly extra?: Readonly<Record<string, string>>;
}

export function dockerEnv(o: DockerEnvOptions): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: o.configDir,
    TZ: 'UTC',
    DOCKER_CONFIG: o.configDir,
    DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE: ROOT_PASSPHRASE,
    DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: REPOSITORY_PASSPHRASE,
    ...(o.trustServer !== undefined ? { DOCKER_CONTENT_TRUST_SERVER: o.trustServer } : {}),
    ...o.extra,
  };
}

/** Puts `caFile` where docker looks for the CA of `host:port`. */
export function trustCa(configDir: string, hostPort: string, caFile: string): void {
  const dir = join(configDir, 'tls', hostPort);
  mkdirSync(dir, { recursive: true });
  copyFileSync(caFile, join(dir, 'ca.crt'));
}

export interface RunResult {
  readonly argv: readonly string[];
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env: Readonly<Record<string, string>>;
  readonly input?: string;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  readonly expectCode?: number;
}

function run(command: string, args: readonly string[], argv: readonly string[], o: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: o.cwd ?? o.env['HOME'], env: o.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, o.timeoutMs ?? 60_000);
    child.stdin.on('error', () => undefined);
    child.stdin.end(o.input ?? '');
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('close', (code) => {
      clearTimeout(timer);
      const result = { argv, code: timedOut ? null : code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (o.expectCode !== undefined && result.code !== o.expectCode) {
        reject(new Error(`${argv.join(' ')}: exited ${String(result.code)}${timedOut ? ' (timed out)' : ''}, expected ${o.expectCode}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`));
      } else {
        resolve(result);
      }
    });
  });
}

export function runVouch(args: readonly string[], o: RunOptions): Promise<RunResult> {
  return run(process.execPath, [ENTRY, 'trust', ...args], ['vouch', 'trust', ...args], o);
}

export function runDocker(args: readonly string[], o: RunOptions): Promise<RunResult> {
  return run(DOCKER_BIN, ['trust', ...args], ['docker', 'trust', ...args], o);
}

/** The docker CLI with any arguments (not only `trust`), asynchronously (an in-process trust server keeps answering). */
export function runDockerCli(args: readonly string[], o: RunOptions): Promise<RunResult> {
  return run(DOCKER_BIN, args, ['docker', ...args], o);
}

/** `vouch …` (any command) through the test entry, under faketime when `fakeTime` is given. */
export function runVouchAt(fakeTime: string, args: readonly string[], o: RunOptions): Promise<RunResult> {
  return run('faketime', [fakeTime, process.execPath, ENTRY, ...args], ['faketime', fakeTime, 'vouch', ...args], o);
}

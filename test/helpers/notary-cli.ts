/**
 * Runs the real notary 0.7.0 client (/usr/bin/notary) for interop tests.
 *
 * Contract: `runNotary(args, opts)` spawns `notary -d <trustDir> [-s <url>] [--tlscacert <ca>]
 * <args…>` with a scrubbed environment (PATH, HOME, the NOTARY_*_PASSPHRASE variables and
 * `opts.env`), writes `opts.input` to stdin and then closes it (so a passphrase or `yes/no` prompt
 * reads EOF instead of hanging), and kills it after `timeoutMs`. It resolves
 * `{code, signal, timedOut, stdout, stderr}`; with `expectCode` set, any other outcome throws
 * `NotaryCliError` quoting the command line and both streams in full.
 */
import { spawn } from 'node:child_process';

export const NOTARY_CLI_BIN = '/usr/bin/notary';
const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

export interface NotaryPassphrases {
  readonly root: string;
  readonly targets: string;
  readonly snapshot: string;
  readonly delegation: string;
}

export const DEFAULT_PASSPHRASES: NotaryPassphrases = {
  root: 'vouch-root-passphrase',
  targets: 'vouch-targets-passphrase',
  snapshot: 'vouch-snapshot-passphrase',
  delegation: 'vouch-delegation-passphrase',
};

export interface NotaryCliOptions {
  readonly trustDir: string;
  readonly serverUrl?: string;
  readonly caFile?: string;
  /** `-c` config file (see docs/formats.md §10.5). */
  readonly configFile?: string;
  /** Defaults to DEFAULT_PASSPHRASES; `null` sets no passphrase variable at all. */
  readonly passphrases?: Partial<NotaryPassphrases> | null;
  readonly env?: Readonly<Record<string, string>>;
  /** HOME for the client (default: the trust dir, so no ~/.notary/config.json leaks in). */
  readonly home?: string;
  /** Working directory (default: this process's cwd). */
  readonly cwd?: string;
  readonly input?: string;
  readonly timeoutMs?: number;
  /** When set, an exit code other than this (or a timeout) throws NotaryCliError. */
  readonly expectCode?: number;
}

export interface NotaryCliResult {
  readonly argv: readonly string[];
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

export class NotaryCliError extends Error {
  readonly result: NotaryCliResult;

  constructor(result: NotaryCliResult, expected: number) {
    const outcome = result.timedOut ? 'timed out' : `exited ${String(result.code)}` +
      (result.signal !== null ? ` (${result.signal})` : '');
    super(`${result.argv.join(' ')}: ${outcome}, expected exit ${expected}\n` +
      `--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`);
    this.name = 'NotaryCliError';
    this.result = result;
  }
}

function passphraseEnv(p: Partial<NotaryPassphrases> | null | undefined): Record<string, string> {
  if (p === null) return {};
  const all = { ...DEFAULT_PASSPHRASES, ...p };
  return {
    NOTARY_ROOT_PASSPHRASE: all.root,
    NOTARY_TARGETS_PASSPHRASE: all.targets,
    NOTARY_SNAPSHOT_PASSPHRASE: all.snapshot,
    NOTARY_DELEGATION_PASSPHRASE: all.delegation,
  };
}

/** The full argv, global flags first. */
export function notaryArgv(args: readonly string[], opts: NotaryCliOptions): string[] {
  return [
    '-d', opts.trustDir,
    ...(opts.configFile !== undefined ? ['-c', opts.configFile] : []),
    ...(opts.serverUrl !== undefined ? ['-s', opts.serverUrl] : []),
    ...(opts.caFile !== undefined ? ['--tlscacert', opts.caFile] : []),
    ...args,
  ];
}

export function runNotary(args: readonly string[], opts: NotaryCliOptions): Promise<NotaryCliResult> {
  const argv = notaryArgv(args, opts);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const env = { PATH: '/usr/bin:/bin', HOME: opts.home ?? opts.trustDir, TZ: 'UTC',
    ...passphraseEnv(opts.passphrases), ...opts.env };
  return new Promise((resolve, reject) => {
    const cwd = opts.cwd ?? process.cwd();
    const child = spawn(NOTARY_CLI_BIN, argv, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const collect = (into: Buffer[]) => (c: Buffer): void => {
      size += c.length;
      if (size <= MAX_OUTPUT_BYTES) into.push(c);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.stdin.on('error', () => { /* the client may exit before reading its input */ });
    child.stdin.end(opts.input ?? '');
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${NOTARY_CLI_BIN} in ${cwd}: ${e.message}`, { cause: e }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result: NotaryCliResult = {
        argv: [NOTARY_CLI_BIN, ...argv], code, signal, timedOut,
        stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'),
      };
      if (opts.expectCode !== undefined && (timedOut || code !== opts.expectCode)) {
        reject(new NotaryCliError(result, opts.expectCode));
      } else {
        resolve(result);
      }
    });
  });
}

export interface NotaryListRow {
  readonly name: string;
  readonly sha256: string;
  readonly size: number;
  readonly role: string;
}

/** Parses `notary list` output (header, dashes, then NAME DIGEST SIZE ROLE rows). */
export function parseNotaryList(stdout: string): NotaryListRow[] {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]?.trim().split(/\s+/).join(' ');
  if (header !== 'NAME DIGEST SIZE (BYTES) ROLE') throw new Error(`unexpected notary list header:\n${stdout}`);
  return lines.slice(2).map((line) => {
    const cols = line.trim().split(/\s+/);
    if (cols.length !== 4) throw new Error(`unexpected notary list row: ${line}`);
    return { name: cols[0]!, sha256: cols[1]!, size: Number(cols[2]), role: cols[3]! };
  });
}

/**
 * Runs the Vouch CLI (test entry) in a subprocess with a scrubbed environment, like runNotary,
 * so the two clients can be compared on the same arguments.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PASSPHRASES, type NotaryCliOptions, type NotaryCliResult, NotaryCliError, notaryArgv } from '../helpers/notary-cli.ts';

const ENTRY = fileURLToPath(new URL('./cli-bin.mjs', import.meta.url));

export function runVouch(args: readonly string[], opts: NotaryCliOptions): Promise<NotaryCliResult> {
  const argv = notaryArgv(args, opts);
  const pass = opts.passphrases === null ? undefined : { ...DEFAULT_PASSPHRASES, ...opts.passphrases };
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: opts.home ?? opts.trustDir, TZ: 'UTC',
    ...(pass !== undefined ? {
      NOTARY_ROOT_PASSPHRASE: pass.root, NOTARY_TARGETS_PASSPHRASE: pass.targets,
      NOTARY_SNAPSHOT_PASSPHRASE: pass.snapshot, NOTARY_DELEGATION_PASSPHRASE: pass.delegation,
    } : {}),
    ...opts.env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ENTRY, ...argv], { cwd: opts.cwd ?? process.cwd(), env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs ?? 60_000);
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result: NotaryCliResult = {
        argv: ['vouch', ...argv], code, signal, timedOut,
        stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'),
      };
      if (opts.expectCode !== undefined && (timedOut || code !== opts.expectCode)) reject(new NotaryCliError(result, opts.expectCode));
      else resolve(result);
    });
  });
}

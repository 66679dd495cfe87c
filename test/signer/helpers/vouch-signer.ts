/**
 * `vouch signer` as a child process for interop and CLI tests, shaped like the notary peers of
 * test/helpers/notary-peers.ts so `startNotaryServer({trustService: {type: 'remote', signer}})`
 * can point the real notary-server at it.
 *
 * Contract: `startVouchSigner(opts)` writes a notary-signer JSON config into `workDir`, spawns
 * `vouch signer --config …` on 127.0.0.1 (a fresh port; retried if taken) under the managed-process
 * rules (log file, lifetime cap, killed at exit), and resolves once gRPC health reports SERVING
 * for KeyManagement and Signer over mutual TLS; an early exit or a timeout throws `PeerStartError`
 * with the log tail. `runVouchSigner(args, env)` runs a short-lived `vouch signer …` command.
 * Commands go through bin/vouch.cjs once src/cli/main.ts registers the signer commands, else
 * through a test entry point with the same wiring.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SIGNER_HEALTH_SERVICES, grpcHealthServing } from '../../helpers/grpc-health.ts';
import { DEFAULT_SIGNER_ALIAS, DEFAULT_SIGNER_PASSPHRASE, PeerStartError } from '../../helpers/notary-peers.ts';
import type { NotaryPeer } from '../../helpers/notary-peers.ts';
import { LOOPBACK, freePort } from '../../helpers/ports.ts';
import { sleep, spawnManaged } from '../../helpers/processes.ts';
import type { TestPki } from '../../helpers/tls.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const TEST_ENTRY = join(REPO_ROOT, 'test/signer/helpers/vouch-signer-cli.ts');

/** argv (after node) that runs `vouch signer <args>`. */
export function vouchSignerArgv(args: readonly string[]): string[] {
  const wired = readFileSync(join(REPO_ROOT, 'src/cli/main.ts'), 'utf8').includes('registerSignerCommands');
  return wired ? [join(REPO_ROOT, 'bin/vouch.cjs'), 'signer', ...args] : ['--import', 'tsx', TEST_ENTRY, 'signer', ...args];
}

export interface VouchSignerOptions {
  readonly pki: TestPki;
  readonly workDir: string;
  /** `storage` section: e.g. `{backend: 'postgres', db_url}`; default SQLite in the work dir. */
  readonly storage?: Readonly<Record<string, string>>;
  readonly defaultAlias?: string;
  /** Alias → passphrase as NOTARY_SIGNER_<ALIAS>; default the default alias only. */
  readonly aliasPassphrases?: Readonly<Record<string, string>>;
  readonly requireClientCert?: boolean;
  readonly logLevel?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly readyTimeoutMs?: number;
  /** Top-level config sections added to the generated ones (e.g. `vouch`). */
  readonly extraConfig?: Readonly<Record<string, unknown>>;
}

export function aliasEnv(passphrases: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(passphrases).map(([a, p]) => [`NOTARY_SIGNER_${a.toUpperCase()}`, p]));
}

export function signerConfig(opts: VouchSignerOptions, port: number): Record<string, unknown> {
  const { pki } = opts;
  return {
    server: {
      grpc_addr: `${LOOPBACK}:${port}`, tls_cert_file: pki.signer.certFile, tls_key_file: pki.signer.keyFile,
      ...(opts.requireClientCert === false ? {} : { client_ca_file: pki.caFile }),
    },
    logging: { level: opts.logLevel ?? 'info' },
    storage: { backend: 'sqlite3', db_url: join(opts.workDir, 'vouch-signer.db'), ...opts.storage,
      default_alias: opts.defaultAlias ?? DEFAULT_SIGNER_ALIAS },
    ...opts.extraConfig,
  };
}

function childEnv(opts: VouchSignerOptions): Record<string, string> {
  const alias = opts.defaultAlias ?? DEFAULT_SIGNER_ALIAS;
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: opts.workDir, TZ: 'UTC',
    ...aliasEnv(opts.aliasPassphrases ?? { [alias]: DEFAULT_SIGNER_PASSPHRASE }), ...opts.env };
}

async function probe(pki: TestPki, port: number): Promise<string | undefined> {
  for (const service of SIGNER_HEALTH_SERVICES) {
    const r = await grpcHealthServing({ host: LOOPBACK, port, caFile: pki.caFile, certFile: pki.client.certFile,
      keyFile: pki.client.keyFile, service, timeoutMs: 1_000 });
    if (!r.serving) return `${service}: ${r.lastError ?? 'not serving'}`;
  }
  return undefined;
}

export async function startVouchSigner(opts: VouchSignerOptions): Promise<NotaryPeer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const configFile = join(opts.workDir, `vouch-signer-${port}.json`);
    const logFile = join(opts.workDir, `vouch-signer-${port}.log`);
    writeFileSync(configFile, `${JSON.stringify(signerConfig(opts, port), null, 2)}\n`);
    const proc = spawnManaged(process.execPath, vouchSignerArgv(['--config', configFile]), { cwd: REPO_ROOT, env: childEnv(opts), logFile });
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
    let why = 'not probed yet';
    while (Date.now() < deadline) {
      const exit = proc.exitInfo();
      if (exit !== undefined) break;
      const r = await probe(opts.pki, port);
      if (r === undefined) {
        return { kind: 'notary-signer', url: `https://${LOOPBACK}:${port}`, host: LOOPBACK, port, caFile: opts.pki.caFile,
          configFile, logFile, process: proc, stop: () => proc.stop(), logs: () => proc.logs() };
      }
      why = r;
      await sleep(100);
    }
    await proc.stop();
    if (attempt < 3 && /EADDRINUSE|address already in use/.test(proc.logs())) continue;
    const exit = proc.exitInfo();
    throw new PeerStartError('vouch signer', logFile, exit !== undefined
      ? `exited early (code ${String(exit.code)}, signal ${String(exit.signal)})` : `not ready (last probe: ${why})`);
  }
}

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `vouch signer <args>` to completion (rekey, health, a start expected to be refused). */
export function runVouchSigner(args: readonly string[], env: Readonly<Record<string, string>>, timeoutMs = 30_000): CommandResult {
  const r = spawnSync(process.execPath, vouchSignerArgv(args), { cwd: REPO_ROOT, encoding: 'utf8', timeout: timeoutMs,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', TZ: 'UTC', ...env } });
  return { code: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

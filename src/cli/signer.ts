/**
 * `vouch signer` commands: serve notary-signer's gRPC API (`vouch signer --config FILE`),
 * re-encrypt every stored key under one alias (`vouch signer rekey --to ALIAS`), and print the
 * health report (`vouch signer health`). Configuration is notary-signer's JSON file plus
 * `NOTARY_SIGNER_*` variables; passphrases come only from the environment, never from argv.
 *
 * Exit codes: 0 success (and, for `health`, healthy); 1 a refused start or a failed command,
 * with one `vouch signer: …` line on stderr; `health` exits 1 when unhealthy.
 */
import type { Command } from '@commander-js/extra-typings';

import { readSignerConfig } from '../signer/config.ts';
import type { SignerConfig } from '../signer/config.ts';
import { openSignerStore, startSigner } from '../signer/daemon.ts';
import { createLog } from '../signer/log.ts';
import { rekeyAll, signerHealthReport } from '../signer/maintenance.ts';
import type { SignerHealthReport } from '../signer/maintenance.ts';

function loadConfig(file: string | undefined): SignerConfig {
  if (file === undefined) throw new Error('--config FILE is required (a notary-signer JSON configuration)');
  return readSignerConfig(file, process.env);
}

function reportFailure(e: unknown): void {
  process.stderr.write(`vouch signer: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}

async function serve(opts: { config?: string; debug?: true }): Promise<void> {
  const config = loadConfig(opts.config);
  const log = createLog(opts.debug === true ? 'debug' : config.logLevel, (line) => process.stderr.write(line));
  const running = await startSigner(config, process.env, log);
  process.stdout.write(`vouch signer listening on port ${running.port}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      log.info('shutting down', { signal });
      void running.close().finally(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

function formatReport(r: SignerHealthReport): string {
  const lines = [
    `status: ${r.healthy ? 'healthy' : 'UNHEALTHY'}`,
    `database: ${r.database.ok ? 'ok' : `FAILED (${r.database.error ?? 'unknown error'})`} — ${r.database.description}`,
    `default alias: ${r.defaultAlias}`,
    `active keys: ${r.activeKeys}`,
  ];
  for (const a of r.aliases) {
    const state = !a.passphraseSet ? 'passphrase NOT SET' : a.decryptable === undefined ? 'passphrase set' : a.decryptable ? 'decrypts' : 'DOES NOT DECRYPT';
    lines.push(`alias ${a.alias}: ${a.keys} key(s), ${state}${a.error !== undefined ? ` (${a.error})` : ''}`);
  }
  if (r.undecryptableKeyIds.length > 0) lines.push(`undecryptable keys: ${r.undecryptableKeyIds.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

async function health(opts: { config?: string; all?: true; json?: true }): Promise<void> {
  const s = await openSignerStore(loadConfig(opts.config), process.env);
  try {
    const r = await signerHealthReport(s.store, s.passphrases, s.defaultAlias, { checkAllKeys: opts.all === true });
    process.stdout.write(opts.json === true ? `${JSON.stringify(r, null, 2)}\n` : formatReport(r));
    if (!r.healthy) process.exitCode = 1;
  } finally {
    await s.close();
  }
}

async function rekey(opts: { config?: string; to: string }): Promise<void> {
  const s = await openSignerStore(loadConfig(opts.config), process.env);
  try {
    const r = await rekeyAll(s.store, s.passphrases, opts.to, new Date());
    const from = r.fromAliases.length > 0 ? ` (from ${r.fromAliases.join(', ')})` : '';
    process.stdout.write(`re-encrypted ${r.rekeyed} key(s) under alias ${r.toAlias}${from}\n`);
    if (s.defaultAlias !== r.toAlias) {
      process.stdout.write(`new keys still use alias ${s.defaultAlias}: set storage.default_alias to ${r.toAlias}\n`);
    }
  } finally {
    await s.close();
  }
}

export function registerSignerCommands(program: Command): void {
  const signer = program
    .command('signer')
    .description('run the signing service (notary-signer gRPC API, mutual TLS, keys encrypted at rest)')
    .option('-c, --config <file>', 'notary-signer JSON configuration file')
    .option('--debug', 'log at debug level')
    .action((opts) => serve(opts).catch(reportFailure));
  signer
    .command('rekey')
    .description('re-encrypt every stored key under passphrase alias ALIAS, in one transaction')
    .requiredOption('--to <alias>', 'target passphrase alias (its passphrase is read from NOTARY_SIGNER_<ALIAS>)')
    // Repeated here because `vouch` parses options positionally: `signer rekey -c FILE` must work too.
    .option('-c, --config <file>', 'notary-signer JSON configuration file')
    .action((opts, cmd) => rekey({ ...(cmd.optsWithGlobals() as { config?: string }), ...opts }).catch(reportFailure));
  signer
    .command('health')
    .description('check the key database and that every alias passphrase decrypts its keys')
    .option('--all', 'decrypt every key, not one per alias')
    .option('--json', 'print the report as JSON')
    .option('-c, --config <file>', 'notary-signer JSON configuration file')
    .action((opts, cmd) => health({ ...(cmd.optsWithGlobals() as { config?: string }), ...opts }).catch(reportFailure));
}

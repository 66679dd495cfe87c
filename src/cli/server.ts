/**
 * `vouch server`: the trust server (notary-server's HTTP API).
 *
 * With `--config FILE` it runs from notary-server's JSON configuration (plus `NOTARY_SERVER_*`
 * overrides); without one it runs the embedded default — SQLite and the signer in a data
 * directory, TLS from a CA generated on first start, 127.0.0.1:4443 — and prints where the CA
 * file is and how to point vouch, notary and docker at it.
 *
 * Exit codes: 0 after a clean shutdown on SIGINT/SIGTERM; 1 when the server cannot start, with one
 * `vouch server: …` line on stderr and nothing left listening.
 */
import { readFileSync } from 'node:fs';
import type { Command } from '@commander-js/extra-typings';

import { startFromConfig } from '../server/bootstrap.ts';
import { parseServerConfig, type ServerConfig } from '../server/config.ts';
import { defaultDataDir, embeddedBanner, prepareEmbedded, type Embedded } from '../server/embedded.ts';

interface ServerOptions {
  config?: string;
  dataDir?: string;
  listen?: string;
  htpasswd?: string;
  insecureNoAuth?: true;
  passphraseFile?: string;
  debug?: true;
}

function loadConfig(file: string): ServerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read configuration ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return parseServerConfig(text, file, process.env);
}

async function serve(opts: ServerOptions): Promise<void> {
  let embedded: Embedded | undefined;
  let config: ServerConfig;
  if (opts.config !== undefined) {
    config = loadConfig(opts.config);
  } else {
    embedded = prepareEmbedded({
      dataDir: opts.dataDir ?? defaultDataDir(process.env), env: process.env,
      ...(opts.listen !== undefined ? { listen: opts.listen } : {}),
      ...(opts.htpasswd !== undefined ? { htpasswd: opts.htpasswd } : {}),
      ...(opts.insecureNoAuth === true ? { insecureNoAuth: true } : {}),
      ...(opts.passphraseFile !== undefined ? { passphraseFile: opts.passphraseFile } : {}),
    });
    config = embedded.config;
  }
  if (opts.debug === true) config = { ...config, logLevel: 'debug' };
  const running = await startFromConfig(config, { env: process.env });
  // The handlers go in before the banner: a supervisor may signal as soon as it reads it.
  const stopped = new Promise<void>((resolve) => {
    const stop = (): void => {
      process.stdout.write('vouch server: shutting down\n');
      void running.close().finally(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stdout.write(embedded !== undefined ? embeddedBanner(embedded, running.url) : `vouch server: listening on ${running.url}\n`);
  await stopped;
}

export function registerServerCommands(program: Command): void {
  program
    .command('server')
    .description('run the trust server (notary-server API); with no --config: the embedded default on 127.0.0.1:4443')
    .option('-c, --config <file>', 'notary-server JSON configuration file (NOTARY_SERVER_* variables override its values)')
    .option('--data-dir <dir>', 'data directory of the embedded default (default $VOUCH_SERVER_DATA_DIR or ~/.vouch/server)')
    .option('--listen <addr>', 'listen address of the embedded default (default 127.0.0.1:4443)')
    .option('--htpasswd <file>', 'embedded default: HTTP basic auth for users of this htpasswd file (bcrypt: htpasswd -B)')
    .option('--insecure-no-auth', 'embedded default: allow a non-loopback --listen without auth')
    .option('--passphrase-file <file>', 'embedded default: the signer key passphrase file, outside the data directory (default $VOUCH_SERVER_PASSPHRASE_FILE or ~/.config/vouch/server-signer-passphrase)')
    .option('--debug', 'log at debug level')
    .addHelpText('after', '\nExample:\n  htpasswd -cB ~/.vouch/htpasswd alice\n  vouch server --listen 0.0.0.0:4443 --htpasswd ~/.vouch/htpasswd\n')
    .action((opts) =>
      serve(opts).catch((e: unknown) => {
        process.stderr.write(`vouch server: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
      }));
}

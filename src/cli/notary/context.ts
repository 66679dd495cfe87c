/**
 * What every notary-style command shares: notary's global flags (`-s`, `-d`, `-c`, `--tlscacert`,
 * `--tlscert`, `--tlskey`, `-v`, `-D`), the config (notary's `config.json`; the trust-dir default of
 * src/cli/config.ts, server `https://notary-server:4443`), logging on stderr (warn by default, `-v` info, `-D` debug),
 * the key store with NOTARY_*_PASSPHRASE / prompt passphrases, server credentials (NOTARY_AUTH,
 * docker's config.json, then a prompt) and the `* fatal: <message>` error style (exit 1).
 */
import { readFileSync } from 'node:fs';
import { loadPkcs11Section, pkcs11FlagsOf, resolvePkcs11Settings, terminalPinSource, tokenFirstKeys } from '../pkcs11.ts';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { TokenAuthenticator } from '../../client/auth.ts';
import { dockerConfigSource, notaryAuthSource, promptSource } from '../../client/credentials.ts';
import type { Logger } from '../../client/log.ts';
import { RemoteStore } from '../../client/remote.ts';
import { Repository } from '../../client/repository.ts';
import { HttpTransport } from '../../client/transport.ts';
import { KeyFileStore } from '../../keystore/file-store.ts';
import type { TrustPinning } from '../../tuf/root-trust.ts';
import { checkTlsClientPair, ConfigError, loadClientConfig, type ClientConfig, type RemoteServerConfig } from '../config.ts';
import { cliPassphraseRetriever, sharedLineReader } from '../passphrase.ts';
import { agentKeyCache } from '../../agent/worker.ts';

export interface GlobalFlags {
  readonly server?: string;
  readonly trustDir?: string;
  readonly configFile?: string;
  readonly tlscacert?: string;
  readonly tlscert?: string;
  readonly tlskey?: string;
  readonly verbose?: boolean;
  readonly debug?: boolean;
}

/** Adds notary's global flags to `cmd` (the program, and every repository command). */
export function withGlobalFlags<C extends CommandUnknownOpts>(cmd: C): C {
  cmd.option('-s, --server <url>', 'Remote trust server location');
  cmd.option('-d, --trustDir <dir>', 'Directory where the trust data is persisted to');
  cmd.option('-c, --configFile <file>', 'Path to the configuration file to use');
  cmd.option('--tlscacert <file>', 'Trust certs signed only by this CA');
  cmd.option('--tlscert <file>', 'Path to TLS certificate file');
  cmd.option('--tlskey <file>', 'Path to TLS key file');
  cmd.option('-v, --verbose', 'Verbose output');
  cmd.option('-D, --debug', 'Debug output');
  return cmd;
}

const LEVELS = { debug: 0, info: 1, warning: 2, error: 3 } as const;

/** logrus's text format on stderr (`time="…" level=warning msg="…"`), filtered by level. */
export function stderrLogger(flags: GlobalFlags): Logger {
  const min = flags.debug === true ? 0 : flags.verbose === true ? 1 : 2;
  const at = (level: keyof typeof LEVELS) => (message: string) => {
    if (LEVELS[level] < min) return;
    process.stderr.write(`time="${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}" level=${level} msg=${JSON.stringify(message)}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warning'), error: at('error') };
}

export function flagsOf(cmd: CommandUnknownOpts): GlobalFlags {
  const o = cmd.optsWithGlobals();
  const str = (k: string): string | undefined => {
    const v = o[k];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const flags: Record<string, string | boolean> = {};
  for (const k of ['server', 'trustDir', 'configFile', 'tlscacert', 'tlscert', 'tlskey']) {
    const v = str(k);
    if (v !== undefined) flags[k] = v;
  }
  if (o['verbose'] === true) flags['verbose'] = true;
  if (o['debug'] === true) flags['debug'] = true;
  return flags;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`could not read ${what} ${path}: ${(e as { code?: string }).code ?? String(e)}`, { cause: e });
  }
}

export function pinningOf(config: ClientConfig): TrustPinning | undefined {
  const p = config.trustPinning;
  const ca = Object.fromEntries(Object.entries(p.ca).map(([gun, file]) => [gun, readText(file, `trust_pinning.ca for ${gun}`)]));
  if (Object.keys(p.certs).length === 0 && Object.keys(ca).length === 0 && !p.disableTofu) return undefined;
  return { certs: p.certs, ca, disableTofu: p.disableTofu };
}

export interface RepoHandle {
  readonly repo: Repository;
  readonly config: ClientConfig;
  readonly store: KeyFileStore;
  readonly log: Logger;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Whether the command talks to the server (reads, publish); offline commands only stage. */
  readonly online: boolean;
}

function dockerConfigFile(): string {
  const dir = process.env['DOCKER_CONFIG'];
  return join(dir !== undefined && dir !== '' ? dir : join(homedir(), '.docker'), 'config.json');
}

function askCredentials(host: string): Promise<{ username: string; password: string } | undefined> {
  if (process.stdin.isTTY !== true) return Promise.resolve(undefined);
  const reader = sharedLineReader();
  return (async () => {
    const username = await reader.question(`Enter username for ${host}: `);
    if (username === null || username.trim() === '') return undefined;
    const password = await reader.question('Enter password: ', { echo: false });
    process.stderr.write('\n');
    return { username, password: password ?? '' };
  })();
}

/** HTTPS to a trust server for `gun`, with notary's credential sources (NOTARY_AUTH, docker's config, a prompt). */
export function serverTransport(gun: string, rs: RemoteServerConfig, log: Logger): HttpTransport {
  checkTlsClientPair(rs);
  const auth = new TokenAuthenticator({
    gun,
    credentials: [notaryAuthSource(process.env['NOTARY_AUTH'], log), dockerConfigSource(dockerConfigFile(), log), promptSource(askCredentials)],
  });
  return new HttpTransport({
    baseUrl: rs.url as string,
    authenticator: auth,
    userAgent: 'vouch (notary-compatible)',
    tls: {
      ...(rs.rootCa !== undefined ? { ca: readText(rs.rootCa, 'root CA file') } : {}),
      ...(rs.tlsClientCert !== undefined ? { cert: readText(rs.tlsClientCert, 'TLS client certificate') } : {}),
      ...(rs.tlsClientKey !== undefined ? { key: readText(rs.tlsClientKey, 'TLS client key') } : {}),
      insecureSkipVerify: rs.skipTlsVerify,
    },
  });
}

/** Loads the config and opens the repository `gun` the way notary's commands do. */
export function openRepository(cmd: CommandUnknownOpts, gun: string, opts: OpenOptions): RepoHandle {
  const flags = flagsOf(cmd);
  const log = stderrLogger(flags);
  const config = loadClientConfig({
    defaults: 'notary', trustDir: flags.trustDir, configFile: flags.configFile, server: flags.server,
    tlsCaCert: flags.tlscacert, tlsCert: flags.tlscert, tlsKey: flags.tlskey,
  });
  log.debug(`Using the following trust directory: ${config.trustDir}`);
  const store = KeyFileStore.open(config.trustDir, { retriever: cliPassphraseRetriever({ mode: 'notary' }), unlockedKeys: agentKeyCache() });
  for (const m of store.migration.migrated) log.info(`migrated legacy key file ${m.from} to ${store.keyPath(m.keyId)}`);
  const transport = opts.online && config.remoteServer.url !== undefined ? serverTransport(gun, config.remoteServer, log) : undefined;
  const pinning = pinningOf(config);
  const repo = new Repository({
    gun, trustDir: config.trustDir, log,
    // Hardware tokens first (PKCS#11: flag, VOUCH_PKCS11_* or the config's pkcs11 section), then files.
    keys: tokenFirstKeys(store, resolvePkcs11Settings({ flags: pkcs11FlagsOf(cmd), env: process.env, config: loadPkcs11Section(config.configFile) }), {
      ...(process.stdin.isTTY ? { pinSource: terminalPinSource(sharedLineReader(), process.stderr) } : {}),
      notify: (m) => process.stdout.write(m + '\n'), // notary prints the touch line on stdout
    }),
    ...(transport !== undefined ? { remote: new RemoteStore(transport, gun) } : {}),
    ...(pinning !== undefined ? { pinning } : {}),
  });
  return { repo, config, store, log, close: async () => { await transport?.close(); } };
}

export { action } from '../action.ts';

export function out(text: string): void {
  process.stdout.write(text);
}

/** Usage errors: notary prints the usage, then the message as a fatal error. */
export class UsageError extends Error {}

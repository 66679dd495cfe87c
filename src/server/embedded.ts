/**
 * The embedded default of `vouch server` with no `--config` (README command (1)): SQLite in a
 * data directory, Vouch's signer in-process with its keys in a second SQLite file encrypted under
 * a passphrase generated on first start, and TLS from a private CA generated on first start, on
 * 127.0.0.1:4443.
 *
 * Contract: `prepareEmbedded` creates what is missing (directory 0700, key material and database
 * files 0600), keeps what exists (the CA across restarts, so clients keep trusting it; the leaf is
 * re-issued when it nears expiry), and returns the config plus the text telling the operator where
 * the CA file is and how to point vouch, notary and docker at the server.
 *
 * Two rules keep a reachable embedded server from being an open one (docs/security.md):
 * - a listen address beyond loopback needs `htpasswd` (HTTP basic auth) or an explicit
 *   `insecureNoAuth`, else `ServerConfigError`; the banner always says whether auth is on;
 * - the signer's passphrase is never kept in the data directory, so a copy of that directory
 *   (a backup, a volume snapshot) does not hold both the encrypted keys and what decrypts them.
 *   It comes from `$NOTARY_SIGNER_VOUCH`, else a file the operator names, else
 *   `$VOUCH_SERVER_PASSPHRASE_FILE`, else `~/.config/vouch/server-signer-passphrase` (generated on
 *   first start, 0600). A passphrase file left in the data directory by an earlier version is
 *   moved there; a named file inside the data directory is refused.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { parseHttpAddr, ServerConfigError, type ServerConfig } from './config.ts';
import { createServerPki, needsRenewal } from './tls-pki.ts';

export const DEFAULT_LISTEN = '127.0.0.1:4443';

/** `$VOUCH_SERVER_DATA_DIR`, else `~/.vouch/server`. */
export function defaultDataDir(env: Readonly<Record<string, string | undefined>>): string {
  return resolve(env['VOUCH_SERVER_DATA_DIR'] ?? join(homedir(), '.vouch', 'server'));
}

function writeSecret(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

type Env = Readonly<Record<string, string | undefined>>;

/** `$VOUCH_SERVER_PASSPHRASE_FILE`, else `$XDG_CONFIG_HOME/vouch/server-signer-passphrase` (`~/.config` by default). */
export function defaultPassphraseFile(env: Env): string {
  const named = env['VOUCH_SERVER_PASSPHRASE_FILE'];
  if (named !== undefined && named !== '') return resolve(named);
  const config = env['XDG_CONFIG_HOME'] !== undefined && env['XDG_CONFIG_HOME'] !== '' ? env['XDG_CONFIG_HOME'] : join(env['HOME'] ?? homedir(), '.config');
  return resolve(config, 'vouch', 'server-signer-passphrase');
}

/** 127.0.0.0/8, ::1 and localhost: the addresses only this machine reaches. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function inside(dir: string, file: string): boolean {
  const rel = relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

export interface EmbeddedOptions {
  readonly dataDir: string;
  readonly listen?: string;
  readonly now?: Date;
  /** An htpasswd file of bcrypt hashes: turns HTTP basic auth on. */
  readonly htpasswd?: string;
  /** The operator's explicit choice to serve beyond loopback without auth. */
  readonly insecureNoAuth?: boolean;
  /** Where the signer's passphrase is kept (default: `defaultPassphraseFile`). */
  readonly passphraseFile?: string;
  readonly env?: Env;
}

export interface Embedded {
  readonly config: ServerConfig;
  /** Where the signer's passphrase comes from, for the banner. */
  readonly passphraseSource: string;
  /** True when a passphrase file was moved out of the data directory by this call. */
  readonly movedPassphrase: boolean;
  readonly dataDir: string;
  readonly caFile: string;
  /** True when the CA was created by this call (first start). */
  readonly createdCa: boolean;
}

export function prepareEmbedded(opts: EmbeddedOptions): Embedded {
  const dataDir = resolve(opts.dataDir);
  const env = opts.env ?? process.env;
  const now = opts.now ?? new Date();
  const httpAddr = parseHttpAddr(opts.listen ?? DEFAULT_LISTEN);
  if (!isLoopback(httpAddr.host) && opts.htpasswd === undefined && opts.insecureNoAuth !== true) {
    throw new ServerConfigError(`refusing to listen on ${opts.listen ?? DEFAULT_LISTEN} without auth: anyone who reaches it could delete and re-create collections. `
      + 'Pass --htpasswd FILE (users made with htpasswd -B), or --insecure-no-auth if the network in front of the server authenticates');
  }
  const passphraseFile = resolve(opts.passphraseFile ?? defaultPassphraseFile(env));
  if (inside(dataDir, passphraseFile)) {
    throw new ServerConfigError(`the signer passphrase file ${passphraseFile} is inside the data directory ${dataDir}: keep it elsewhere, so a copy of the data directory does not hold both the keys and their passphrase`);
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const tlsDir = join(dataDir, 'tls');
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  const f = { ca: join(tlsDir, 'ca.crt'), caKey: join(tlsDir, 'ca.key'), cert: join(tlsDir, 'server.crt'), key: join(tlsDir, 'server.key') };
  const names = [...new Set(['localhost', '127.0.0.1', '::1', ...(httpAddr.host === '0.0.0.0' || httpAddr.host === '::' ? [] : [httpAddr.host])])];
  const haveCa = existsSync(f.ca) && existsSync(f.caKey);
  if (!haveCa || !existsSync(f.cert) || !existsSync(f.key) || needsRenewal(readFileSync(f.cert, 'utf8'), readFileSync(f.ca, 'utf8'), now)) {
    const pki = haveCa ? createServerPki(now, names, readFileSync(f.caKey, 'utf8'), readFileSync(f.ca, 'utf8')) : createServerPki(now, names);
    if (!haveCa) {
      writeSecret(f.caKey, pki.caKeyPem);
      writeFileSync(f.ca, pki.caCertPem, { mode: 0o644 });
    }
    writeSecret(f.key, pki.keyPem);
    writeFileSync(f.cert, pki.certPem, { mode: 0o644 });
  }
  const fromEnv = env['NOTARY_SIGNER_VOUCH'];
  const legacy = join(dataDir, 'signer-passphrase');
  let movedPassphrase = false;
  if (fromEnv === undefined || fromEnv === '') {
    mkdirSync(dirname(passphraseFile), { recursive: true, mode: 0o700 });
    if (existsSync(legacy) && !existsSync(passphraseFile)) {
      writeSecret(passphraseFile, readFileSync(legacy, 'utf8'));
      unlinkSync(legacy);
      movedPassphrase = true;
    }
    if (!existsSync(passphraseFile)) writeSecret(passphraseFile, `${randomBytes(32).toString('base64url')}\n`);
  }
  const config: ServerConfig = {
    httpAddr,
    tls: { certFile: f.cert, keyFile: f.key },
    trustService: {
      type: 'local', keyAlgorithm: 'ecdsa', defaultAlias: 'vouch', passphraseFile,
      storage: { backend: 'sqlite3', dbUrl: join(dataDir, 'signer.db') },
    },
    storage: { backend: 'sqlite3', dbUrl: join(dataDir, 'server.db') },
    ...(opts.htpasswd !== undefined ? { basicAuth: { htpasswdFile: resolve(opts.htpasswd) } } : {}),
    cacheControl: { currentMaxAge: 300, consistentMaxAge: 2_592_000 },
    gunPrefixes: [],
    logLevel: 'warn',
  };
  const passphraseSource = fromEnv !== undefined && fromEnv !== '' ? '$NOTARY_SIGNER_VOUCH' : passphraseFile;
  return { config, dataDir, caFile: f.ca, createdCa: !haveCa, passphraseSource, movedPassphrase };
}

/** What the operator needs to point clients at the server. */
export function embeddedBanner(e: Embedded, url: string): string {
  const hostPort = url.replace(/^https:\/\//, '');
  return [
    `vouch server: listening on ${url}`,
    `  metadata: SQLite ${e.config.storage.backend === 'sqlite3' ? e.config.storage.dbUrl : ''}`,
    `  signer:   in-process, keys encrypted in ${join(e.dataDir, 'signer.db')}`,
    `  passphrase of the signer keys: ${e.passphraseSource}${e.movedPassphrase ? ` (moved out of ${e.dataDir} now)` : ''}`,
    e.config.basicAuth !== undefined
      ? `  auth:     on (HTTP basic, users in ${e.config.basicAuth.htpasswdFile})`
      : '  auth:     OFF (anyone who reaches the port may publish and delete)',
    `  TLS:      certificate issued by a CA generated for this server${e.createdCa ? ' (created now)' : ''}:`,
    `            ${e.caFile}`,
    '',
    'Point clients at it:',
    `  vouch:   vouch -s ${url} --tlscacert ${e.caFile} <command>`,
    `  notary:  notary -s ${url} --tlscacert ${e.caFile} <command>`,
    `  docker:  mkdir -p ~/.docker/tls/${hostPort} && cp ${e.caFile} ~/.docker/tls/${hostPort}/ca.crt`,
    `           export DOCKER_CONTENT_TRUST_SERVER=${url}`,
    '',
  ].join('\n');
}

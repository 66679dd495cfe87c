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
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseHttpAddr, type ServerConfig } from './config.ts';
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

export interface Embedded {
  readonly config: ServerConfig;
  readonly dataDir: string;
  readonly caFile: string;
  /** True when the CA was created by this call (first start). */
  readonly createdCa: boolean;
}

export function prepareEmbedded(opts: { dataDir: string; listen?: string; now?: Date }): Embedded {
  const dataDir = resolve(opts.dataDir);
  const now = opts.now ?? new Date();
  const httpAddr = parseHttpAddr(opts.listen ?? DEFAULT_LISTEN);
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
  const passphraseFile = join(dataDir, 'signer-passphrase');
  if (!existsSync(passphraseFile)) writeSecret(passphraseFile, `${randomBytes(32).toString('base64url')}\n`);
  const config: ServerConfig = {
    httpAddr,
    tls: { certFile: f.cert, keyFile: f.key },
    trustService: {
      type: 'local', keyAlgorithm: 'ecdsa', defaultAlias: 'vouch', passphraseFile,
      storage: { backend: 'sqlite3', dbUrl: join(dataDir, 'signer.db') },
    },
    storage: { backend: 'sqlite3', dbUrl: join(dataDir, 'server.db') },
    cacheControl: { currentMaxAge: 300, consistentMaxAge: 2_592_000 },
    gunPrefixes: [],
    logLevel: 'warn',
  };
  return { config, dataDir, caFile: f.ca, createdCa: !haveCa };
}

/** What the operator needs to point clients at the server. */
export function embeddedBanner(e: Embedded, url: string): string {
  const hostPort = url.replace(/^https:\/\//, '');
  return [
    `vouch server: listening on ${url}`,
    `  metadata: SQLite ${e.config.storage.backend === 'sqlite3' ? e.config.storage.dbUrl : ''}`,
    `  signer:   in-process, keys encrypted in ${join(e.dataDir, 'signer.db')}`,
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

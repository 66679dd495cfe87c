/**
 * `vouch server` started in this test process on a free loopback port with a throwaway TLS PKI,
 * shaped like the notary harness so the shared interop scenarios (buildNotaryCollection, runNotary)
 * drive it unchanged.
 *
 * Contract: `startVouchHarness(opts)` makes a work dir and PKI, opens the store (memory by
 * default), starts the server with an in-memory signer unless one is given, and returns the
 * handles; `stop()` closes the server and removes the work dir (kept with VOUCH_KEEP_TEST_DIRS=1).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';

import type { SigningBackend } from '../../src/server/signing.ts';
import { openMemorySigningService } from '../../src/signer/embedded.ts';
import { startTrustServer, type RunningTrustServer, type TrustServerOptions } from '../../src/server/server.ts';
import { MemoryMetaStore, type MetaStore } from '../../src/server/store.ts';
import type { NotaryHarness } from '../helpers/notary-harness.ts';
import { runNotary, type NotaryCliOptions, type NotaryCliResult } from '../helpers/notary-cli.ts';
import { generateTestPki, type TestPki } from '../helpers/tls.ts';

export interface VouchHarnessOptions extends Partial<Omit<TrustServerOptions, 'store'>> {
  readonly store?: MetaStore;
  /** Starts the server another way (e.g. from a notary-server config) with the harness's PKI. */
  readonly start?: (pki: TestPki, workDir: string, logger: Logger) => Promise<RunningTrustServer>;
  /** Log level of the server's pino logger (default `silent`, VOUCH_TEST_LOG overrides). */
  readonly logLevel?: string;
}

export interface VouchHarness extends Pick<NotaryHarness, 'workDir' | 'pki' | 'url' | 'caFile' | 'newDir' | 'logs' | 'stop'> {
  readonly server: RunningTrustServer;
  readonly store: MetaStore;
  /** The in-memory signer the harness made, if it made one. */
  readonly signer: SigningBackend | undefined;
  /** Runs the real notary client against this server with a fresh or given trust dir. */
  notary(args: readonly string[], extra?: Partial<NotaryCliOptions> & { trustDir?: string }): Promise<NotaryCliResult>;
}

export async function startVouchHarness(opts: VouchHarnessOptions = {}): Promise<VouchHarness> {
  const workDir = mkdtempSync(join(tmpdir(), 'vouch-server-'));
  const pki: TestPki = generateTestPki(join(workDir, 'pki'));
  const store = opts.store ?? new MemoryMetaStore();
  const signer = 'signer' in opts ? opts.signer : openMemorySigningService();
  const logLines: string[] = [];
  const logger = pino({ level: process.env['VOUCH_TEST_LOG'] ?? opts.logLevel ?? 'silent' }, {
    write: (line: string) => {
      logLines.push(line);
      if (logLines.length > 500) logLines.shift();
    },
  });
  const server = opts.start !== undefined ? await opts.start(pki, workDir, logger) : await startTrustServer({
    ...opts, store, logger, port: 0, host: '127.0.0.1',
    ...(signer !== undefined ? { signer } : {}),
    tls: opts.tls ?? { cert: readFileSync(pki.server.certFile), key: readFileSync(pki.server.keyFile) },
  });
  let n = 0;
  const defaultTrust = join(workDir, 'trust');
  mkdirSync(defaultTrust, { mode: 0o700 });
  return {
    workDir, pki, url: server.url, caFile: pki.caFile, server, store: server.service.store, signer: opts.start !== undefined ? undefined : signer,
    newDir: (name) => mkdtempSync(join(workDir, `${name.replace(/[^A-Za-z0-9_-]/g, '_')}-${n++}-`)),
    logs: () => logLines.join(''),
    notary: (args, extra = {}) => runNotary(args, { trustDir: defaultTrust, serverUrl: server.url, caFile: pki.caFile, ...extra }),
    stop: async () => {
      await server.close();
      if (process.env['VOUCH_KEEP_TEST_DIRS'] !== '1') rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** The harness as the shared scenarios expect it (they use url, caFile and newDir only). */
export function asNotaryHarness(h: VouchHarness): NotaryHarness {
  return h as unknown as NotaryHarness;
}

/**
 * One-call setup of a real notary service (signer + server) for an interop test.
 *
 * Contract: `startNotaryHarness(opts)` makes a temp work dir, a fresh PKI, starts notary-signer
 * (unless `trustService: 'local'`) and notary-server with the chosen storage, and returns the
 * handles. `stop()` stops the server before the signer, drops databases and removes the work dir
 * (kept when VOUCH_KEEP_TEST_DIRS=1, for reading logs); a harness never stopped is cleaned up the
 * same way when the process exits. `notaryPeersUnavailableReason()` names
 * the missing binary so tests can skip with a clear message.
 */
import { after, before } from 'node:test';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { NOTARY_CLI_BIN } from './notary-cli.ts';
import { NOTARY_SERVER_BIN, NOTARY_SIGNER_BIN, startNotaryServer, startNotarySigner } from './notary-peers.ts';
import type { NotaryPeer, PeerStorage } from './notary-peers.ts';
import { logTail } from './processes.ts';
import { OPENSSL, generateTestPki } from './tls.ts';
import type { TestPki } from './tls.ts';

export interface NotaryHarnessOptions {
  /** Storage for both peers (default `memory`). */
  readonly storage?: PeerStorage;
  /** `remote` (default): server → notary-signer over mTLS gRPC; `local`: in-process ed25519. */
  readonly trustService?: 'remote' | 'local';
  readonly serverExtraConfig?: Readonly<Record<string, unknown>>;
  readonly signerAliasPassphrases?: Readonly<Record<string, string>>;
}

export interface NotaryHarness {
  readonly workDir: string;
  readonly pki: TestPki;
  /** notary-server's base URL, `https://127.0.0.1:<port>`. */
  readonly url: string;
  readonly caFile: string;
  readonly server: NotaryPeer;
  readonly signer?: NotaryPeer;
  /** A fresh directory under the work dir, e.g. for a client trust dir. */
  newDir(name: string): string;
  /** Log tails of both peers, to append to assertion messages. */
  logs(): string;
  stop(): Promise<void>;
}

/** Why the real notary peers cannot run here, or undefined when they can. */
export function notaryPeersUnavailableReason(): string | undefined {
  for (const bin of [NOTARY_SERVER_BIN, NOTARY_SIGNER_BIN, NOTARY_CLI_BIN, OPENSSL, '/usr/bin/timeout']) {
    if (!existsSync(bin)) return `${bin} is missing (apt-get install -y notary openssl coreutils)`;
  }
  return undefined;
}

const workDirsToRemove = new Set<string>();
let exitHookInstalled = false;

function removeWorkDir(dir: string): void {
  workDirsToRemove.delete(dir);
  if (process.env['VOUCH_KEEP_TEST_DIRS'] !== '1') rmSync(dir, { recursive: true, force: true });
}

function registerWorkDir(dir: string): void {
  workDirsToRemove.add(dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => { for (const d of [...workDirsToRemove]) removeWorkDir(d); });
}

export async function startNotaryHarness(opts: NotaryHarnessOptions = {}): Promise<NotaryHarness> {
  const workDir = mkdtempSync(join(tmpdir(), 'vouch-notary-'));
  const pki = generateTestPki(join(workDir, 'pki'));
  const storage = opts.storage ?? 'memory';
  let signer: NotaryPeer | undefined;
  let server: NotaryPeer;
  try {
    if (opts.trustService !== 'local') {
      signer = await startNotarySigner({ pki, workDir, storage,
        ...(opts.signerAliasPassphrases !== undefined ? { aliasPassphrases: opts.signerAliasPassphrases } : {}) });
    }
    server = await startNotaryServer({
      pki, workDir, storage,
      trustService: signer === undefined ? { type: 'local' } : { type: 'remote', signer },
      ...(opts.serverExtraConfig !== undefined ? { extraConfig: opts.serverExtraConfig } : {}),
    });
  } catch (e) {
    // The work dir stays: the error names the log file inside it.
    await signer?.stop();
    throw e;
  }
  registerWorkDir(workDir);
  let dirCount = 0;
  return {
    workDir, pki, url: server.url, caFile: pki.caFile, server,
    ...(signer !== undefined ? { signer } : {}),
    newDir: (name) => mkdtempSync(join(workDir, `${name.replace(/[^A-Za-z0-9_-]/g, '_')}-${dirCount++}-`)),
    logs: () => [server, signer].filter((p) => p !== undefined)
      .map((p) => `--- ${p.kind} (${p.logFile}) ---\n${logTail(p.logFile, 3_000)}`).join('\n'),
    stop: async () => {
      await server.stop();
      await signer?.stop();
      removeWorkDir(workDir);
    },
  };
}

export interface FileHarness {
  /** Why the notary peers cannot run here (pass as `test(…, { skip })`), or undefined. */
  readonly skip: string | undefined;
  /** The harness of this test file; only read it inside tests that are not skipped. */
  readonly harness: NotaryHarness;
}

/**
 * One notary harness for the calling test file: started before its tests (unless the peers are
 * missing) and stopped after them, `beforeStop` first (e.g. closing clients).
 */
export function notaryHarnessForFile(beforeStop?: () => void | Promise<void>): FileHarness {
  const skip = notaryPeersUnavailableReason();
  let harness: NotaryHarness | undefined;
  before(async () => {
    if (skip === undefined) harness = await startNotaryHarness();
  });
  after(async () => {
    await beforeStop?.();
    await harness?.stop();
  });
  return {
    skip,
    get harness(): NotaryHarness {
      if (harness === undefined) throw new Error('the notary harness is not running (skipped, or read outside a test)');
      return harness;
    },
  };
}

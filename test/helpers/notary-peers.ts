/**
 * The real Debian notary-signer / notary-server 0.7.0, started on loopback for interop tests.
 *
 * Contract: `startNotarySigner` / `startNotaryServer` write a JSON config into `workDir`, spawn
 * the binary listening on 127.0.0.1 only (a fresh free port), and resolve once it is ready:
 * the signer when gRPC health reports SERVING for KeyManagement and Signer over mutual TLS, the
 * server when `GET /_notary_server/health` answers 200 with the test CA. Storage is `memory` by
 * default or a fresh PostgreSQL database (dropped on `stop()`). Failures throw `PeerStartError`
 * naming the log file and quoting its tail. The environment handed to the peers is built from
 * scratch, because both read `NOTARY_SERVER_*` / `NOTARY_SIGNER_*` variables as config overrides.
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';

import { SIGNER_HEALTH_SERVICES, grpcHealthServing } from './grpc-health.ts';
import { httpsGet } from './fetch-collection.ts';
import { LOOPBACK, freePort } from './ports.ts';
import { SERVER_SCHEMA, SIGNER_SCHEMA, createTestDatabase } from './postgres.ts';
import type { TestDatabase } from './postgres.ts';
import { logTail, sleep, spawnManaged } from './processes.ts';
import type { ManagedProcess } from './processes.ts';
import type { TestPki } from './tls.ts';

export const NOTARY_SERVER_BIN = '/usr/bin/notary-server';
export const NOTARY_SIGNER_BIN = '/usr/bin/notary-signer';
export const DEFAULT_SIGNER_ALIAS = 'vouchtest';
export const DEFAULT_SIGNER_PASSPHRASE = 'vouch-signer-passphrase';
const DEFAULT_READY_TIMEOUT_MS = 20_000;
const PORT_ATTEMPTS = 3;

/** `memory`, a fresh PostgreSQL database, or an existing database URL (not dropped on stop). */
export type PeerStorage = 'memory' | 'postgres' | { readonly backend: 'postgres'; readonly dbUrl: string };

export interface NotaryPeer {
  readonly kind: 'notary-server' | 'notary-signer';
  /** `https://127.0.0.1:<port>` (the signer speaks gRPC over TLS at that address). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly caFile: string;
  readonly configFile: string;
  readonly logFile: string;
  /** Set when the peer got a fresh PostgreSQL database. */
  readonly database?: TestDatabase;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
  logs(): string;
}

interface CommonOptions {
  readonly pki: TestPki;
  readonly workDir: string;
  readonly storage?: PeerStorage;
  /** logrus level written to the config (default `info`: the server logs every request). */
  readonly logLevel?: string;
  readonly readyTimeoutMs?: number;
  /** Extra environment for the peer (added to a minimal PATH/HOME environment). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface SignerOptions extends CommonOptions {
  /** `storage.default_alias` for SQL storage (default `vouchtest`). */
  readonly defaultAlias?: string;
  /** Alias → passphrase, exported as `NOTARY_SIGNER_<ALIAS>`. Default: the default alias only. */
  readonly aliasPassphrases?: Readonly<Record<string, string>>;
  /** Require client certificates (`server.client_ca_file`); default true. */
  readonly requireClientCert?: boolean;
}

export type TrustService =
  | { readonly type: 'local' }
  | { readonly type: 'remote'; readonly signer: NotaryPeer; readonly hostname?: string;
      readonly keyAlgorithm?: 'ecdsa' | 'ed25519' | 'rsa' };

export interface ServerOptions extends CommonOptions {
  readonly trustService: TrustService;
  /** Top-level config sections merged over the generated ones (auth, caching, repositories…). */
  readonly extraConfig?: Readonly<Record<string, unknown>>;
}

export class PeerStartError extends Error {
  readonly logFile: string;

  constructor(what: string, logFile: string, reason: string) {
    super(`${what} did not start: ${reason}\nlog file: ${logFile}\n--- log tail ---\n${logTail(logFile)}`);
    this.name = 'PeerStartError';
    this.logFile = logFile;
  }
}

interface Storage {
  readonly section: Record<string, unknown>;
  readonly database?: TestDatabase;
}

function prepareStorage(storage: PeerStorage | undefined, kind: 'server' | 'signer'): Storage {
  if (storage === undefined || storage === 'memory') return { section: { backend: 'memory' } };
  if (storage !== 'postgres') return { section: { backend: 'postgres', db_url: storage.dbUrl } };
  const database = createTestDatabase(kind, kind === 'server' ? SERVER_SCHEMA : SIGNER_SCHEMA);
  return { section: { backend: 'postgres', db_url: database.url }, database };
}

function baseEnv(workDir: string, extra: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return { PATH: '/usr/bin:/bin', HOME: workDir, TZ: 'UTC', ...extra };
}

interface LaunchSpec {
  readonly kind: NotaryPeer['kind'];
  readonly binary: string;
  readonly opts: CommonOptions;
  readonly env: Record<string, string>;
  readonly storage: Storage;
  readonly config: (port: number) => Record<string, unknown>;
  /** Undefined when ready, else why not (yet). */
  readonly probe: (port: number) => Promise<string | undefined>;
}

async function waitReady(spec: LaunchSpec, proc: ManagedProcess, port: number): Promise<void> {
  const timeoutMs = spec.opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  let why = 'not probed yet';
  while (Date.now() < deadline) {
    const exit = proc.exitInfo();
    if (exit !== undefined) {
      throw new PeerStartError(spec.kind, proc.logFile,
        `exited early (code ${String(exit.code)}, signal ${String(exit.signal)})`);
    }
    const reason = await spec.probe(port);
    if (reason === undefined) return;
    why = reason;
    await sleep(100);
  }
  await proc.stop();
  throw new PeerStartError(spec.kind, proc.logFile, `not ready within ${timeoutMs} ms (last probe: ${why})`);
}

async function launch(spec: LaunchSpec): Promise<NotaryPeer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const configFile = join(spec.opts.workDir, `${spec.kind}-${port}.json`);
    const logFile = join(spec.opts.workDir, `${spec.kind}-${port}.log`);
    writeFileSync(configFile, `${JSON.stringify(spec.config(port), null, 2)}\n`);
    const proc = spawnManaged(spec.binary, ['-config', configFile], {
      cwd: spec.opts.workDir, env: spec.env, logFile,
    });
    try {
      await waitReady(spec, proc, port);
    } catch (e) {
      await proc.stop();
      // Another process may have taken the port between freePort() and the peer's bind.
      if (attempt < PORT_ATTEMPTS && /address already in use/.test(proc.logs())) continue;
      spec.storage.database?.drop();
      throw e;
    }
    const stop = async (): Promise<void> => {
      await proc.stop();
      spec.storage.database?.drop();
    };
    return {
      kind: spec.kind, url: `https://${LOOPBACK}:${port}`, host: LOOPBACK, port,
      caFile: spec.opts.pki.caFile, configFile, logFile, process: proc, stop,
      logs: () => proc.logs(),
      ...(spec.storage.database !== undefined ? { database: spec.storage.database } : {}),
    };
  }
}

export async function startNotarySigner(opts: SignerOptions): Promise<NotaryPeer> {
  const alias = opts.defaultAlias ?? DEFAULT_SIGNER_ALIAS;
  const passphrases = opts.aliasPassphrases ?? { [alias]: DEFAULT_SIGNER_PASSPHRASE };
  const aliasEnv = Object.fromEntries(Object.entries(passphrases)
    .map(([a, p]) => [`NOTARY_SIGNER_${a.toUpperCase()}`, p]));
  const storage = prepareStorage(opts.storage, 'signer');
  const { pki } = opts;
  return launch({
    kind: 'notary-signer', binary: NOTARY_SIGNER_BIN, opts, storage,
    env: baseEnv(opts.workDir, { ...aliasEnv, ...opts.env }),
    config: (port) => ({
      server: {
        grpc_addr: `${LOOPBACK}:${port}`,
        tls_cert_file: pki.signer.certFile, tls_key_file: pki.signer.keyFile,
        ...(opts.requireClientCert === false ? {} : { client_ca_file: pki.caFile }),
      },
      logging: { level: opts.logLevel ?? 'info' },
      storage: storage.section['backend'] === 'memory'
        ? storage.section : { ...storage.section, default_alias: alias },
    }),
    probe: async (port) => {
      for (const service of SIGNER_HEALTH_SERVICES) {
        const r = await grpcHealthServing({ host: LOOPBACK, port, caFile: pki.caFile,
          certFile: pki.client.certFile, keyFile: pki.client.keyFile, service, timeoutMs: 1_000 });
        if (!r.serving) return `${service}: ${r.lastError ?? 'not serving'}`;
      }
      return undefined;
    },
  });
}

function trustServiceSection(ts: TrustService, pki: TestPki): Record<string, unknown> {
  if (ts.type === 'local') return { type: 'local' };
  return {
    type: 'remote',
    // The name notary-server dials is also the TLS name it checks; 127.0.0.1 resolves without
    // /etc/hosts and matches the signer certificate's IP SAN.
    hostname: ts.hostname ?? LOOPBACK,
    port: String(ts.signer.port),
    key_algorithm: ts.keyAlgorithm ?? 'ecdsa',
    tls_ca_file: pki.caFile,
    tls_client_cert: pki.client.certFile,
    tls_client_key: pki.client.keyFile,
  };
}

export async function startNotaryServer(opts: ServerOptions): Promise<NotaryPeer> {
  const storage = prepareStorage(opts.storage, 'server');
  const { pki } = opts;
  return launch({
    kind: 'notary-server', binary: NOTARY_SERVER_BIN, opts, storage,
    env: baseEnv(opts.workDir, opts.env),
    config: (port) => ({
      server: { http_addr: `${LOOPBACK}:${port}`, tls_cert_file: pki.server.certFile,
        tls_key_file: pki.server.keyFile },
      trust_service: trustServiceSection(opts.trustService, pki),
      logging: { level: opts.logLevel ?? 'info' },
      storage: storage.section,
      ...opts.extraConfig,
    }),
    probe: async (port) => {
      try {
        const res = await httpsGet(`https://${LOOPBACK}:${port}/_notary_server/health`, pki.caFile,
          { timeoutMs: 1_000 });
        return res.status === 200 ? undefined : `health answered ${res.status}`;
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    },
  });
}

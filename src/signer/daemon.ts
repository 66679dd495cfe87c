/**
 * `vouch signer`: configuration → TLS → key database → checks → gRPC server.
 *
 * Contract: `startSigner` refuses to start (throws `SignerError`, nothing left listening or open)
 * when TLS cannot be loaded, the database cannot be reached or migrated, no default alias is
 * configured, the default alias's passphrase is not set, or that passphrase does not decrypt a
 * key already stored under it. Keys under other aliases whose passphrase is missing or wrong do
 * not stop the start: each is logged once, shown by the health report, and a request for such a
 * key fails with a clear error. `openSignerStore` gives maintenance commands (rekey, health) the
 * same database and passphrases without serving.
 */
import { listenAddress, MEMORY_ALIAS, MEMORY_PASSPHRASE } from './config.ts';
import type { SignerConfig } from './config.ts';
import { SignerError, passphraseEnvName } from './errors.ts';
import { startSignerGrpcServer } from './grpc-server.ts';
import { envPassphrases } from './key-crypto.ts';
import type { PassphraseLookup } from './key-crypto.ts';
import type { SqlKeyStore } from './key-store.ts';
import { openKeyStore } from './embedded.ts';
import { LocalSigningService } from './local-service.ts';
import type { SignerLog } from './log.ts';
import { signerHealthReport } from './maintenance.ts';
import type { SignerHealthReport } from './maintenance.ts';
import { loadServerTls } from './tls.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface SignerStore {
  readonly store: SqlKeyStore;
  readonly passphrases: PassphraseLookup;
  readonly defaultAlias: string;
  close(): Promise<void>;
}

export interface RunningSigner {
  readonly port: number;
  readonly service: LocalSigningService;
  report(checkAllKeys?: boolean): Promise<SignerHealthReport>;
  close(): Promise<void>;
}

export interface StartSignerOptions {
  readonly probeIntervalMs?: number;
}

function requireDefaultAlias(config: SignerConfig): string {
  if (config.defaultAlias === undefined) throw new SignerError('SIGNER_CONFIG_INVALID', 'must provide a default alias for the key DB');
  if (config.defaultAlias.length > 50) throw new SignerError('SIGNER_CONFIG_INVALID', 'the default alias must be at most 50 characters');
  return config.defaultAlias;
}

/** Opens and migrates the key database; the passphrase lookup reads `env`. */
export async function openSignerStore(config: SignerConfig, env: Env): Promise<SignerStore> {
  const defaultAlias = requireDefaultAlias(config);
  const passphrases = config.memory ? (alias: string) => (alias === MEMORY_ALIAS ? MEMORY_PASSPHRASE : undefined) : envPassphrases(env);
  const store = await openKeyStore(config.storage);
  return { store, passphrases, defaultAlias, close: () => store.database.close() };
}

/** Refuses a missing or wrong default passphrase; warns about every other alias that cannot decrypt. */
async function checkPassphrases(s: SignerStore, log: SignerLog): Promise<void> {
  if (s.passphrases(s.defaultAlias) === undefined) {
    throw new SignerError('PASSPHRASE_UNAVAILABLE',
      `the passphrase for the default alias "${s.defaultAlias}" is not set: export ${passphraseEnvName(s.defaultAlias)}`);
  }
  const report = await signerHealthReport(s.store, s.passphrases, s.defaultAlias);
  if (!report.database.ok) throw new SignerError('STORAGE_UNAVAILABLE', report.database.error ?? 'database check failed');
  for (const a of report.aliases) {
    if (a.decryptable !== false) continue;
    if (a.alias === s.defaultAlias) {
      throw new SignerError('KEY_UNDECRYPTABLE', `the passphrase of the default alias "${a.alias}" does not decrypt its keys: ${a.error ?? ''}`);
    }
    log.warn('keys under this alias cannot be used until its passphrase is fixed', { alias: a.alias, keys: a.keys, error: a.error });
  }
}

export async function startSigner(config: SignerConfig, env: Env, log: SignerLog, opts: StartSignerOptions = {}): Promise<RunningSigner> {
  const tls = loadServerTls(config.tls);
  const address = listenAddress(config.grpcAddr);
  if (tls.clientCa === undefined) log.warn('server.client_ca_file is not set: any TLS client that reaches the signer can use its keys');
  const s = await openSignerStore(config, env);
  try {
    await checkPassphrases(s, log);
    const service = new LocalSigningService({ store: s.store, passphrases: s.passphrases, defaultAlias: s.defaultAlias,
      ...(config.lastUsedRefreshMs !== undefined ? { lastUsedRefreshMs: config.lastUsedRefreshMs } : {}) });
    const report = (all = false): Promise<SignerHealthReport> => signerHealthReport(s.store, s.passphrases, s.defaultAlias, { checkAllKeys: all });
    const server = await startSignerGrpcServer({
      service, tls, address, log, report, probe: () => s.store.database.ping(),
      ...(opts.probeIntervalMs !== undefined ? { probeIntervalMs: opts.probeIntervalMs } : {}),
    });
    log.info('signer listening', { address, port: server.port, storage: s.store.database.description, defaultAlias: s.defaultAlias,
      mutualTls: tls.clientCa !== undefined });
    return {
      port: server.port, service, report,
      close: async () => {
        await server.close();
        await service.close();
      },
    };
  } catch (e) {
    await s.close();
    throw e;
  }
}

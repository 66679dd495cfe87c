/**
 * From a parsed `ServerConfig` to a listening trust server: storage, signing service (remote
 * gRPC signer or Vouch's signer in-process), TLS, token auth, logging.
 *
 * Contract: `startFromConfig` fails closed — a TLS certificate, key or CA file that cannot be
 * read, a database that cannot be opened or migrated, or a local signer without its passphrase
 * stops the start with `ServerConfigError`/`VouchError` and nothing left open or listening (notary
 * once served plain HTTP when its certificate failed to load: NCC CS-DRNT15-9).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates } from 'node:tls';
import { pino, type Logger } from 'pino';
import { SqlKeyStore } from '../signer/key-store.ts';
import { LocalSigningService } from '../signer/local-service.ts';
import { openMemorySigningService } from '../signer/embedded.ts';
import { SIGNER_COMPONENT, SIGNER_MIGRATIONS, type SignerTables } from '../signer/schema.ts';
import { openDatabase } from '../storage/database.ts';
import { migrateToLatest } from '../storage/migrations.ts';
import { VouchError } from '../errors.ts';
import { TokenAuth, type Authorizer } from './auth.ts';
import { BasicAuth, parseHtpasswd } from './basic-auth.ts';
import { ServerConfigError, type LocalTrustService, type RemoteTrustService, type ServerConfig, type StorageSection } from './config.ts';
import { startTrustServer, type RunningTrustServer, type TrustServerOptions } from './server.ts';
import type { SigningBackend } from './signing.ts';
import type { ServerTables } from './sql-schema.ts';
import { SqlMetaStore } from './sql-store.ts';
import { MemoryMetaStore, type MetaStore } from './store.ts';

type Env = Readonly<Record<string, string | undefined>>;

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ServerConfigError(`cannot read ${what} ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function openStore(storage: StorageSection): Promise<MetaStore> {
  if (storage.backend === 'memory') return new MemoryMetaStore();
  // Publishes hold a connection for a short transaction; 20 keeps 20 concurrent publishers moving.
  const database = openDatabase<ServerTables>({ backend: storage.backend, dbUrl: storage.dbUrl }, { poolSize: 20 });
  try {
    await database.ping();
    return await SqlMetaStore.open(database, { config: { backend: storage.backend, dbUrl: storage.dbUrl } });
  } catch (e) {
    await database.close();
    throw e;
  }
}

interface Signing {
  readonly backend: SigningBackend;
  readonly health?: () => Promise<void>;
}

async function remoteSigner(ts: RemoteTrustService): Promise<Signing> {
  // gRPC loads only when a remote signer is configured (it is ~10 MB of resident memory).
  const { RemoteSigningService } = await import('../signer/grpc-client.ts');
  const ca = ts.tlsCaFile !== undefined ? readFile(ts.tlsCaFile, 'trust_service.tls_ca_file') : Buffer.from(rootCertificates.join('\n'));
  const tls = {
    ca,
    ...(ts.tlsClientCert !== undefined ? { cert: readFile(ts.tlsClientCert, 'trust_service.tls_client_cert') } : {}),
    ...(ts.tlsClientKey !== undefined ? { key: readFile(ts.tlsClientKey, 'trust_service.tls_client_key') } : {}),
  };
  const host = ts.hostname.includes(':') ? `[${ts.hostname}]` : ts.hostname;
  const remote = new RemoteSigningService({ address: `${host}:${ts.port}`, tls });
  return {
    backend: remote,
    // notary's "Trust operational": KeyManagement and Signer must both be SERVING.
    health: async () => {
      for (const service of ['grpc.health.v1.Health.KeyManagement', 'grpc.health.v1.Health.Signer']) {
        if (!(await remote.serving(service))) throw new Error(`signer service ${service} is not serving`);
      }
    },
  };
}

async function localSigner(ts: LocalTrustService, serverStorage: StorageSection, env: Env): Promise<Signing> {
  const storage = ts.storage ?? serverStorage;
  if (storage.backend === 'memory') return { backend: openMemorySigningService() };
  const fromEnv = env[`NOTARY_SIGNER_${ts.defaultAlias.toUpperCase()}`];
  const passphrase = fromEnv !== undefined && fromEnv !== '' ? fromEnv
    : ts.passphraseFile !== undefined ? readFile(ts.passphraseFile, 'trust_service.passphrase_file').toString('utf8').trim() : undefined;
  if (passphrase === undefined || passphrase === '') {
    throw new ServerConfigError(`the passphrase for signer alias "${ts.defaultAlias}" is not set: export NOTARY_SIGNER_${ts.defaultAlias.toUpperCase()} or set trust_service.passphrase_file`);
  }
  const database = openDatabase<SignerTables>({ backend: storage.backend, dbUrl: storage.dbUrl });
  try {
    await database.ping();
    await migrateToLatest(database, SIGNER_COMPONENT, SIGNER_MIGRATIONS);
  } catch (e) {
    await database.close();
    throw e;
  }
  const lookup = (alias: string): string | undefined => {
    const v = env[`NOTARY_SIGNER_${alias.toUpperCase()}`];
    if (v !== undefined && v !== '') return v;
    return alias === ts.defaultAlias ? passphrase : undefined;
  };
  return { backend: new LocalSigningService({ store: new SqlKeyStore(database), passphrases: lookup, defaultAlias: ts.defaultAlias }) };
}

export interface StartOptions {
  readonly env: Env;
  readonly logger?: Logger;
  /** Overrides for tests (port 0, clock, health interval). */
  readonly overrides?: Partial<TrustServerOptions>;
}

export async function startFromConfig(config: ServerConfig, opts: StartOptions): Promise<RunningTrustServer> {
  const logger = opts.logger ?? pino({ level: config.logLevel });
  const tls = config.tls === undefined ? undefined : {
    cert: readFile(config.tls.certFile, 'server.tls_cert_file'),
    key: readFile(config.tls.keyFile, 'server.tls_key_file'),
    ...(config.tls.clientCaFile !== undefined ? { clientCa: readFile(config.tls.clientCaFile, 'server.client_ca_file') } : {}),
  };
  if (tls !== undefined) {
    try {
      createSecureContext({ cert: tls.cert, key: tls.key, ...(tls.clientCa !== undefined ? { ca: tls.clientCa } : {}) });
    } catch (e) {
      throw new ServerConfigError(`TLS certificate ${config.tls?.certFile ?? ''} and key ${config.tls?.keyFile ?? ''} cannot be used: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  let auth: Authorizer | undefined = config.auth === undefined ? undefined : new TokenAuth({
    realm: config.auth.realm, service: config.auth.service, issuer: config.auth.issuer, autoRedirect: config.auth.autoRedirect,
    rootCertBundle: readFile(config.auth.rootCertBundle, 'auth rootcertbundle').toString('utf8'),
  });
  if (config.basicAuth !== undefined) {
    const file = config.basicAuth.htpasswdFile;
    auth = new BasicAuth(parseHtpasswd(readFile(file, 'auth htpasswd').toString('utf8'), file));
  }
  const signing = config.trustService.type === 'remote' ? await remoteSigner(config.trustService) : await localSigner(config.trustService, config.storage, opts.env);
  let store: MetaStore | undefined;
  try {
    store = await openStore(config.storage);
    return await startTrustServer({
      store, signer: signing.backend, keyAlgorithm: config.trustService.keyAlgorithm, logger,
      host: config.httpAddr.host, port: config.httpAddr.port, cacheControl: config.cacheControl, gunPrefixes: config.gunPrefixes,
      ...(signing.health !== undefined ? { signerHealth: signing.health } : {}),
      ...(tls !== undefined ? { tls } : {}),
      ...(auth !== undefined ? { auth } : {}),
      ...opts.overrides,
    });
  } catch (e) {
    await store?.close();
    await signing.backend.close();
    if (e instanceof VouchError) throw e;
    throw new VouchError('SERVER_START_FAILED', `the trust server did not start: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

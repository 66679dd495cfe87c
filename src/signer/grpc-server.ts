/**
 * notary-signer's gRPC API (`proto.KeyManagement`, `proto.Signer`, grpc.health.v1) over any
 * `SigningService`, plus Vouch's `vouch.signer.v1.SignerHealth/Report`.
 *
 * Contract:
 * - Status codes and texts are notary's (docs/formats.md §8.2): CreateKey with an unsupported
 *   algorithm → UNKNOWN `algorithm <a> not supported for create key`, other CreateKey failures →
 *   INTERNAL `Key creation failed`; GetKeyInfo → NOT_FOUND `key <id> not found`; Sign → NOT_FOUND
 *   `signing key not found: <id>`, INTERNAL on signing failure; DeleteKey → Void.
 * - Where notary would hide the cause, Vouch says it: a missing alias passphrase is
 *   FAILED_PRECONDITION naming `NOTARY_SIGNER_<ALIAS>`; an undecryptable key is INTERNAL naming
 *   the key and alias; an unreachable database is UNAVAILABLE. Texts never carry key material,
 *   and unexpected errors are logged and answered with a generic INTERNAL.
 * - Health: services "", `grpc.health.v1.Health.KeyManagement` and `…Signer` are SERVING while the
 *   periodic probe passes and NOT_SERVING while it fails.
 */
import { Server, status } from '@grpc/grpc-js';
import type { ServerUnaryCall, ServiceError, sendUnaryData } from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';

import { SignerError } from './errors.ts';
import type { SignerErrorCode } from './errors.ts';
import { KeyManagementService, SignerService } from './generated/signer.ts';
import type { KeyManagementServer, SignerServer } from './generated/signer.ts';
import { SignerHealthService } from './generated/vouch_signer_health.ts';
import type { HealthReport, SignerHealthServer } from './generated/vouch_signer_health.ts';
import type { SignerLog } from './log.ts';
import type { SignerHealthReport } from './maintenance.ts';
import type { SigningService } from './service.ts';
import { serverCredentials } from './tls.ts';
import type { ServerTls } from './tls.ts';

export const HEALTH_SERVICES = ['', 'grpc.health.v1.Health.KeyManagement', 'grpc.health.v1.Health.Signer'] as const;

export interface SignerGrpcServerOptions {
  readonly service: SigningService;
  readonly tls: ServerTls;
  /** `host:port`; port 0 picks a free one. */
  readonly address: string;
  readonly log: SignerLog;
  /** Liveness probe behind the standard health service (e.g. a database ping). */
  readonly probe?: () => Promise<void>;
  readonly probeIntervalMs?: number;
  readonly report?: (checkAllKeys: boolean) => Promise<SignerHealthReport>;
  /** Largest Sign content accepted (default 4 MiB, grpc-js's own default). */
  readonly maxMessageBytes?: number;
}

export interface RunningSignerServer {
  readonly port: number;
  /** Stops accepting calls, waits up to `graceMs` for running ones, then cuts the rest. */
  close(graceMs?: number): Promise<void>;
}

type Op = 'CreateKey' | 'GetKeyInfo' | 'Sign' | 'DeleteKey';

function fail(code: status, details: string): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() });
}

const GENERIC: Record<Op, (id: string) => string> = {
  CreateKey: () => 'Key creation failed',
  GetKeyInfo: (id) => `key ${id} not found`,
  Sign: (id) => `Signing failed for KeyID ${id}`,
  DeleteKey: (id) => `Key deletion for KeyID ${id} failed`,
};

/** Maps a service error to notary's status and text for `op`. */
export function toServiceError(op: Op, id: string, e: unknown): ServiceError {
  const code: SignerErrorCode | undefined = e instanceof SignerError ? e.code : undefined;
  const msg = e instanceof Error ? e.message : String(e);
  switch (code) {
    case 'UNSUPPORTED_ALGORITHM': return fail(status.UNKNOWN, msg);
    case 'KEY_NOT_FOUND': return fail(status.NOT_FOUND, op === 'Sign' ? `signing key not found: ${id}` : `key ${id} not found`);
    case 'PASSPHRASE_UNAVAILABLE': return fail(status.FAILED_PRECONDITION, msg);
    case 'KEY_UNDECRYPTABLE': return fail(status.INTERNAL, msg);
    case 'STORAGE_UNAVAILABLE': return fail(op === 'CreateKey' ? status.INTERNAL : status.UNAVAILABLE,
      op === 'CreateKey' ? GENERIC.CreateKey(id) : 'the signer\'s key database is unavailable');
    default: return fail(status.INTERNAL, GENERIC[op](id));
  }
}

function handle<Req, Res>(log: SignerLog, op: Op, idOf: (req: Req) => string, run: (req: Req) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    const id = idOf(call.request);
    const started = performance.now();
    run(call.request).then((res) => {
      log.debug(`${op} ok`, { keyID: id, ms: Math.round(performance.now() - started) });
      callback(null, res);
    }, (e: unknown) => {
      const err = toServiceError(op, id, e);
      log.warn(`${op} failed`, { keyID: id, code: status[err.code], error: e instanceof Error ? e.message : String(e) });
      callback(err);
    });
  };
}

function keyManagement(service: SigningService, log: SignerLog): KeyManagementServer {
  return {
    createKey: handle(log, 'CreateKey', (r) => `${r.gun}/${r.role}`, async (r) => {
      const k = await service.createKey({ algorithm: r.algorithm, gun: r.gun, role: r.role });
      log.info('CreateKey', { keyID: k.keyId, gun: r.gun, role: r.role, algorithm: k.algorithm });
      return { keyInfo: { keyID: { ID: k.keyId }, algorithm: { algorithm: k.algorithm } }, publicKey: Buffer.from(k.publicKey) };
    }),
    getKeyInfo: handle(log, 'GetKeyInfo', (r) => r.ID, async (r) => {
      const k = await service.getKeyInfo(r.ID);
      return { keyInfo: { keyID: { ID: k.keyId }, algorithm: { algorithm: k.algorithm } }, publicKey: Buffer.from(k.publicKey), role: k.role };
    }),
    deleteKey: handle(log, 'DeleteKey', (r) => r.ID, async (r) => {
      await service.deleteKey(r.ID);
      log.info('DeleteKey', { keyID: r.ID });
      return {};
    }),
  };
}

function signer(service: SigningService, log: SignerLog): SignerServer {
  return {
    sign: handle(log, 'Sign', (r) => r.keyID?.ID ?? '', async (r) => {
      const s = await service.sign(r.keyID?.ID ?? '', r.content);
      return {
        keyInfo: { keyID: { ID: s.keyId }, algorithm: { algorithm: s.keyAlgorithm } },
        algorithm: { algorithm: s.method }, content: Buffer.from(s.signature),
      };
    }),
  };
}

export function reportMessage(r: SignerHealthReport): HealthReport {
  return {
    healthy: r.healthy, databaseOk: r.database.ok, databaseDescription: r.database.description,
    databaseError: r.database.error ?? '', defaultAlias: r.defaultAlias, activeKeys: r.activeKeys,
    aliases: r.aliases.map((a) => ({ alias: a.alias, keys: a.keys, passphraseSet: a.passphraseSet, decryptable: a.decryptable, error: a.error ?? '' })),
    undecryptableKeyIds: [...r.undecryptableKeyIds],
  };
}

function healthReport(report: NonNullable<SignerGrpcServerOptions['report']>, log: SignerLog): SignerHealthServer {
  return {
    report: (call, callback) => {
      report(call.request.checkAllKeys).then((r) => callback(null, reportMessage(r)), (e: unknown) => {
        log.error('health report failed', { error: e instanceof Error ? e.message : String(e) });
        callback(fail(status.INTERNAL, 'health report failed'));
      });
    },
  };
}

function bind(server: Server, address: string, tls: ServerTls): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, serverCredentials(tls), (err, port) => {
      if (err) reject(new SignerError('SIGNER_CONFIG_INVALID', `grpc server failed to listen on ${address}: ${err.message}`, { cause: err }));
      else resolve(port);
    });
  });
}

function startProbe(opts: SignerGrpcServerOptions, health: HealthImplementation): () => void {
  if (opts.probe === undefined) return () => undefined;
  const probe = opts.probe;
  let healthy = true;
  let running = false;
  const tick = (): void => {
    if (running) return;
    running = true;
    void probe().then(() => true, (e: unknown) => {
      if (healthy) opts.log.error('health probe failed', { error: e instanceof Error ? e.message : String(e) });
      return false;
    }).then((ok) => {
      if (ok && !healthy) opts.log.info('health probe recovered');
      healthy = ok;
      for (const s of HEALTH_SERVICES) health.setStatus(s, ok ? 'SERVING' : 'NOT_SERVING');
    }).finally(() => { running = false; });
  };
  const timer = setInterval(tick, opts.probeIntervalMs ?? 10_000);
  timer.unref();
  return () => clearInterval(timer);
}

export async function startSignerGrpcServer(opts: SignerGrpcServerOptions): Promise<RunningSignerServer> {
  const max = opts.maxMessageBytes ?? 4 * 1024 * 1024;
  const server = new Server({ 'grpc.max_receive_message_length': max, 'grpc.max_send_message_length': max });
  server.addService(KeyManagementService, keyManagement(opts.service, opts.log));
  server.addService(SignerService, signer(opts.service, opts.log));
  if (opts.report !== undefined) server.addService(SignerHealthService, healthReport(opts.report, opts.log));
  const health = new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((s) => [s, 'SERVING'])));
  health.addToServer(server);
  const port = await bind(server, opts.address, opts.tls);
  const stopProbe = startProbe(opts, health);
  let closing: Promise<void> | undefined;
  return {
    port,
    close: (graceMs = 5_000) => (closing ??= new Promise<void>((resolve) => {
      stopProbe();
      const timer = setTimeout(() => { server.forceShutdown(); resolve(); }, graceMs);
      timer.unref();
      server.tryShutdown(() => { clearTimeout(timer); resolve(); });
    })),
  };
}

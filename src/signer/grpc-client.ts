/**
 * `SigningService` over gRPC to `vouch signer` or notary-signer (the trust server's remote
 * trust service).
 *
 * Contract: every call has a deadline (default 5 s) and fails with `SignerError`: NOT_FOUND →
 * `KEY_NOT_FOUND`, UNKNOWN `… not supported for create key` → `UNSUPPORTED_ALGORITHM`,
 * FAILED_PRECONDITION → `PASSPHRASE_UNAVAILABLE`, UNAVAILABLE / DEADLINE_EXCEEDED / transport
 * failures → `SIGNER_UNAVAILABLE`, other INTERNAL → the operation's failure code. Replies are
 * checked, not trusted: the key ID must match the returned public key, and signature methods and
 * key algorithms must be ones notary knows.
 */
import { Metadata, status } from '@grpc/grpc-js';
import type { CallOptions, ChannelOptions, ServiceError } from '@grpc/grpc-js';

import { computeKeyId } from '../tuf/keys.ts';
import type { SignatureMethod } from '../tuf/signer.ts';
import type { KeyId } from '../tuf/types.ts';
import { SignerError } from './errors.ts';
import type { SignerErrorCode } from './errors.ts';
import { HealthCheckResponse_ServingStatus, HealthClient } from './generated/grpc_health_v1.ts';
import { KeyManagementClient, SignerClient } from './generated/signer.ts';
import type { KeyInfo } from './generated/signer.ts';
import { SignerHealthClient } from './generated/vouch_signer_health.ts';
import type { HealthReport } from './generated/vouch_signer_health.ts';
import type { CreateKeyRequest, SignerKeyInfo, SignerPublicKey, SignerSignature, SigningService } from './service.ts';
import { clientCredentials } from './tls.ts';
import type { ClientTls } from './tls.ts';

export interface RemoteSignerOptions {
  /** `host:port` of the signer. */
  readonly address: string;
  readonly tls: ClientTls;
  /** Name to check the signer's certificate against when it differs from the dialled host. */
  readonly serverName?: string;
  readonly deadlineMs?: number;
}

const METHODS: readonly string[] = ['ecdsa', 'eddsa', 'rsapss'];
const KEY_TYPES: readonly string[] = ['ecdsa', 'ed25519', 'rsa', 'ecdsa-x509', 'rsa-x509'];

type Op = 'CreateKey' | 'GetKeyInfo' | 'Sign' | 'DeleteKey' | 'Health';

const OP_FAILURE: Record<Op, SignerErrorCode> = {
  CreateKey: 'KEY_CREATION_FAILED', GetKeyInfo: 'KEY_UNDECRYPTABLE', Sign: 'SIGNING_FAILED',
  DeleteKey: 'STORAGE_UNAVAILABLE', Health: 'SIGNER_UNAVAILABLE',
};

function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && typeof (e as Partial<ServiceError>).code === 'number';
}

export function fromServiceError(op: Op, e: unknown): SignerError {
  if (!isServiceError(e)) return new SignerError('SIGNER_UNAVAILABLE', `signer ${op} failed: ${String(e)}`, { cause: e });
  const details = e.details || e.message;
  switch (e.code) {
    case status.NOT_FOUND: return new SignerError('KEY_NOT_FOUND', details, { cause: e });
    case status.FAILED_PRECONDITION: return new SignerError('PASSPHRASE_UNAVAILABLE', details, { cause: e });
    case status.UNKNOWN:
      if (/ not supported for create key$/.test(details)) return new SignerError('UNSUPPORTED_ALGORITHM', details, { cause: e });
      return new SignerError(OP_FAILURE[op], details, { cause: e });
    case status.INTERNAL: return new SignerError(OP_FAILURE[op], details, { cause: e });
    default: return new SignerError('SIGNER_UNAVAILABLE', `signer ${op} failed: ${status[e.code] ?? e.code}: ${details}`, { cause: e });
  }
}

function badReply(op: Op, why: string): SignerError {
  return new SignerError(OP_FAILURE[op], `signer ${op} reply is invalid: ${why}`);
}

function checkedKey(op: Op, info: KeyInfo | undefined, publicKey: Uint8Array): SignerPublicKey {
  const algorithm = info?.algorithm?.algorithm ?? '';
  if (!KEY_TYPES.includes(algorithm)) throw badReply(op, `unknown key algorithm ${JSON.stringify(algorithm)}`);
  const keyId = computeKeyId(algorithm, publicKey);
  if (info?.keyID?.ID !== keyId) throw badReply(op, `key ID ${JSON.stringify(info?.keyID?.ID)} does not match its public key (${keyId})`);
  return { keyId, algorithm, publicKey: new Uint8Array(publicKey) };
}

/** Adapts a generated callback-style client method to a promise with a deadline. */
function unary<Req, Res>(deadlineMs: number, op: Op,
  f: (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    f(req, new Metadata(), { deadline: new Date(Date.now() + deadlineMs) }, (err, res) => {
      if (err) reject(fromServiceError(op, err));
      else resolve(res);
    });
  });
}

export class RemoteSigningService implements SigningService {
  private readonly km: KeyManagementClient;
  private readonly signer: SignerClient;
  private readonly health: HealthClient;
  private readonly report: SignerHealthClient;
  private readonly deadlineMs: number;

  constructor(opts: RemoteSignerOptions) {
    const creds = clientCredentials(opts.tls);
    const channel: ChannelOptions = {
      // grpc-js backs off up to 120 s by default; a restarted signer should be back within seconds.
      'grpc.max_reconnect_backoff_ms': 2_000,
      ...(opts.serverName !== undefined ? { 'grpc.ssl_target_name_override': opts.serverName, 'grpc.default_authority': opts.serverName } : {}),
    };
    this.km = new KeyManagementClient(opts.address, creds, channel);
    // One channel for all stubs: grpc-js shares subchannels between clients with equal settings.
    this.signer = new SignerClient(opts.address, creds, channel);
    this.health = new HealthClient(opts.address, creds, channel);
    this.report = new SignerHealthClient(opts.address, creds, channel);
    this.deadlineMs = opts.deadlineMs ?? 5_000;
  }

  async createKey(req: CreateKeyRequest): Promise<SignerPublicKey> {
    const res = await unary(this.deadlineMs, 'CreateKey', this.km.createKey.bind(this.km), { algorithm: req.algorithm, gun: req.gun, role: req.role });
    return checkedKey('CreateKey', res.keyInfo, res.publicKey);
  }

  async getKeyInfo(keyId: string): Promise<SignerKeyInfo> {
    const res = await unary(this.deadlineMs, 'GetKeyInfo', this.km.getKeyInfo.bind(this.km), { ID: keyId });
    return { ...checkedKey('GetKeyInfo', res.keyInfo, res.publicKey), role: res.role };
  }

  async sign(keyId: string, content: Uint8Array): Promise<SignerSignature> {
    const res = await unary(this.deadlineMs, 'Sign', this.signer.sign.bind(this.signer), { keyID: { ID: keyId }, content: Buffer.from(content) });
    const method = res.algorithm?.algorithm ?? '';
    if (!METHODS.includes(method)) throw badReply('Sign', `unknown signature method ${JSON.stringify(method)}`);
    if (res.keyInfo?.keyID?.ID !== keyId) throw badReply('Sign', 'the signature names another key');
    return { keyId: keyId as KeyId, keyAlgorithm: res.keyInfo.algorithm?.algorithm ?? '', method: method as SignatureMethod, signature: new Uint8Array(res.content) };
  }

  async deleteKey(keyId: string): Promise<void> {
    await unary(this.deadlineMs, 'DeleteKey', this.km.deleteKey.bind(this.km), { ID: keyId });
  }

  /** True when the standard health service reports SERVING for `service` (default: overall ""). */
  async serving(service = ''): Promise<boolean> {
    const res = await unary(this.deadlineMs, 'Health', this.health.check.bind(this.health), { service });
    return res.status === HealthCheckResponse_ServingStatus.SERVING;
  }

  /** Vouch's detailed report; notary-signer does not offer it (UNIMPLEMENTED → SIGNER_UNAVAILABLE). */
  healthReport(checkAllKeys = false): Promise<HealthReport> {
    return unary(this.deadlineMs, 'Health', this.report.report.bind(this.report), { checkAllKeys });
  }

  close(): Promise<void> {
    for (const c of [this.km, this.signer, this.health, this.report]) c.close();
    return Promise.resolve();
  }
}

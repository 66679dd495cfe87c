/**
 * Minimal gRPC health probe (grpc.health.v1.Health/Check) over node:http2 with mutual TLS.
 *
 * Contract: `grpcHealthServing(opts)` resolves true only when the peer answers SERVING for the
 * named service within `timeoutMs`; every failure (refused, TLS, timeout, other status) resolves
 * false, with the reason in `lastError` of the returned object. No gRPC library: the request is
 * one hand-encoded protobuf field and the SERVING reply is a fixed 2-byte message.
 */
import { connect } from 'node:http2';
import { readFileSync } from 'node:fs';

/** Service names notary-signer 0.7 reports (notary const.go). */
export const SIGNER_HEALTH_SERVICES = [
  'grpc.health.v1.Health.KeyManagement',
  'grpc.health.v1.Health.Signer',
] as const;

export interface GrpcHealthOptions {
  readonly host: string;
  readonly port: number;
  readonly caFile: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly service: string;
  readonly timeoutMs: number;
}

export interface GrpcHealthResult {
  readonly serving: boolean;
  readonly lastError?: string;
}

/** gRPC length-prefixed frame around a HealthCheckRequest{service}. */
function healthRequestFrame(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  if (name.length > 127) throw new Error('service name too long for a one-byte varint');
  const message = Buffer.concat([Buffer.from([0x0a, name.length]), name]);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/** HealthCheckResponse{status: SERVING(1)} in a gRPC frame. */
const SERVING_FRAME = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);

export function grpcHealthServing(opts: GrpcHealthOptions): Promise<GrpcHealthResult> {
  return new Promise((resolve) => {
    let settled = false;
    const session = connect(`https://${opts.host}:${opts.port}`, {
      ca: readFileSync(opts.caFile),
      ...(opts.certFile !== undefined ? { cert: readFileSync(opts.certFile) } : {}),
      ...(opts.keyFile !== undefined ? { key: readFileSync(opts.keyFile) } : {}),
    });
    const finish = (serving: boolean, lastError?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve(lastError === undefined ? { serving } : { serving, lastError });
    };
    const timer = setTimeout(() => finish(false, `no answer within ${opts.timeoutMs} ms`),
      opts.timeoutMs);
    session.on('error', (e: Error) => finish(false, e.message));
    const req = session.request({
      ':method': 'POST', ':path': '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc', te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    req.on('response', (h) => { if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']); });
    req.on('trailers', (h) => { if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']); });
    req.on('data', (c: Buffer) => { if (chunks.length < 16) chunks.push(c); });
    req.on('error', (e: Error) => finish(false, e.message));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (grpcStatus === '0' && body.equals(SERVING_FRAME)) finish(true);
      else finish(false, `grpc-status ${grpcStatus ?? 'missing'}, body ${body.toString('hex')}`);
    });
    req.end(healthRequestFrame(opts.service));
  });
}

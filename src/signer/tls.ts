/**
 * TLS for the signer's gRPC endpoint, failing closed.
 *
 * Contract: `loadServerTls` reads the certificate, key and optional client CA and proves they
 * form a usable context (key matches certificate, CA parses) before anything listens; any failure
 * is `SignerError('SIGNER_CONFIG_INVALID')` starting `unable to set up TLS:`. The credentials accept
 * TLS 1.2 and 1.3 only, with AEAD suites (docker go-connections' server defaults), and when a
 * client CA is given they require and verify a client certificate chaining to it (notary's
 * `RequireAndVerifyClientCert`), so no certificate, one from another CA, or an expired one is
 * refused during the handshake.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { ServerCredentials, credentials } from '@grpc/grpc-js';
import type { ChannelCredentials } from '@grpc/grpc-js';

import { SignerError } from './errors.ts';

export interface ServerTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile?: string;
}

export interface ServerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer;
}

export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

function tlsError(why: string, cause?: unknown): SignerError {
  return new SignerError('SIGNER_CONFIG_INVALID', `unable to set up TLS: ${why}`, { cause });
}

function readOrFail(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw tlsError(`cannot read ${what} ${file}: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

export function loadServerTls(files: ServerTlsFiles): ServerTls {
  if (files.certFile === '' || files.keyFile === '') {
    throw tlsError('server.tls_cert_file and server.tls_key_file are required: the signer never serves without TLS');
  }
  const cert = readOrFail(files.certFile, 'certificate');
  const key = readOrFail(files.keyFile, 'key');
  const clientCa = files.clientCaFile !== undefined && files.clientCaFile !== '' ? readOrFail(files.clientCaFile, 'client CA') : undefined;
  try {
    createSecureContext({ cert, key, ...(clientCa !== undefined ? { ca: clientCa } : {}), minVersion: 'TLSv1.2' });
  } catch (e) {
    throw tlsError(`the certificate, key or client CA is unusable: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  if (clientCa !== undefined) {
    try {
      new X509Certificate(clientCa);
    } catch (e) {
      throw tlsError(`client CA ${files.clientCaFile} holds no certificate`, e);
    }
  }
  return { cert, key, ...(clientCa !== undefined ? { clientCa } : {}) };
}

/** grpc-js credentials with Vouch's TLS floor; `createSsl` offers no way to set one. */
class SignerServerCredentials extends ServerCredentials {
  constructor(tls: ServerTls) {
    const mutual = tls.clientCa !== undefined;
    super(
      { requestCert: mutual, rejectUnauthorized: mutual, minVersion: 'TLSv1.2', ciphers: TLS_CIPHERS, honorCipherOrder: true },
      { cert: tls.cert, key: tls.key, ...(tls.clientCa !== undefined ? { ca: tls.clientCa } : {}) },
    );
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

export function serverCredentials(tls: ServerTls): ServerCredentials {
  return new SignerServerCredentials(tls);
}

export interface ClientTls {
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export function clientCredentials(tls: ClientTls): ChannelCredentials {
  return credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null);
}

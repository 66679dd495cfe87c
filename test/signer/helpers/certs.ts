/**
 * Extra client certificates for TLS refusal tests, issued by a test PKI's CA with chosen validity
 * (openssl 3.0's `x509 -req` cannot backdate, so these are made with @peculiar/x509).
 *
 * Contract: `issueClientCert(pki, dir, opts)` writes `<name>.crt` / `<name>.key` (P-256, PKCS#8 PEM)
 * signed by `pki.ca`, with clientAuth EKU and a DNS SAN, valid from `notBefore` to `notAfter`.
 */
import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

import type { CertPair, TestPki } from '../../helpers/tls.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);


const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export interface IssueOptions {
  readonly name: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export async function issueClientCert(pki: TestPki, dir: string, opts: IssueOptions): Promise<CertPair> {
  const caCert = new x509.X509Certificate(readFileSync(pki.ca.certFile, 'utf8'));
  const caKey = await webcrypto.subtle.importKey('pkcs8', pemBody(readFileSync(pki.ca.keyFile, 'utf8')), EC, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0a1b2c3d', subject: `CN=${opts.name}`, issuer: caCert.subject,
    notBefore: opts.notBefore, notAfter: opts.notAfter,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey: keys.publicKey, signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: opts.name }]),
    ],
  });
  const pair = { certFile: join(dir, `${opts.name}.crt`), keyFile: join(dir, `${opts.name}.key`) };
  writeFileSync(pair.certFile, cert.toString('pem'));
  writeFileSync(pair.keyFile, pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), { mode: 0o600 });
  return pair;
}

/**
 * Throwaway TLS PKI for interop tests, made with /usr/bin/openssl.
 *
 * Contract: `generateTestPki(dir)` writes a root CA and three leaf certificates (P-256 keys,
 * PKCS#8 PEM, valid 2 days) into `dir` and returns their paths. Go's crypto/tls ignores the CN, so
 * every leaf carries subjectAltName entries; the signer leaf is usable both ways (serverAuth and
 * clientAuth) and the server→signer client leaf has clientAuth. Throws with openssl's stderr when
 * a step fails. Nothing here is secret: the keys live only for one test run.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const OPENSSL = '/usr/bin/openssl';

/** Names every server-side leaf answers to; the signer also answers to notary's fixture name. */
export const SERVER_SANS = ['DNS:localhost', 'DNS:notary-server', 'IP:127.0.0.1'];
export const SIGNER_SANS = ['DNS:notarysigner', 'DNS:localhost', 'IP:127.0.0.1'];

export interface CertPair {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TestPki {
  readonly dir: string;
  /** Root CA certificate: the trust anchor for clients of the server and of the signer. */
  readonly caFile: string;
  readonly ca: CertPair;
  /** notary-server's HTTPS certificate. */
  readonly server: CertPair;
  /** notary-signer's gRPC certificate (serverAuth + clientAuth). */
  readonly signer: CertPair;
  /** The certificate notary-server presents to notary-signer (clientAuth). */
  readonly client: CertPair;
}

const OPENSSL_TIMEOUT_MS = 15_000;

function openssl(args: readonly string[], cwd: string): void {
  const r = spawnSync(OPENSSL, args, { cwd, encoding: 'utf8', timeout: OPENSSL_TIMEOUT_MS });
  if (r.error !== undefined || r.status !== 0) {
    const why = r.error?.message ?? `exit ${String(r.status)}${r.signal ? ` (${r.signal})` : ''}`;
    throw new Error(`openssl ${args.join(' ')} failed: ${why}\n${r.stderr ?? ''}`);
  }
}

interface LeafSpec {
  readonly name: string;
  readonly cn: string;
  readonly sans: readonly string[];
  readonly eku: string;
}

function writeLeafExtensions(dir: string, leaf: LeafSpec): string {
  const file = join(dir, `${leaf.name}.ext`);
  const lines = [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    `extendedKeyUsage = ${leaf.eku}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
  ];
  if (leaf.sans.length > 0) lines.push(`subjectAltName = ${leaf.sans.join(', ')}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function makeLeaf(dir: string, ca: CertPair, leaf: LeafSpec): CertPair {
  const pair = { certFile: join(dir, `${leaf.name}.crt`), keyFile: join(dir, `${leaf.name}.key`) };
  const csr = join(dir, `${leaf.name}.csr`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', pair.keyFile, '-subj', `/CN=${leaf.cn}`, '-out', csr], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', writeLeafExtensions(dir, leaf), '-out', pair.certFile], dir);
  return pair;
}

/** Creates the PKI under `dir` (created if missing). Takes ~100 ms. */
export function generateTestPki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = { certFile: join(dir, 'root-ca.crt'), keyFile: join(dir, 'root-ca.key') };
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', ca.keyFile, '-out', ca.certFile, '-days', '2', '-sha256',
    '-subj', '/CN=Vouch interop test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const server = makeLeaf(dir, ca, { name: 'notary-server', cn: 'notary-server', sans: SERVER_SANS,
    eku: 'serverAuth' });
  const signer = makeLeaf(dir, ca, { name: 'notary-signer', cn: 'notarysigner', sans: SIGNER_SANS,
    eku: 'serverAuth, clientAuth' });
  const client = makeLeaf(dir, ca, { name: 'notary-server-client', cn: 'notary-server',
    sans: ['DNS:notary-server'], eku: 'clientAuth' });
  return { dir, caFile: ca.certFile, ca, server, signer, client };
}

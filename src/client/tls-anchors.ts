/**
 * Trusting a private CA file without building Node's root store.
 *
 * Why: in Node 20, the first `addCACert` of a process (what the `ca` TLS option does) builds the
 * store of ≈ 140 bundled Mozilla roots just to compare it with the context's store, although a `ca`
 * option then trusts only the given certificates. That costs 25–45 ms of every CLI command's
 * start-up on the machines measured, more than all of Vouch's own start-up work. So a connection to
 * a server whose CA file was given (`--tlscacert`, `trust_service` configs) first runs on a context
 * with no roots at all, and the chain the server sent is checked here before a single byte of the
 * request goes out. What this cannot positively accept goes through the standard path (OpenSSL
 * verification against the CA file), which decides and words the error exactly as before.
 *
 * Contract of `chainTrusted(sent, anchors, now)`: true only when the sent chain (leaf first) leads
 * by issuer name, key identifiers, key usage (what `X509Certificate.checkIssued` checks) and
 * signature to one of the anchors, through CA certificates, every certificate in the path is
 * within its validity period, uses SHA-2 or Ed25519 signatures and P-256/P-384/P-521, Ed25519 or
 * ≥ 2048-bit RSA keys, carries no critical extension beyond basic constraints, key usage, extended
 * key usage, key identifiers and subject alternative names and no name, policy or path-length
 * constraints, and allows server authentication (extended key usage) and, for the leaf, key
 * usage fit for TLS. That is a subset of what OpenSSL accepts; anything outside it returns false.
 * The host name is checked by the caller (`tls.checkServerIdentity`, the standard path's check).
 */
import { X509Certificate } from 'node:crypto';
import { readCertificateDer, type CertificateDer } from '../crypto/x509-parse.ts';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';
/** Extensions whose meaning the checks below cover completely. */
const UNDERSTOOD = new Set(['2.5.29.14', '2.5.29.15', '2.5.29.17', '2.5.29.19', '2.5.29.35', '2.5.29.37']);
/** Name constraints, certificate policies, policy mappings, policy constraints, inhibit anyPolicy. */
const CONSTRAINING = new Set(['2.5.29.30', '2.5.29.32', '2.5.29.33', '2.5.29.36', '2.5.29.54']);
const SHA2_SIGNATURES = new Set([
  '1.2.840.10045.4.3.2', '1.2.840.10045.4.3.3', '1.2.840.10045.4.3.4', // ecdsa-with-SHA256/384/512
  '1.2.840.113549.1.1.11', '1.2.840.113549.1.1.12', '1.2.840.113549.1.1.13', // sha256/384/512WithRSAEncryption
  '1.3.101.112', // Ed25519
]);
const CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);
/** Go's KeyUsage bits. */
const KU_DIGITAL_SIGNATURE = 1;
const KU_KEY_ENCIPHERMENT = 4;
const KU_KEY_AGREEMENT = 16;
const KU_CERT_SIGN = 32;
/** Longer chains than this are left to OpenSSL. */
const MAX_PATH = 6;

export interface ChainCertificate {
  readonly x509: X509Certificate;
  readonly der: CertificateDer;
  readonly raw: Uint8Array;
}

/** Parses DER certificates; undefined when any of them does not parse (the standard path decides). */
export function chainCertificates(ders: readonly Uint8Array[]): ChainCertificate[] | undefined {
  try {
    return ders.map((raw) => ({ x509: new X509Certificate(raw), der: readCertificateDer(raw), raw }));
  } catch {
    return undefined;
  }
}

function strongKey(c: ChainCertificate): boolean {
  const key = c.x509.publicKey;
  switch (key.asymmetricKeyType) {
    case 'ec':
      return CURVES.has(key.asymmetricKeyDetails?.namedCurve ?? '');
    case 'rsa':
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048;
    case 'ed25519':
      return true;
    default:
      return false;
  }
}

function plain(c: ChainCertificate, now: Date): boolean {
  const d = c.der;
  if (d.version !== 3 && d.version !== 1) return false;
  if (now < d.notBefore || now > d.notAfter) return false;
  if (!SHA2_SIGNATURES.has(d.signatureAlgorithm) || !strongKey(c)) return false;
  for (const e of d.extensions) {
    if (CONSTRAINING.has(e.oid) || (e.critical && !UNDERSTOOD.has(e.oid))) return false;
  }
  if (d.basicConstraints !== undefined && d.basicConstraints.maxPathLen >= 0) return false;
  return d.extKeyUsage === undefined || d.extKeyUsage.includes(SERVER_AUTH) || d.extKeyUsage.includes(ANY_EXTENDED_KEY_USAGE);
}

function issuedBy(child: ChainCertificate, issuer: ChainCertificate): boolean {
  try {
    return child.x509.checkIssued(issuer.x509) && child.x509.verify(issuer.x509.publicKey);
  } catch {
    return false;
  }
}

function isCa(c: ChainCertificate): boolean {
  return c.der.basicConstraints?.isCa === true && (c.der.keyUsage === 0 || (c.der.keyUsage & KU_CERT_SIGN) !== 0);
}

export function chainTrusted(sent: readonly ChainCertificate[], anchors: readonly ChainCertificate[], now: Date): boolean {
  const [leaf, ...intermediates] = sent;
  if (leaf === undefined || !plain(leaf, now)) return false;
  if (leaf.der.basicConstraints?.isCa === true) return false;
  const ku = leaf.der.keyUsage;
  if (ku !== 0 && (ku & (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)) === 0) return false;
  const path: ChainCertificate[] = [leaf];
  let current = leaf;
  while (path.length <= MAX_PATH) {
    const anchor = anchors.find((a) => issuedBy(current, a));
    if (anchor !== undefined) return isCa(anchor) && plain(anchor, now);
    const next = intermediates.find((i) => !path.includes(i) && issuedBy(current, i));
    if (next === undefined || !isCa(next) || !plain(next, now)) return false;
    path.push(next);
    current = next;
  }
  return false;
}

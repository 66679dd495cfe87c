/**
 * X.509 certificates as notary's Go code sees them: parsing (fields that notary's rules read),
 * PEM certificate bundles, and chain building to a pinned CA the way Go's `Certificate.Verify`
 * does it. Pure: time is always a parameter. Policy (what counts as a valid root certificate,
 * error wording) lives in src/tuf/certs.ts; root-certificate creation in ./x509-create.ts.
 *
 * The DER walk itself (the fields as Go's parser reads them) is ./x509-parse.ts.
 */
import { createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { decodePemBlocks, encodePem } from './pem.ts';
import { readCertificateDer } from './x509-parse.ts';
import { CryptoError, keyAlgorithm } from './signatures.ts';

export { createRootCertificate, ROOT_CERT_VALIDITY_DAYS } from './x509-create.ts';
export type { RootCertificateParams } from './x509-create.ts';

export type CertKeyAlgorithm = 'ecdsa' | 'rsa' | 'ed25519' | 'unknown';

export interface Certificate {
  readonly der: Uint8Array;
  /** 1-based, as Go reports it. */
  readonly version: number;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
  readonly rawSubject: Uint8Array;
  readonly rawIssuer: Uint8Array;
  /** Go's `Subject.CommonName`: the last CN attribute, or empty. */
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Uint8Array;
  readonly publicKeyAlgorithm: CertKeyAlgorithm;
  /** Absent for key algorithms Go parses as "unknown" (DSA, RSA-PSS keys, …). */
  readonly publicKey: KeyObject | undefined;
  readonly basicConstraintsValid: boolean;
  readonly isCa: boolean;
  /** -1 when BasicConstraints carries no pathLenConstraint. */
  readonly maxPathLen: number;
  /** Go's KeyUsage bits (digitalSignature 1, …, keyCertSign 32, …); 0 when the extension is absent. */
  readonly keyUsage: number;
  /** EKU OIDs; undefined when the extension is absent. */
  readonly extKeyUsage: readonly string[] | undefined;
  readonly hasUnhandledCriticalExtension: boolean;
}

const OID_RSA = '1.2.840.113549.1.1.1';
const OID_EC = '1.2.840.10045.2.1';
const OID_ED25519 = '1.3.101.112';

/** Extensions Go's x509 understands; any other extension marked critical makes Verify fail. */
const HANDLED_EXTENSIONS = new Set([
  '2.5.29.14', '2.5.29.15', '2.5.29.17', '2.5.29.19', '2.5.29.30', '2.5.29.31', '2.5.29.32', '2.5.29.35',
  '2.5.29.37', '1.3.6.1.5.5.7.1.1',
]);

interface SigAlg {
  readonly hash: 'sha1' | 'sha256' | 'sha384' | 'sha512' | 'md5' | null;
  readonly key: 'rsa' | 'ecdsa' | 'ed25519' | 'dsa';
}

const SIGNATURE_ALGORITHMS: Readonly<Record<string, SigAlg>> = {
  '1.2.840.113549.1.1.4': { hash: 'md5', key: 'rsa' },
  '1.2.840.113549.1.1.5': { hash: 'sha1', key: 'rsa' },
  '1.3.14.3.2.29': { hash: 'sha1', key: 'rsa' },
  '1.2.840.113549.1.1.11': { hash: 'sha256', key: 'rsa' },
  '1.2.840.113549.1.1.12': { hash: 'sha384', key: 'rsa' },
  '1.2.840.113549.1.1.13': { hash: 'sha512', key: 'rsa' },
  '1.2.840.10045.4.1': { hash: 'sha1', key: 'ecdsa' },
  '1.2.840.10045.4.3.2': { hash: 'sha256', key: 'ecdsa' },
  '1.2.840.10045.4.3.3': { hash: 'sha384', key: 'ecdsa' },
  '1.2.840.10045.4.3.4': { hash: 'sha512', key: 'ecdsa' },
  '1.2.840.10040.4.3': { hash: 'sha1', key: 'dsa' },
  '2.16.840.1.101.3.4.3.2': { hash: 'sha256', key: 'dsa' },
  '1.3.101.112': { hash: null, key: 'ed25519' },
};

/** True for the SHA-1 signature algorithms notary refuses (RSA, DSA and ECDSA with SHA-1). */
export function isSha1Signature(cert: Certificate): boolean {
  return SIGNATURE_ALGORITHMS[cert.signatureAlgorithm]?.hash === 'sha1';
}

/** Go's `x509.KeyUsageCertSign`. */
const KEY_USAGE_CERT_SIGN = 1 << 5;

function certPublicKey(spkiAlgorithm: string, spki: Uint8Array): { alg: CertKeyAlgorithm; key: KeyObject | undefined } {
  const alg: CertKeyAlgorithm =
    spkiAlgorithm === OID_RSA ? 'rsa' : spkiAlgorithm === OID_EC ? 'ecdsa' : spkiAlgorithm === OID_ED25519 ? 'ed25519' : 'unknown';
  if (alg === 'unknown') return { alg, key: undefined };
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  keyAlgorithm(key); // Go refuses the whole certificate for a curve it does not know
  return { alg, key };
}

/** Parses one DER certificate; `CryptoError('INVALID_CERTIFICATE')` for anything Go would refuse. */
export function parseCertificate(der: Uint8Array): Certificate {
  try {
    const raw = readCertificateDer(der);
    const { alg, key } = certPublicKey(raw.spkiAlgorithm, raw.spki);
    const bc = raw.basicConstraints;
    return {
      der: new Uint8Array(der),
      version: raw.version,
      tbs: raw.tbs,
      signatureAlgorithm: raw.signatureAlgorithm,
      signature: raw.signature,
      rawSubject: raw.subject,
      rawIssuer: raw.issuer,
      commonName: raw.commonName,
      notBefore: raw.notBefore,
      notAfter: raw.notAfter,
      spki: raw.spki,
      publicKeyAlgorithm: alg,
      publicKey: key,
      basicConstraintsValid: bc !== undefined,
      isCa: bc?.isCa ?? false,
      maxPathLen: bc?.maxPathLen ?? -1,
      keyUsage: raw.keyUsage,
      extKeyUsage: raw.extKeyUsage,
      hasUnhandledCriticalExtension: raw.extensions.some((e) => e.critical && !HANDLED_EXTENSIONS.has(e.oid)),
    };
  } catch (cause) {
    if (cause instanceof CryptoError && cause.code === 'INVALID_CERTIFICATE') throw cause;
    throw new CryptoError('INVALID_CERTIFICATE', `x509: malformed certificate: ${errorText(cause)}`, { cause });
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Go's `LoadCertBundleFromPEM`: every PEM block must be a parseable CERTIFICATE, and there must be
 * at least one. Order is kept (leaf first, by notary's convention).
 */
export function parseCertificateBundle(pemText: string): Certificate[] {
  let blocks;
  try {
    blocks = decodePemBlocks(pemText);
  } catch (cause) {
    throw new CryptoError('INVALID_CERTIFICATE', `invalid PEM certificate bundle: ${errorText(cause)}`, { cause });
  }
  const certs = blocks.map((b) => {
    if (b.type !== 'CERTIFICATE') throw new CryptoError('INVALID_CERTIFICATE', `invalid pem block type: ${b.type}`);
    return parseCertificate(b.bytes);
  });
  if (certs.length === 0) throw new CryptoError('INVALID_CERTIFICATE', 'no valid certificates found');
  return certs;
}

/** Go's `LoadCertFromPEM`: the first headerless CERTIFICATE block that parses. */
export function firstCertificate(pemText: string): Certificate {
  let blocks;
  try {
    blocks = decodePemBlocks(pemText);
  } catch (cause) {
    throw new CryptoError('INVALID_CERTIFICATE', 'no certificates found in PEM data', { cause });
  }
  for (const b of blocks) {
    if (b.type !== 'CERTIFICATE' || Object.keys(b.headers).length > 0) continue;
    try {
      return parseCertificate(b.bytes);
    } catch {
      continue;
    }
  }
  throw new CryptoError('INVALID_CERTIFICATE', 'no certificates found in PEM data');
}

/** Go `pem.EncodeToMemory` of the certificates, in order: the bytes of an x509 TUF key. */
export function certificatesToPem(certs: readonly Certificate[]): string {
  return certs.map((c) => encodePem({ type: 'CERTIFICATE', bytes: c.der })).join('');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * Go's `checkSignatureFrom`: `parent` may sign certificates (CA when v3 or when BasicConstraints
 * is present; KeyUsage, when present, includes keyCertSign) and its key verifies `child`'s
 * signature with an algorithm Go still accepts (no MD5, no SHA-1).
 */
export function isSignedBy(child: Certificate, parent: Certificate): boolean {
  if ((parent.version === 3 && !parent.basicConstraintsValid) || (parent.basicConstraintsValid && !parent.isCa)) return false;
  if (parent.keyUsage !== 0 && (parent.keyUsage & KEY_USAGE_CERT_SIGN) === 0) return false;
  const alg = SIGNATURE_ALGORITHMS[child.signatureAlgorithm];
  const key = parent.publicKey;
  if (alg === undefined || key === undefined || alg.hash === 'sha1' || alg.hash === 'md5') return false;
  if (alg.key !== parent.publicKeyAlgorithm) return false;
  try {
    if (alg.key === 'ed25519') return verify(null, child.tbs, key, child.signature);
    return verify(alg.hash, child.tbs, key, child.signature);
  } catch {
    return false;
  }
}

function validAt(cert: Certificate, now: Date): boolean {
  return now.getTime() >= cert.notBefore.getTime() && now.getTime() <= cert.notAfter.getTime();
}

const EKU_ANY = '2.5.29.37.0';
const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const EKU_SGC = ['1.3.6.1.4.1.311.10.3.3', '2.16.840.1.113730.4.1'];

/**
 * Go's Verify with no `KeyUsages` asks for serverAuth: every certificate in the chain that has an
 * EKU extension must allow it (or any usage, or server-gated crypto).
 */
function chainAllowsServerAuth(chain: readonly Certificate[]): boolean {
  return chain.every((c) => {
    const eku = c.extKeyUsage;
    if (eku === undefined || eku.length === 0) return true;
    return eku.includes(EKU_ANY) || eku.includes(EKU_SERVER_AUTH) || EKU_SGC.some((o) => eku.includes(o));
  });
}

const MAX_CHAIN_DEPTH = 8;
const MAX_SIGNATURE_CHECKS = 100;

/**
 * Whether `leaf` chains to one of `roots` through `intermediates` at time `now`, with the checks of
 * Go's `Certificate.Verify` that notary's CA trust pinning relies on: validity of every
 * certificate at `now`, issuer/subject byte match, signature, CA and path-length constraints, no
 * unhandled critical extension in the leaf, and serverAuth EKU over the chain.
 */
export function chainsToCa(
  leaf: Certificate,
  intermediates: readonly Certificate[],
  roots: readonly Certificate[],
  now: Date,
): boolean {
  if (leaf.hasUnhandledCriticalExtension || !validAt(leaf, now)) return false;
  if (roots.some((r) => sameBytes(r.der, leaf.der))) return chainAllowsServerAuth([leaf]);
  let budget = MAX_SIGNATURE_CHECKS;
  const extend = (chain: Certificate[]): boolean => {
    const current = chain[chain.length - 1] as Certificate;
    const tryParent = (parent: Certificate, isRoot: boolean): boolean => {
      if (!sameBytes(parent.rawSubject, current.rawIssuer) || chain.some((c) => sameBytes(c.der, parent.der))) return false;
      if (!isRoot && !(parent.basicConstraintsValid && parent.isCa)) return false;
      if (budget-- <= 0 || !isSignedBy(current, parent) || !validAt(parent, now)) return false;
      if (parent.basicConstraintsValid && parent.maxPathLen >= 0 && chain.length - 1 > parent.maxPathLen) return false;
      const next = [...chain, parent];
      if (isRoot) return chainAllowsServerAuth(next);
      return next.length < MAX_CHAIN_DEPTH && extend(next);
    };
    return roots.some((r) => tryParent(r, true)) || intermediates.some((i) => tryParent(i, false));
  };
  return extend([leaf]);
}

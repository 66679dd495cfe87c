/**
 * Root-certificate rules in TUF terms (docs/formats.md §3.4, §3.5, §5.4):
 * - `checkCertificate`: notary's `ValidateCertificate`, with expiry only when a clock is given;
 * - `rootLeafCertificates`: which keys of a root role carry a usable leaf certificate for a GUN
 *   (exactly one non-CA certificate, first in its bundle, CN = GUN or a `prefix*` wildcard);
 * - `certBundleToKey` / `rootLeafKeys`: keys rebuilt from parsed certificates and re-encoded with
 *   Go's PEM writer, whose IDs must equal those in root.json for signatures to count (trap 5);
 * - trust-pinning helpers for `trust_pinning.certs` and `trust_pinning.ca`.
 *
 * Nothing here logs: a near-expiry certificate is reported as a warning string for the caller.
 */
import { CryptoError, MIN_RSA_BITS, rsaModulusBits } from '../crypto/signatures.ts';
import {
  certificatesToPem,
  chainsToCa,
  isSha1Signature,
  parseCertificate,
  parseCertificateBundle,
} from '../crypto/x509.ts';
import type { Certificate } from '../crypto/x509.ts';
import { ValidationError, VerificationError } from './errors.ts';
import { makePublicKey } from './keys.ts';
import type { PublicKey } from './keys.ts';
import type { KeyId } from './types.ts';

export type { Certificate } from '../crypto/x509.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
/** How close to NotAfter a certificate draws a warning (Go's `AddDate(0, 6, 0)`). */
const WARN_MONTHS = 6;

function addMonths(d: Date, months: number): Date {
  const out = new Date(d.getTime());
  out.setUTCMonth(out.getUTCMonth() + months);
  return out;
}

export interface CertificateCheckOptions {
  /** When given, expiry is checked against it (with one day of leeway on NotBefore). */
  readonly now?: Date;
}

/**
 * notary's `ValidateCertificate`. Throws `VerificationError('CERT_INVALID')` for a reversed
 * validity window, a SHA-1 signature or an RSA key below 2048 bits, and `CERT_EXPIRED` when `now`
 * is after NotAfter or more than a day before NotBefore. Returns the near-expiry warning (less
 * than six months left) or undefined.
 */
export function checkCertificate(cert: Certificate, opts: CertificateCheckOptions = {}): string | undefined {
  const cn = cert.commonName;
  if (cert.notBefore.getTime() > cert.notAfter.getTime()) {
    throw new VerificationError('CERT_INVALID', 'certificate validity window is invalid');
  }
  if (isSha1Signature(cert)) {
    throw new VerificationError('CERT_INVALID', `certificate with CN ${cn} uses invalid SHA1 signature algorithm`);
  }
  if (cert.publicKeyAlgorithm === 'rsa') {
    if (cert.publicKey === undefined) throw new VerificationError('CERT_INVALID', 'unable to parse RSA public key');
    if (rsaModulusBits(cert.publicKey) < MIN_RSA_BITS) throw new VerificationError('CERT_INVALID', 'RSA bit length is too short');
  }
  const now = opts.now;
  if (now === undefined) return undefined;
  const tomorrow = now.getTime() + DAY_MS;
  if (tomorrow < cert.notBefore.getTime() || now.getTime() > cert.notAfter.getTime()) {
    throw new VerificationError('CERT_EXPIRED', `certificate with CN ${cn} is expired`);
  }
  if (cert.notAfter.getTime() < addMonths(now, WARN_MONTHS).getTime()) return `certificate with CN ${cn} is near expiry`;
  return undefined;
}

/** notary's `MatchCNToGun`: equal, or a CN ending in `*` whose prefix (all `*` trimmed) starts the GUN. */
export function matchCnToGun(commonName: string, gun: string): boolean {
  if (commonName.endsWith('*')) return gun.startsWith(commonName.replace(/\*+$/, ''));
  return commonName === gun;
}

function pemOf(key: PublicKey): string {
  return Buffer.from(key.publicBytes).toString('utf8');
}

function keyTypeFor(leaf: Certificate): 'ecdsa-x509' | 'rsa-x509' {
  if (leaf.publicKeyAlgorithm === 'ecdsa') return 'ecdsa-x509';
  if (leaf.publicKeyAlgorithm === 'rsa') return 'rsa-x509';
  throw new ValidationError('INVALID_KEY', `unsupported certificate key algorithm: ${leaf.publicKeyAlgorithm}`);
}

/**
 * The TUF key for a root certificate (DER): `ecdsa-x509` or `rsa-x509` holding the certificate as
 * Go PEM text. Ed25519 certificates have no notary key type.
 */
export function rootCertificateKey(certDer: Uint8Array): PublicKey {
  let cert: Certificate;
  try {
    cert = parseCertificate(certDer);
  } catch (cause) {
    throw new ValidationError('INVALID_KEY', cause instanceof Error ? cause.message : String(cause), '', { cause });
  }
  return certBundleToKey(cert, []);
}

/** notary's `CertBundleToKey`: leaf then intermediates, re-encoded as Go PEM; type from the leaf. */
export function certBundleToKey(leaf: Certificate, intermediates: readonly Certificate[]): PublicKey {
  return makePublicKey(keyTypeFor(leaf), Buffer.from(certificatesToPem([leaf, ...intermediates]), 'utf8'));
}

/**
 * The certificates of an x509 key's bundle, in order (`LoadCertBundleFromPEM`): every PEM block
 * must be a certificate. Throws `ValidationError('INVALID_KEY')` otherwise.
 */
export function certificateBundle(key: PublicKey): Certificate[] {
  try {
    return parseCertificateBundle(pemOf(key));
  } catch (cause) {
    if (!(cause instanceof CryptoError)) throw cause;
    throw new ValidationError('INVALID_KEY', `key ${key.id}: ${cause.message}`, '', { cause });
  }
}

export interface RootLeaf {
  /** The ID of the key in root.json that carried this bundle. */
  readonly keyId: KeyId;
  readonly leaf: Certificate;
  /** The bundle's CA certificates; with a clock, only those that pass `checkCertificate`. */
  readonly intermediates: readonly Certificate[];
  /** Near-expiry warnings for the leaf and its intermediates. */
  readonly warnings: readonly string[];
}

/** A bundle with exactly one non-CA certificate, and that one first; undefined otherwise. */
function leafBundle(key: PublicKey): { leaf: Certificate; cas: Certificate[] } | undefined {
  let certs: Certificate[];
  try {
    certs = certificateBundle(key);
  } catch {
    return undefined;
  }
  const leaves = certs.filter((c) => !c.isCa);
  const [first] = certs;
  if (leaves.length !== 1 || first === undefined || first.isCa) return undefined;
  return { leaf: first, cas: certs.filter((c) => c.isCa) };
}

function tryCheck(cert: Certificate, opts: CertificateCheckOptions): { ok: boolean; warning?: string } {
  try {
    const warning = checkCertificate(cert, opts);
    return warning === undefined ? { ok: true } : { ok: true, warning };
  } catch (e) {
    if (e instanceof VerificationError) return { ok: false };
    throw e;
  }
}

/**
 * §5.4 step 2 (`parseAllCerts` + `validRootLeafCerts` + `validRootIntCerts`) over the keys of the
 * root role. With `now` (a newly downloaded root) leaves are checked with expiry and expired
 * intermediates dropped; without it (the previously trusted root) neither is. Keys whose bundle
 * does not qualify are skipped; an empty result means `unable to retrieve valid leaf certificates`.
 */
export function rootLeafCertificates(keys: Iterable<PublicKey>, gun: string, opts: CertificateCheckOptions = {}): RootLeaf[] {
  const out = new Map<KeyId, RootLeaf>();
  for (const key of keys) {
    if (out.has(key.id)) continue;
    const bundle = leafBundle(key);
    if (bundle === undefined || !matchCnToGun(bundle.leaf.commonName, gun)) continue;
    const leafCheck = tryCheck(bundle.leaf, opts);
    if (!leafCheck.ok) continue;
    const warnings = leafCheck.warning === undefined ? [] : [leafCheck.warning];
    let intermediates = bundle.cas;
    if (opts.now !== undefined) {
      intermediates = [];
      for (const ca of bundle.cas) {
        const r = tryCheck(ca, opts);
        if (!r.ok) continue;
        intermediates.push(ca);
        if (r.warning !== undefined) warnings.push(r.warning);
      }
    }
    out.set(key.id, { keyId: key.id, leaf: bundle.leaf, intermediates, warnings });
  }
  return [...out.values()];
}

/**
 * `CertsToKeys`: the keys signatures are checked against, rebuilt from the parsed certificates and
 * keyed by their own (recomputed) IDs.
 */
export function rootLeafKeys(leaves: Iterable<RootLeaf>): Map<KeyId, PublicKey> {
  const keys = new Map<KeyId, PublicKey>();
  for (const l of leaves) {
    const key = certBundleToKey(l.leaf, l.intermediates);
    keys.set(key.id, key);
  }
  return keys;
}

/** `trust_pinning.certs`: the rebuilt bundle's key ID is one of the pinned certificate IDs. */
export function leafMatchesPinnedIds(leaf: RootLeaf, pinnedIds: readonly string[]): boolean {
  return pinnedIds.includes(certBundleToKey(leaf.leaf, leaf.intermediates).id);
}

/**
 * The usable CAs of a `trust_pinning.ca` PEM bundle: every block must be a certificate, and those
 * failing `checkCertificate` at `now` are ignored. Throws `ROOT_UNTRUSTED` when none remain.
 */
export function pinnedCaCertificates(pemText: string, now: Date): Certificate[] {
  let certs: Certificate[];
  try {
    certs = parseCertificateBundle(pemText);
  } catch (cause) {
    throw new VerificationError('ROOT_UNTRUSTED', 'could not validate the path to a trusted root: could not load root cert from CA path', undefined, { cause });
  }
  const usable = certs.filter((c) => tryCheck(c, { now }).ok);
  if (usable.length === 0) {
    throw new VerificationError('ROOT_UNTRUSTED', 'could not validate the path to a trusted root: invalid CA certs provided');
  }
  return usable;
}

/** `trust_pinning.ca`: the leaf chains to one of the CAs, using the bundle's intermediates. */
export function leafChainsToCa(leaf: RootLeaf, cas: readonly Certificate[], now: Date): boolean {
  return chainsToCa(leaf.leaf, leaf.intermediates, cas, now);
}

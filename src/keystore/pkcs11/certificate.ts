/**
 * Root certificates (docs/formats.md §3.4) for keys whose private half never leaves a token:
 * the `CN=<GUN>` certificate a repository's root role lists, and the `CN=<role>` certificate
 * notary stores next to a Yubikey key (§11).
 *
 * How: `createRootCertificate` (src/crypto) only signs with a private KeyObject. So the
 * certificate is first made with a throw-away P-256 key — which fixes every field exactly as
 * notary's template does — then its SubjectPublicKeyInfo is replaced by the token key's and the
 * TBS is signed again by the token. The output is therefore byte-for-byte the shape
 * `createRootCertificate` gives, ECDSA-with-SHA256 over P-256.
 *
 * Contract: `signRaw(tbs)` returns ECDSA P-256 over SHA-256(tbs) as raw r‖s (a `Signer`'s
 * bytes); the result is checked against `spki` before the certificate is returned.
 */
import { createRootCertificate, parseCertificate } from '../../crypto/x509.ts';
import { derBitString, derSequence, derUnsignedInteger, readDerSequence, TAG } from '../../crypto/der.ts';
import { generateKey } from '../../crypto/private-keys.ts';
import { ecdsaVerify, importSpki } from '../../crypto/signatures.ts';
import { Pkcs11Error } from './errors.ts';

export interface TokenCertificateParams {
  /** The subject and issuer common name: a GUN, or a role name for notary's Yubikey objects. */
  readonly commonName: string;
  /** DER SubjectPublicKeyInfo of the token's P-256 key. */
  readonly spki: Uint8Array;
  readonly now: Date;
  readonly serial?: bigint;
  readonly signRaw: (tbs: Uint8Array) => Promise<Uint8Array>;
}

/** The TBSCertificate elements, in order, as whole encodings. */
function tbsElements(certDer: Uint8Array): { tbs: Uint8Array[]; algorithm: Uint8Array } {
  const cert = readDerSequence(certDer, 'certificate');
  const tbsReader = cert.sequence('TBSCertificate');
  const algorithm = cert.read(TAG.SEQUENCE).encoded;
  const tbs = tbsReader.remaining().map((e) => e.encoded);
  return { tbs, algorithm };
}

/** ECDSA-Sig-Value DER of a raw r‖s signature. */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return derSequence(derUnsignedInteger(raw.subarray(0, half)), derUnsignedInteger(raw.subarray(half)));
}

/** Creates the certificate with the token key as its key and its signer. */
export async function createTokenRootCertificate(params: TokenCertificateParams): Promise<Uint8Array> {
  const template = createRootCertificate({
    gun: params.commonName, privateKey: generateKey('ecdsa'), now: params.now,
    ...(params.serial !== undefined ? { serial: params.serial } : {}),
  });
  const { tbs: parts, algorithm } = tbsElements(template);
  // version, serial, signature, issuer, validity, subject, subjectPublicKeyInfo, extensions
  if (parts.length !== 8) throw new Pkcs11Error('PKCS11_ERROR', 'unexpected root certificate template');
  parts[6] = params.spki;
  const tbs = derSequence(...parts);
  const raw = await params.signRaw(tbs);
  if (raw.length !== 64 || !ecdsaVerify(importSpki(params.spki), tbs, raw)) {
    throw new Pkcs11Error('SIGN_FAILED', 'the token returned a certificate signature that does not verify');
  }
  const der = derSequence(tbs, algorithm, derBitString(ecdsaRawToDer(raw)));
  parseCertificate(der);
  return der;
}

/**
 * The self-signed root certificate notary generates for a root key (docs/formats.md §3.4),
 * encoded the way Go's `x509.CreateCertificate` encodes notary's template: subject = issuer =
 * `CN=<GUN>` only, random serial below 2^128, NotBefore = now, NotAfter = now + 3650 days,
 * KeyUsage digitalSignature|keyEncipherment (critical), ExtKeyUsage codeSigning, BasicConstraints
 * CA:FALSE (critical), in that order, and no SKI/AKI.
 *
 * Deterministic given `serial` (Ed25519 and RSA PKCS#1 signatures are deterministic too); the
 * clock is the caller's `now`.
 */
import { randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { VouchError } from '../errors.ts';
import { CryptoError, keyAlgorithm, spkiOf } from './signatures.ts';
import {
  derBitString,
  derBoolean,
  derDirectoryString,
  derExplicit,
  derInteger,
  derNull,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTime,
} from './der.ts';

export const ROOT_CERT_VALIDITY_DAYS = 3650;
const DAY_MS = 24 * 60 * 60 * 1000;
const SERIAL_LIMIT = 1n << 128n;

export interface RootCertificateParams {
  /** The collection's GUN: the certificate's only subject attribute. */
  readonly gun: string;
  readonly privateKey: KeyObject;
  readonly now: Date;
  /** Fixed serial for reproducible output; random in [0, 2^128) when absent. */
  readonly serial?: bigint;
}

interface SigningScheme {
  readonly algorithm: Uint8Array;
  readonly sign: (tbs: Uint8Array) => Uint8Array;
}

/** Go's default signature algorithm per key: SHA-256/384/512 with the curve size, SHA-256 for RSA. */
function schemeFor(key: KeyObject): SigningScheme {
  const alg = keyAlgorithm(key);
  if (alg === 'ed25519') {
    return { algorithm: derSequence(derOid('1.3.101.112')), sign: (tbs) => sign(null, tbs, key) };
  }
  if (alg === 'rsa') {
    return {
      algorithm: derSequence(derOid('1.2.840.113549.1.1.11'), derNull()),
      sign: (tbs) => sign('sha256', tbs, key),
    };
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const [oid, hash] =
    curve === 'secp384r1'
      ? ['1.2.840.10045.4.3.3', 'sha384']
      : curve === 'secp521r1'
        ? ['1.2.840.10045.4.3.4', 'sha512']
        : ['1.2.840.10045.4.3.2', 'sha256'];
  return { algorithm: derSequence(derOid(oid)), sign: (tbs) => sign(hash, tbs, { key, dsaEncoding: 'der' }) };
}

function randomSerial(): bigint {
  return BigInt('0x' + randomBytes(16).toString('hex'));
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical
    ? derSequence(derOid(oid), derBoolean(true), derOctetString(value))
    : derSequence(derOid(oid), derOctetString(value));
}

/** KeyUsage digitalSignature (bit 0) | keyEncipherment (bit 2): one byte 0b10100000, 5 unused bits. */
const ROOT_EXTENSIONS = derExplicit(
  3,
  derSequence(
    extension('2.5.29.15', true, derBitString(Uint8Array.of(0xa0), 5)),
    extension('2.5.29.37', false, derSequence(derOid('1.3.6.1.5.5.7.3.3'))),
    extension('2.5.29.19', true, derSequence()),
  ),
);

/** DER of a new self-signed root certificate for `gun`, signed by `privateKey`. */
export function createRootCertificate(params: RootCertificateParams): Uint8Array {
  const { gun, privateKey, now } = params;
  if (privateKey.type !== 'private') throw new CryptoError('UNSUPPORTED_KEY', 'a root certificate needs a private key');
  const serial = params.serial ?? randomSerial();
  if (serial < 0n || serial >= SERIAL_LIMIT) throw new VouchError('MISUSE', 'certificate serial must be in [0, 2^128)');
  if (Number.isNaN(now.getTime())) throw new VouchError('MISUSE', 'invalid certificate start time');
  const scheme = schemeFor(privateKey);
  // Go encodes whole seconds, so both bounds are truncated alike and stay exactly 3650 days apart.
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + ROOT_CERT_VALIDITY_DAYS * DAY_MS);
  const name = derSequence(derSet(derSequence(derOid('2.5.4.3'), derDirectoryString(gun))));
  const tbs = derSequence(
    derExplicit(0, derInteger(2n)),
    derInteger(serial),
    scheme.algorithm,
    name,
    derSequence(derTime(notBefore), derTime(notAfter)),
    name,
    spkiOf(privateKey),
    ROOT_EXTENSIONS,
  );
  return derSequence(tbs, scheme.algorithm, derBitString(new Uint8Array(scheme.sign(tbs))));
}

/**
 * The TLS material of the embedded default server: a private CA made on first start and a server
 * certificate it issues for the loopback names, so notary, docker and vouch can trust the server
 * by pinning one CA file.
 *
 * Contract: `createServerPki(now, names)` returns PEM text of a P-256 CA (10 years, CA:TRUE,
 * keyCertSign|cRLSign, critical) and a leaf (2 years, serverAuth, digitalSignature, CA:FALSE)
 * whose subjectAltName lists every DNS name and IP address given — Go's crypto/tls ignores the
 * CN. `needsRenewal` is true when the leaf expires within 30 days or does not chain to the CA.
 */
import { X509Certificate, createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { encodePem } from '../crypto/pem.ts';
import { spkiOf } from '../crypto/signatures.ts';
import {
  derBitString, derBoolean, derDirectoryString, derExplicit, derInteger, derOctetString, derOid, derSequence, derSet, derTime, derTlv,
} from '../crypto/der.ts';

const DAY_MS = 86_400_000;
const ECDSA_SHA256 = derSequence(derOid('1.2.840.10045.4.3.2'));

export interface ServerPki {
  readonly caCertPem: string;
  readonly caKeyPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

function ext(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? derSequence(derOid(oid), derBoolean(true), derOctetString(value)) : derSequence(derOid(oid), derOctetString(value));
}

function name(cn: string): Uint8Array {
  return derSequence(derSet(derSequence(derOid('2.5.4.3'), derDirectoryString(cn))));
}

function keyId(key: KeyObject): Uint8Array {
  return createHash('sha1').update(spkiOf(key)).digest();
}

function ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return Uint8Array.from(ip.split('.').map(Number));
  const [head = '', tail = ''] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

function subjectAltNames(names: readonly string[]): Uint8Array {
  // GeneralName: [2] dNSName IA5String, [7] iPAddress OCTET STRING, both implicit primitives.
  return derSequence(...names.map((n) => (isIP(n) !== 0 ? derTlv(0x87, ipBytes(n)) : derTlv(0x82, Buffer.from(n, 'ascii')))));
}

interface CertSpec {
  readonly subject: string;
  readonly issuer: string;
  readonly publicKey: KeyObject;
  readonly signer: KeyObject;
  readonly notBefore: Date;
  readonly days: number;
  readonly extensions: readonly Uint8Array[];
}

function certificate(spec: CertSpec): string {
  const serial = BigInt(`0x${randomBytes(16).toString('hex')}`) >> 1n;
  const notAfter = new Date(spec.notBefore.getTime() + spec.days * DAY_MS);
  const tbs = derSequence(
    derExplicit(0, derInteger(2n)), derInteger(serial), ECDSA_SHA256, name(spec.issuer),
    derSequence(derTime(spec.notBefore), derTime(notAfter)), name(spec.subject), spkiOf(spec.publicKey),
    derExplicit(3, derSequence(...spec.extensions)),
  );
  const signature = sign('sha256', tbs, { key: spec.signer, dsaEncoding: 'der' });
  return encodePem({ type: 'CERTIFICATE', bytes: derSequence(tbs, ECDSA_SHA256, derBitString(new Uint8Array(signature))) });
}

function keyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A CA and a server certificate for `names` (DNS names and IP addresses). */
export function createServerPki(now: Date, names: readonly string[], caKeyPemText?: string, caCertPemText?: string): ServerPki {
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 60_000);
  let caKey: KeyObject;
  let caCertPem: string;
  if (caKeyPemText !== undefined && caCertPemText !== undefined) {
    caKey = createPrivateKey(caKeyPemText);
    caCertPem = caCertPemText;
  } else {
    caKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    caCertPem = certificate({
      subject: 'Vouch trust server CA', issuer: 'Vouch trust server CA', publicKey: caKey, signer: caKey, notBefore, days: 3650,
      extensions: [
        ext('2.5.29.15', true, derBitString(Uint8Array.of(0x06), 1)), // keyCertSign | cRLSign
        ext('2.5.29.19', true, derSequence(derBoolean(true))),
        ext('2.5.29.14', false, derOctetString(keyId(caKey))),
      ],
    });
  }
  const leafKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const certPem = certificate({
    subject: names[0] ?? 'localhost', issuer: 'Vouch trust server CA', publicKey: leafKey, signer: caKey, notBefore, days: 730,
    extensions: [
      ext('2.5.29.15', true, derBitString(Uint8Array.of(0x80), 7)), // digitalSignature
      ext('2.5.29.37', false, derSequence(derOid('1.3.6.1.5.5.7.3.1'))),
      ext('2.5.29.19', true, derSequence()),
      ext('2.5.29.35', false, derSequence(derTlv(0x80, keyId(caKey)))),
      ext('2.5.29.17', false, subjectAltNames(names)),
    ],
  });
  return { caCertPem, caKeyPem: keyPem(caKey), certPem, keyPem: keyPem(leafKey) };
}

/** True when the leaf should be re-issued: near expiry, unparsable, or not issued by the CA. */
export function needsRenewal(certPem: string, caCertPem: string, now: Date): boolean {
  try {
    const leaf = new X509Certificate(certPem);
    const ca = new X509Certificate(caCertPem);
    return new Date(leaf.validTo).getTime() - now.getTime() < 30 * DAY_MS || !leaf.verify(ca.publicKey);
  } catch {
    return true;
  }
}

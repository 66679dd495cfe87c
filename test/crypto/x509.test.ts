import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from '../helpers/keys.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeFirstPem, encodePem } from '../../src/crypto/pem.ts';
import { CryptoError } from '../../src/crypto/signatures.ts';
import {
  chainsToCa,
  createRootCertificate,
  firstCertificate,
  isSha1Signature,
  isSignedBy,
  parseCertificate,
  parseCertificateBundle,
  type Certificate,
} from '../../src/crypto/x509.ts';
import { NOTARY_COMPAT } from '../helpers/fixtures.js';

const FIXTURE_ROOT = `${NOTARY_COMPAT}/notary0.3/tuf/docker.com/notary0.3/tst/metadata/root.json`;
const CERTS = new URL('../fixtures/certs/', import.meta.url);
const DAY_MS = 86_400_000;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function fixtureRootCertPem(): string {
  const root = JSON.parse(readFileSync(FIXTURE_ROOT, 'utf8'));
  const key = root.signed.keys['354e203ba09dbe17807b6a9d191bff887167c06d121e738d849446a9c76c2866'];
  return Buffer.from(key.keyval.public, 'base64').toString('utf8');
}

function loadCert(name: string): Certificate {
  return parseCertificateBundle(readFileSync(new URL(name, CERTS), 'utf8'))[0]!;
}

function withPemFile<T>(pem: string, f: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-x509-'));
  try {
    const path = join(dir, 'cert.pem');
    writeFileSync(path, pem);
    return f(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The extensions block notary's template produces: KU (critical), EKU codeSigning, BC CA:FALSE (critical). */
const ROOT_EXTENSIONS_HEX =
  'a3353033300e0603551d0f0101ff0404030205a030130603551d25040c300a06082b06010505070303300c0603551d130101ff04023000';

describe('createRootCertificate (§3.4, vector 12)', () => {
  const now = new Date('2026-03-04T05:06:07.890Z');
  const gun = 'docker.io/library/alpine';
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  it('has notary’s exact shape, and openssl reads and verifies it', () => {
    const der = createRootCertificate({ gun, privateKey: p256.privateKey, now, serial: 0x1234n });
    const pem = encodePem({ type: 'CERTIFICATE', bytes: der });
    const lines = pem.split('\n');
    assert.equal(lines.pop(), '');
    const lengths = lines.map((l) => l.length);
    assert.equal(lengths[0], 27);
    assert.equal(lengths[lengths.length - 1], 25);
    const body = lengths.slice(1, -1);
    assert.ok(body.slice(0, -1).every((n) => n === 64) && (body.at(-1) ?? 0) <= 64 && (body.at(-1) ?? 0) > 0, String(lengths));

    const cert = parseCertificate(der);
    assert.equal(cert.commonName, gun);
    assert.deepEqual(cert.rawIssuer, cert.rawSubject);
    assert.equal(cert.notBefore.toISOString(), '2026-03-04T05:06:07.000Z');
    assert.equal(cert.notAfter.getTime() - cert.notBefore.getTime(), 3650 * DAY_MS);
    assert.equal(cert.isCa, false);
    assert.equal(cert.basicConstraintsValid, true);
    assert.deepEqual(cert.extKeyUsage, ['1.3.6.1.5.5.7.3.3']);
    assert.equal(cert.keyUsage, 1 | 4);
    assert.equal(cert.signatureAlgorithm, '1.2.840.10045.4.3.2');
    assert.ok(hex(cert.tbs).endsWith(ROOT_EXTENSIONS_HEX), 'extensions exactly KU, EKU, BC and nothing else');
    assert.ok(isSignedBy(cert, { ...cert, basicConstraintsValid: true, isCa: true, keyUsage: 0 }));

    withPemFile(pem, (path) => {
      const text = openssl(['x509', '-in', path, '-text', '-noout']);
      assert.match(text, /Version: 3 \(0x2\)/);
      assert.match(text, /Serial Number: 4660 \(0x1234\)/);
      assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
      assert.match(text, /Issuer: CN = docker.io\/library\/alpine\n/);
      assert.match(text, /Subject: CN = docker.io\/library\/alpine\n/);
      assert.match(text, /Not Before: Mar {2}4 05:06:07 2026 GMT/);
      assert.match(text, /Not After : Mar {2}1 05:06:07 2036 GMT/);
      assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
      assert.match(text, /X509v3 Extended Key Usage: \n\s+Code Signing\n/);
      assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
      assert.doesNotMatch(text, /Key Identifier/);
      assert.equal(openssl(['verify', '-check_ss_sig', '-CAfile', path, path]).trim(), `${path}: OK`);
    });
  });

  it('reproduces notary 0.3’s certificate byte for byte, apart from the key', () => {
    const fixture = parseCertificate(decodeFirstPem(fixtureRootCertPem()).bytes);
    // TBS: SEQUENCE(len 2) [0]{INTEGER 2} INTEGER(len) serial …
    const m = /^3082....a00302010202(..)/.exec(hex(fixture.tbs));
    assert.ok(m !== null);
    const serialLen = parseInt(m[1]!, 16);
    const serial = BigInt('0x' + hex(fixture.tbs).slice(m[0].length, m[0].length + serialLen * 2));
    const mine = parseCertificate(
      createRootCertificate({ gun: fixture.commonName, privateKey: p256.privateKey, now: fixture.notBefore, serial }),
    );
    const swapped = hex(mine.tbs).replace(hex(mine.spki), hex(fixture.spki));
    assert.equal(swapped, hex(fixture.tbs));
    assert.equal(fixture.notAfter.getTime() - fixture.notBefore.getTime(), 3650 * DAY_MS);
  });

  it('serials are random below 2^128, and out-of-range serials are refused', () => {
    const serials = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const cert = parseCertificate(createRootCertificate({ gun, privateKey: p256.privateKey, now }));
      const m = /^3082....a00302010202(..)/.exec(hex(cert.tbs))!;
      assert.ok(parseInt(m[1]!, 16) <= 17);
      serials.add(hex(cert.tbs).slice(0, 60));
    }
    assert.equal(serials.size, 4);
    assert.throws(() => createRootCertificate({ gun, privateKey: p256.privateKey, now, serial: 1n << 128n }), { code: 'MISUSE' });
    assert.throws(() => createRootCertificate({ gun, privateKey: p256.privateKey, now, serial: -1n }), { code: 'MISUSE' });
    assert.throws(() => createRootCertificate({ gun, privateKey: p256.publicKey, now }), { code: 'UNSUPPORTED_KEY' });
  });

  it('encodes the CN as PrintableString when it can, UTF8String otherwise (as Go does)', () => {
    const printable = parseCertificate(createRootCertificate({ gun: 'a.b/c-d', privateKey: p256.privateKey, now, serial: 1n }));
    assert.equal(hex(printable.rawSubject), '3012' + '3110' + '300e' + '0603550403' + '1307' + hex(Buffer.from('a.b/c-d')));
    const utf8 = parseCertificate(createRootCertificate({ gun: 'a_b/é', privateKey: p256.privateKey, now, serial: 1n }));
    assert.equal(utf8.commonName, 'a_b/é');
    assert.ok(hex(utf8.rawSubject).includes('0c06' + hex(Buffer.from('a_b/é'))));
  });

  it('signs RSA keys with SHA256WithRSA, P-384 with ecdsa-with-SHA384 and Ed25519 keys with Ed25519', () => {
    const cases = [
      [generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, '1.2.840.113549.1.1.11', 'sha256WithRSAEncryption'],
      [generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, '1.2.840.10045.4.3.3', 'ecdsa-with-SHA384'],
      [generateKeyPairSync('ed25519').privateKey, '1.3.101.112', 'ED25519'],
    ] as const;
    for (const [privateKey, oid, name] of cases) {
      const der = createRootCertificate({ gun, privateKey, now });
      const cert = parseCertificate(der);
      assert.equal(cert.signatureAlgorithm, oid);
      withPemFile(encodePem({ type: 'CERTIFICATE', bytes: der }), (path) => {
        assert.match(openssl(['x509', '-in', path, '-text', '-noout']), new RegExp(`Signature Algorithm: ${name}`));
        assert.equal(openssl(['verify', '-check_ss_sig', '-CAfile', path, path]).trim(), `${path}: OK`);
      });
    }
  });

  it('uses GeneralizedTime from 2050 on', () => {
    const cert = createRootCertificate({ gun, privateKey: p256.privateKey, now: new Date('2045-01-01T00:00:00Z'), serial: 7n });
    assert.ok(hex(cert).includes(hex(Buffer.from('450101000000Z'))), 'UTCTime before 2050');
    assert.ok(hex(cert).includes('180f' + hex(Buffer.from('20541230000000Z'))), 'GeneralizedTime after');
    assert.equal(parseCertificate(cert).notAfter.toISOString(), '2054-12-30T00:00:00.000Z');
  });
});

describe('parsing', () => {
  it('reads the notary 0.3 root certificate', () => {
    const cert = firstCertificate(fixtureRootCertPem());
    assert.equal(cert.commonName, 'docker.com/notary0.3/tst');
    assert.equal(cert.notBefore.toISOString(), '2016-07-27T22:56:32.000Z');
    assert.equal(cert.notAfter.toISOString(), '2026-07-25T22:56:32.000Z');
    assert.equal(cert.publicKeyAlgorithm, 'ecdsa');
    assert.equal(cert.version, 3);
    assert.equal(isSha1Signature(cert), false);
  });

  it('flags SHA-1 signatures', () => {
    assert.equal(isSha1Signature(loadCert('sha1-rsa.pem')), true);
    assert.equal(isSha1Signature(loadCert('sha1-ecdsa.pem')), true);
  });

  it('bundles: only CERTIFICATE blocks, at least one; firstCertificate skips blocks with headers', () => {
    const leaf = readFileSync(new URL('leaf.pem', CERTS), 'utf8');
    const int = readFileSync(new URL('intermediate.pem', CERTS), 'utf8');
    assert.deepEqual(parseCertificateBundle(leaf + int).map((c) => c.commonName), ['example.com/org/*', 'Vouch Test Intermediate CA']);
    const pub = encodePem({ type: 'PUBLIC KEY', bytes: new Uint8Array([1]) });
    assert.throws(() => parseCertificateBundle(leaf + pub), { code: 'INVALID_CERTIFICATE', message: 'invalid pem block type: PUBLIC KEY' });
    assert.throws(() => parseCertificateBundle('nothing'), { code: 'INVALID_CERTIFICATE', message: 'no valid certificates found' });
    const withHeader = encodePem({ type: 'CERTIFICATE', headers: { role: 'root' }, bytes: decodeFirstPem(int).bytes });
    assert.equal(firstCertificate(withHeader + leaf).commonName, 'example.com/org/*');
    assert.throws(() => firstCertificate(withHeader), { code: 'INVALID_CERTIFICATE', message: 'no certificates found in PEM data' });
  });

  it('property: random bytes and mutated certificates only ever raise CryptoError', () => {
    const der = decodeFirstPem(fixtureRootCertPem()).bytes;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 }), (junk, at, x) => {
        const mutated = new Uint8Array(der);
        mutated[at] = (mutated[at] as number) ^ x;
        for (const input of [junk, mutated, der.subarray(0, at)]) {
          try {
            parseCertificate(input);
          } catch (e) {
            assert.ok(e instanceof CryptoError && e.code === 'INVALID_CERTIFICATE', String(e));
          }
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('chainsToCa (trust_pinning.ca)', () => {
  const ca = loadCert('ca.pem');
  const int = loadCert('intermediate.pem');
  const leaf = loadCert('leaf.pem');
  const now = new Date(leaf.notBefore.getTime() + 365 * DAY_MS);

  it('accepts a leaf that chains through its intermediates', () => {
    assert.equal(chainsToCa(leaf, [int], [ca], now), true);
    assert.equal(chainsToCa(leaf, [], [int], now), true);
    assert.equal(chainsToCa(leaf, [ca, int], [loadCert('other-ca.pem'), ca], now), true);
  });

  it('refuses missing links, other CAs, and times outside any certificate’s window', () => {
    assert.equal(chainsToCa(leaf, [], [ca], now), false);
    assert.equal(chainsToCa(leaf, [int], [loadCert('other-ca.pem')], now), false);
    assert.equal(chainsToCa(leaf, [int], [ca], new Date(leaf.notBefore.getTime() - 1000)), false);
    assert.equal(chainsToCa(leaf, [int], [ca], new Date(ca.notAfter.getTime() + 1000)), false);
    // A certificate without CA:TRUE cannot act as an intermediate (nor as the issuing root).
    assert.equal(chainsToCa(leaf, [{ ...int, isCa: false }], [ca], now), false);
    assert.equal(chainsToCa(leaf, [], [{ ...int, isCa: false }], now), false);
    // KeyUsage present without keyCertSign forbids signing certificates.
    assert.equal(chainsToCa(leaf, [], [{ ...int, keyUsage: 1 }], now), false);
    // pathLenConstraint 0 on the root allows no intermediate below it.
    assert.equal(chainsToCa(leaf, [int], [{ ...ca, maxPathLen: 0 }], now), false);
    assert.equal(chainsToCa(leaf, [int], [{ ...ca, maxPathLen: 1 }], now), true);
    // An unknown critical extension in the leaf makes Go refuse it.
    assert.equal(chainsToCa({ ...leaf, hasUnhandledCriticalExtension: true }, [int], [ca], now), false);
  });

  it('refuses a leaf whose EKU lacks serverAuth, as Go’s Verify does by default', () => {
    const codeSigning = loadCert('leaf-codesigning.pem');
    assert.deepEqual(codeSigning.extKeyUsage, ['1.3.6.1.5.5.7.3.3']);
    assert.equal(chainsToCa(codeSigning, [int], [ca], now), false);
    assert.equal(chainsToCa({ ...codeSigning, extKeyUsage: undefined }, [int], [ca], now), true);
    assert.equal(chainsToCa({ ...codeSigning, extKeyUsage: ['1.3.6.1.5.5.7.3.3', '1.3.6.1.5.5.7.3.1'] }, [int], [ca], now), true);
    assert.equal(chainsToCa({ ...codeSigning, extKeyUsage: ['2.5.29.37.0'] }, [int], [ca], now), true);
  });

  it('refuses a forged signature', () => {
    const sig = new Uint8Array(leaf.signature);
    sig[sig.length - 3] = (sig[sig.length - 3] as number) ^ 1;
    assert.equal(chainsToCa({ ...leaf, signature: sig }, [int], [ca], now), false);
    assert.equal(isSignedBy(leaf, int), true);
    assert.equal(isSignedBy(int, ca), true);
    assert.equal(isSignedBy(leaf, ca), false);
  });
});

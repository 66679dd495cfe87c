import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from '../helpers/keys.ts';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { VouchError } from '../../src/errors.ts';
import { decodeFirstPem, encodePem } from '../../src/crypto/pem.ts';
import { createRootCertificate, parseCertificate, type Certificate } from '../../src/crypto/x509.ts';
import { VerificationError, type VerificationCode } from '../../src/tuf/errors.ts';
import {
  certBundleToKey,
  certificateBundle,
  checkCertificate,
  leafChainsToCa,
  leafMatchesPinnedIds,
  matchCnToGun,
  pinnedCaCertificates,
  rootCertificateKey,
  rootLeafCertificates,
  rootLeafKeys,
} from '../../src/tuf/certs.ts';
import { canonicalKeyId, makePublicKey, parsePublicKey, publicKeyFromPrivate, verifySignature, type PublicKey } from '../../src/tuf/keys.ts';
import { NOTARY_COMPAT } from '../helpers/fixtures.js';

const ROOT = `${NOTARY_COMPAT}/notary0.3/tuf/docker.com/notary0.3/tst/metadata/root.json`;
const CERT_KEY = '354e203ba09dbe17807b6a9d191bff887167c06d121e738d849446a9c76c2866';
const GUN = 'docker.com/notary0.3/tst';
const CERTS = new URL('../fixtures/certs/', import.meta.url);
const DAY_MS = 86_400_000;

const pemFile = (name: string): string => readFileSync(new URL(name, CERTS), 'utf8');
const certFile = (name: string): Certificate => parseCertificate(decodeFirstPem(pemFile(name)).bytes);
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

function fixtureRootKeys(): PublicKey[] {
  const root = JSON.parse(readFileSync(ROOT, 'utf8'));
  return Object.entries(root.signed.keys as Record<string, unknown>).map(([id, v]) => parsePublicKey(v, `keys.${id}`));
}

function fixtureCert(): Certificate {
  const key = fixtureRootKeys().find((k) => k.id === CERT_KEY)!;
  return certificateBundle(key)[0]!;
}

function throwsVerification(f: () => unknown, code: VerificationCode, message: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof VerificationError, `expected VerificationError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.message, message);
    return true;
  });
}

describe('checkCertificate (§3.5)', () => {
  it('the notary 0.3 root certificate: valid in 2020, near expiry in 2026, expired at 2026-11-25', () => {
    const cert = fixtureCert();
    assert.equal(checkCertificate(cert), undefined);
    assert.equal(checkCertificate(cert, { now: new Date('2020-01-01T00:00:00Z') }), undefined);
    assert.equal(checkCertificate(cert, { now: new Date('2026-03-01T00:00:00Z') }), `certificate with CN ${GUN} is near expiry`);
    throwsVerification(() => checkCertificate(cert, { now: new Date('2026-11-25T00:00:00Z') }), 'CERT_EXPIRED', `certificate with CN ${GUN} is expired`);
    throwsVerification(() => checkCertificate(cert, { now: new Date('2026-07-25T22:56:33Z') }), 'CERT_EXPIRED', `certificate with CN ${GUN} is expired`);
    assert.ok(checkCertificate(cert, { now: new Date('2026-07-25T22:56:32Z') }) !== undefined, 'NotAfter itself is still valid');
  });

  it('not yet valid: one day of leeway on NotBefore, no more', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const start = new Date('2030-06-01T12:00:00Z');
    const cert = parseCertificate(createRootCertificate({ gun: 'g/h', privateKey, now: start }));
    assert.equal(checkCertificate(cert, { now: new Date(start.getTime() - DAY_MS) }), undefined);
    throwsVerification(() => checkCertificate(cert, { now: new Date(start.getTime() - DAY_MS - 1000) }), 'CERT_EXPIRED', 'certificate with CN g/h is expired');
    // Six months (calendar) before NotAfter the warning starts.
    const end = cert.notAfter;
    const sixBefore = new Date(end.getTime());
    sixBefore.setUTCMonth(sixBefore.getUTCMonth() - 6);
    assert.equal(checkCertificate(cert, { now: new Date(sixBefore.getTime() - 1000) }), undefined);
    assert.equal(checkCertificate(cert, { now: new Date(sixBefore.getTime() + 1000) }), 'certificate with CN g/h is near expiry');
  });

  it('refuses SHA-1 signatures, short RSA keys and reversed windows, with or without a clock', () => {
    for (const now of [undefined, new Date('2027-01-01T00:00:00Z')]) {
      throwsVerification(() => checkCertificate(certFile('sha1-rsa.pem'), { now }), 'CERT_INVALID', 'certificate with CN sha1-rsa uses invalid SHA1 signature algorithm');
      throwsVerification(() => checkCertificate(certFile('sha1-ecdsa.pem'), { now }), 'CERT_INVALID', 'certificate with CN sha1-ecdsa uses invalid SHA1 signature algorithm');
      throwsVerification(() => checkCertificate(certFile('rsa1024.pem'), { now }), 'CERT_INVALID', 'RSA bit length is too short');
    }
    const cert = fixtureCert();
    throwsVerification(() => checkCertificate({ ...cert, notBefore: cert.notAfter, notAfter: cert.notBefore }), 'CERT_INVALID', 'certificate validity window is invalid');
  });
});

describe('root certificate keys (vector 12, trap 5)', () => {
  it('rootCertificateKey: ecdsa-x509 holding Go PEM text; canonical ID = the bare key’s ID', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = createRootCertificate({ gun: 'docker.io/x/y', privateKey, now: new Date('2026-01-01T00:00:00Z') });
    const key = rootCertificateKey(der);
    assert.equal(key.keyType, 'ecdsa-x509');
    const text = Buffer.from(key.publicBytes).toString('utf8');
    assert.equal(text, encodePem({ type: 'CERTIFICATE', bytes: der }));
    const lengths = text.split('\n').map((l) => l.length);
    assert.deepEqual([lengths[0], lengths.at(-2), lengths.at(-1)], [27, 25, 0]);
    assert.ok(lengths.slice(1, -3).every((n) => n === 64));
    assert.equal(canonicalKeyId(key), publicKeyFromPrivate(privateKey).id);
    const ed = generateKeyPairSync('ed25519').privateKey;
    assert.throws(() => rootCertificateKey(createRootCertificate({ gun: 'g', privateKey: ed, now: new Date(0) })), { code: 'INVALID_KEY' });
    assert.throws(() => rootCertificateKey(new Uint8Array([0x30, 0])), { code: 'INVALID_KEY' });
  });

  it('the fixture root: one valid leaf in 2020, none at 2026-11-25, one without a clock; rebuilt key ID equals the listed one', () => {
    const keys = fixtureRootKeys();
    const leaves = rootLeafCertificates(keys, GUN, { now: new Date('2020-01-01T00:00:00Z') });
    assert.deepEqual(leaves.map((l) => l.keyId), [CERT_KEY]);
    assert.deepEqual(leaves[0]!.warnings, []);
    assert.deepEqual([...rootLeafKeys(leaves).keys()], [CERT_KEY]);
    assert.deepEqual(rootLeafCertificates(keys, GUN, { now: new Date('2026-11-25T00:00:00Z') }), []);
    assert.equal(rootLeafCertificates(keys, GUN).length, 1);
    assert.deepEqual(rootLeafCertificates(keys, 'docker.com/other'), []);
    assert.equal(rootLeafCertificates(keys, GUN, { now: new Date('2026-03-01T00:00:00Z') })[0]!.warnings[0], `certificate with CN ${GUN} is near expiry`);
  });

  it('a certificate key laid out other than Go PEM rebuilds to a different ID, so its signatures would not count', () => {
    const listed = fixtureRootKeys().find((k) => k.id === CERT_KEY)!;
    const b64 = Buffer.from(decodeFirstPem(Buffer.from(listed.publicBytes).toString()).bytes).toString('base64');
    const wrapped76 = `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,76}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
    const odd = makePublicKey('ecdsa-x509', bytes(wrapped76));
    assert.notEqual(odd.id, CERT_KEY);
    const leaves = rootLeafCertificates([odd], GUN);
    assert.equal(leaves[0]!.keyId, odd.id);
    assert.deepEqual([...rootLeafKeys(leaves).keys()], [CERT_KEY]);
  });

  it('bundles must hold exactly one non-CA certificate, first; CAs after it are intermediates', () => {
    const leaf = pemFile('leaf.pem');
    const int = pemFile('intermediate.pem');
    const gun = 'example.com/org/repo';
    const now = new Date(certFile('leaf.pem').notBefore.getTime() + DAY_MS);
    const good = makePublicKey('ecdsa-x509', bytes(leaf + int));
    const [rl] = rootLeafCertificates([good], gun, { now });
    assert.ok(rl !== undefined);
    assert.equal(rl.leaf.commonName, 'example.com/org/*');
    assert.deepEqual(rl.intermediates.map((c) => c.commonName), ['Vouch Test Intermediate CA']);
    assert.equal(certBundleToKey(rl.leaf, rl.intermediates).id, good.id, 'Go PEM in, same ID out');
    assert.deepEqual(rootLeafCertificates([makePublicKey('ecdsa-x509', bytes(int + leaf))], gun, { now }), [], 'CA first');
    assert.deepEqual(rootLeafCertificates([makePublicKey('ecdsa-x509', bytes(leaf + pemFile('leaf-codesigning.pem')))], gun, { now }), [], 'two leaves');
    assert.deepEqual(rootLeafCertificates([makePublicKey('ecdsa-x509', bytes(int))], gun, { now }), [], 'no leaf');
    assert.deepEqual(rootLeafCertificates([makePublicKey('ecdsa-x509', bytes('junk'))], gun, { now }), []);
    assert.equal(rootLeafCertificates([good], 'example.com/org/a/b', { now }).length, 1, 'wildcard CN');
    assert.deepEqual(rootLeafCertificates([good], 'example.com/orgx', { now }), []);
  });

  it('with a clock, intermediates that fail the checks are dropped (and rebuild to a different key)', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const leafPem = encodePem({ type: 'CERTIFICATE', bytes: createRootCertificate({ gun: 'g/r', privateKey, now: new Date('2024-01-01T00:00:00Z') }) });
    const int = certFile('intermediate.pem');
    const key = makePublicKey('ecdsa-x509', bytes(leafPem + pemFile('intermediate.pem')));
    const beforeInt = new Date(int.notBefore.getTime() - 2 * DAY_MS);
    const [withClock] = rootLeafCertificates([key], 'g/r', { now: beforeInt });
    assert.ok(withClock !== undefined);
    assert.deepEqual(withClock.intermediates, []);
    const rebuilt = [...rootLeafKeys([withClock]).keys()];
    assert.deepEqual(rebuilt, [makePublicKey('ecdsa-x509', bytes(leafPem)).id]);
    assert.notEqual(rebuilt[0], key.id);
    const [noClock] = rootLeafCertificates([key], 'g/r');
    assert.equal(noClock!.intermediates.length, 1);
    assert.deepEqual([...rootLeafKeys([noClock!]).keys()], [key.id]);
  });

  it('matchCnToGun', () => {
    assert.equal(matchCnToGun('docker.com/notary', 'docker.com/notary'), true);
    assert.equal(matchCnToGun('docker.com/notary', 'docker.com/notary2'), false);
    assert.equal(matchCnToGun('docker.com/*', 'docker.com/notary'), true);
    assert.equal(matchCnToGun('docker.com/no*', 'docker.com/notary'), true);
    assert.equal(matchCnToGun('docker.com/**', 'docker.com/notary'), true);
    assert.equal(matchCnToGun('*', 'anything'), true);
    assert.equal(matchCnToGun('quay.io/*', 'docker.com/notary'), false);
  });
});

describe('trust pinning helpers', () => {
  const leafKey = makePublicKey('ecdsa-x509', bytes(pemFile('leaf.pem') + pemFile('intermediate.pem')));
  const now = new Date(certFile('leaf.pem').notBefore.getTime() + 30 * DAY_MS);
  const [rl] = rootLeafCertificates([leafKey], 'example.com/org/repo', { now });

  it('certs: the rebuilt bundle key ID must be pinned', () => {
    assert.ok(rl !== undefined);
    assert.equal(leafMatchesPinnedIds(rl, ['0'.repeat(64), leafKey.id]), true);
    assert.equal(leafMatchesPinnedIds(rl, [canonicalKeyId(leafKey)]), false, 'canonical IDs are not certificate IDs');
  });

  it('ca: usable CAs of a bundle, and chains through the bundle’s intermediates', () => {
    assert.ok(rl !== undefined);
    const cas = pinnedCaCertificates(pemFile('sha1-rsa.pem') + pemFile('ca.pem'), now);
    assert.deepEqual(cas.map((c) => c.commonName), ['Vouch Test Root CA']);
    assert.equal(leafChainsToCa(rl, cas, now), true);
    assert.equal(leafChainsToCa({ ...rl, intermediates: [] }, cas, now), false);
    assert.equal(leafChainsToCa(rl, pinnedCaCertificates(pemFile('other-ca.pem'), now), now), false);
    throwsVerification(() => pinnedCaCertificates(pemFile('sha1-rsa.pem'), now), 'ROOT_UNTRUSTED', 'could not validate the path to a trusted root: invalid CA certs provided');
    throwsVerification(() => pinnedCaCertificates('nothing', now), 'ROOT_UNTRUSTED', 'could not validate the path to a trusted root: could not load root cert from CA path');
  });
});

describe('robustness', () => {
  it('property: mutated certificate keys never raise anything but VouchError', () => {
    const listed = fixtureRootKeys().find((k) => k.id === CERT_KEY)!;
    const der = decodeFirstPem(Buffer.from(listed.publicBytes).toString()).bytes;
    const msg = bytes('m');
    fc.assert(
      fc.property(fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 }), fc.boolean(), (at, x, truncate) => {
        const mutated = new Uint8Array(der);
        mutated[at] = (mutated[at] as number) ^ x;
        const body = truncate ? der.subarray(0, at) : mutated;
        const key = makePublicKey('ecdsa-x509', bytes(encodePem({ type: 'CERTIFICATE', bytes: body })));
        const attempts = [
          () => rootLeafCertificates([key], GUN, { now: new Date('2020-01-01T00:00:00Z') }),
          () => rootLeafCertificates([key], GUN),
          () => canonicalKeyId(key),
          () => verifySignature(key, 'ecdsa', new Uint8Array(64), msg),
          () => certificateBundle(key).forEach((c) => checkCertificate(c, { now: new Date('2020-01-01T00:00:00Z') })),
        ];
        for (const f of attempts) {
          try {
            f();
          } catch (e) {
            assert.ok(e instanceof VouchError, String(e));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

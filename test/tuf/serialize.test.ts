/**
 * Round trip of the typed views: parse → serialize → canonical bytes must equal the signed bytes
 * of the notary fixtures and of random valid metadata, so that re-signing never changes what a
 * file says (unknown members included).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generateKeyPairSync } from '../helpers/keys.ts';
import fc from 'fast-check';
import { canonicalBytes, encodeEnvelope, type JsonObject, type JsonValue } from '../../src/tuf/canonical.ts';
import { publicKeyFromPrivate, publicKeyJson, makePublicKey } from '../../src/tuf/keys.ts';
import { checkHashStructure, isTargets, parseMetadata } from '../../src/tuf/metadata.ts';
import { serializeSigned } from '../../src/tuf/serialize.ts';
import { NOTARY_COMPAT } from '../helpers/fixtures.js';
import { pathToFileURL } from 'node:url';

const FIXTURES = pathToFileURL(`${NOTARY_COMPAT}/`);
const FIXTURE_FILES: [string, string][] = [
  ['notary0.1/tuf/docker.com/notary0.1/samplerepo/metadata/root.json', 'root'],
  ['notary0.1/tuf/docker.com/notary0.1/samplerepo/metadata/targets.json', 'targets'],
  ['notary0.1/tuf/docker.com/notary0.1/samplerepo/metadata/snapshot.json', 'snapshot'],
  ['notary0.1/tuf/docker.com/notary0.1/samplerepo/metadata/timestamp.json', 'timestamp'],
  ['notary0.3/tuf/docker.com/notary0.3/tst/metadata/root.json', 'root'],
  ['notary0.3/tuf/docker.com/notary0.3/tst/metadata/targets.json', 'targets'],
  ['notary0.3/tuf/docker.com/notary0.3/tst/metadata/targets/releases.json', 'targets/releases'],
  ['notary0.3/tuf/docker.com/notary0.3/tst/metadata/snapshot.json', 'snapshot'],
  ['notary0.3/tuf/docker.com/notary0.3/tst/metadata/timestamp.json', 'timestamp'],
];

function roundTrip(role: string, bytes: Uint8Array): { original: string; again: string } {
  const m = parseMetadata(role, bytes);
  return { original: Buffer.from(m.signedBytes).toString('utf8'), again: Buffer.from(canonicalBytes(serializeSigned(m.signed))).toString('utf8') };
}

for (const [file, role] of FIXTURE_FILES) {
  test(`fixture round trip: ${file}`, () => {
    const { original, again } = roundTrip(role, new Uint8Array(readFileSync(new URL(file, FIXTURES))));
    assert.equal(again, original);
  });
}

test('notary0.3 targets: delegation role and rsa-x509 key are written back exactly', () => {
  const bytes = new Uint8Array(readFileSync(new URL(FIXTURE_FILES[5]![0], FIXTURES)));
  const signed = serializeSigned(parseMetadata('targets', bytes).signed);
  const del = signed.delegations as JsonObject;
  assert.deepEqual(del.roles, [{ keyids: ['68243a1f948be7841403f65fc8f24d5eda9050c337e727e2eacc3d3cb5227d73'], name: 'targets/releases', paths: [''], threshold: 1 }]);
  assert.equal(((del.keys as JsonObject)['68243a1f948be7841403f65fc8f24d5eda9050c337e727e2eacc3d3cb5227d73'] as JsonObject).keytype, 'rsa-x509');
});

test('unknown members survive, target names like __proto__ stay members, absent paths stay absent', () => {
  const z32 = Buffer.alloc(32).toString('base64');
  const z64 = Buffer.alloc(64).toString('base64');
  // Written as text: JSON.parse keeps `__proto__` as an own member, as untrusted bytes would.
  const signedText =
    '{"_type":"Targets","delegations":{"keys":{},"roles":[{"keyids":[],"name":"targets/x","path_hash_prefixes":["ab"],"threshold":1}]},' +
    '"expires":"2030-01-01T00:00:00.5+01:00","targets":{' +
    `"__proto__":{"custom":{"z":[1,null]},"extra":true,"hashes":{"md5":"AAAA","sha256":"${z32}"},"length":1},` +
    `"constructor":{"hashes":{"sha512":"${z64}"},"length":0}},"version":7,"x_unknown":{"nested":["a<b"]}}`;
  const bytes = Buffer.from(`{"signed":${signedText},"signatures":[]}`);
  const m = parseMetadata('targets', bytes);
  assert.ok(isTargets(m) && m.signed.targets.has('__proto__'));
  const again = canonicalBytes(serializeSigned(m.signed));
  assert.equal(Buffer.from(m.signedBytes).toString(), signedText);
  assert.equal(Buffer.from(again).toString(), signedText);
});

// ---- random valid metadata ----

const keyPool = Array.from({ length: 3 }, () => publicKeyFromPrivate(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey));
const odd = makePublicKey('unknown-type', new Uint8Array([1, 2, 3]));
const allKeys = [...keyPool, odd];

// eslint-disable-next-line no-control-regex
const text = fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => s.replace(/[\u0000-\u001f]/g, '_'));
const memberName = text.filter((s) => s !== '__proto__');
const canonicalJson: fc.Arbitrary<JsonValue> = fc.letrec<{ v: JsonValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -1e6, max: 1e6 }),
    text,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(memberName, tie('v'), { maxKeys: 3 }),
  ),
})).v;
const unknownMembers = (known: string[]) => fc.dictionary(memberName.filter((k) => !known.includes(k)), canonicalJson, { maxKeys: 2 });
const bytesOf = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('base64'));
const expires = fc
  .tuple(fc.integer({ min: 1970, max: 2200 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }), fc.integer({ min: 0, max: 23 }), fc.option(fc.integer({ min: 1, max: 999999999 })), fc.constantFrom('Z', '+05:30', '-08:00'))
  .map(([y, mo, d, h, frac, zone]) => `${y}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}T${String(h).padStart(2, '0')}:04:05${frac === null ? '' : `.${frac}`}${zone}`);

const fileMeta = fc
  .tuple(fc.record({ sha256: bytesOf(32), sha512: bytesOf(64), other: bytesOf(5) }, { requiredKeys: ['sha256'] }), fc.integer({ min: 0, max: 2 ** 40 }), fc.option(canonicalJson, { nil: undefined }), unknownMembers(['hashes', 'length', 'custom']))
  .map(([hashes, length, custom, extra]) => ({ ...extra, hashes, length, ...(custom === undefined ? {} : { custom }) }));

const keyIdsArb = fc.subarray(allKeys, { minLength: 1 });
const keysJson = (ks: readonly (typeof allKeys)[number][]) => Object.fromEntries(ks.map((k) => [k.id, publicKeyJson(k)]));
const common = (type: string) => ({ _type: fc.constant(type), expires, version: fc.integer({ min: 1, max: 2 ** 31 }) });

const rootArb = fc
  .tuple(fc.record(common('Root')), fc.constantFrom(['root', 'targets', 'snapshot', 'timestamp'], ['root', 'targets', 'snapshot', 'timestamp', 'extra']), fc.array(fc.tuple(keyIdsArb, fc.integer({ min: 1, max: 3 }), unknownMembers(['keyids', 'threshold'])), { minLength: 5, maxLength: 5 }), unknownMembers(['_type', 'expires', 'version', 'keys', 'roles', 'consistent_snapshot']))
  .map(([c, names, roles, extra]) => {
    const used = new Set(roles.flatMap(([ks]) => ks));
    const rolesJson = Object.fromEntries(names.map((n, i) => [n, { ...roles[i]![2], keyids: roles[i]![0].map((k) => k.id), threshold: roles[i]![1] }]));
    return { ...extra, ...c, consistent_snapshot: false, keys: keysJson([...used]), roles: rolesJson };
  });

const delegationArb = fc.tuple(keyIdsArb, fc.integer({ min: 1, max: 3 }), fc.option(fc.array(text, { maxLength: 3 }), { nil: undefined }), unknownMembers(['keyids', 'threshold', 'name', 'paths']));
const targetsArb = fc
  .tuple(fc.record(common('Targets')), fc.dictionary(text, fileMeta, { maxKeys: 4 }), fc.uniqueArray(fc.constantFrom('a', 'b', 'c-d', 'e_f'), { maxLength: 3 }), fc.array(delegationArb, { minLength: 3, maxLength: 3 }), unknownMembers(['_type', 'expires', 'version', 'targets', 'delegations']))
  .map(([c, targets, names, dels, extra]) => {
    const roles = names.map((n, i) => {
      const [ks, threshold, paths, more] = dels[i]!;
      return { ...more, keyids: ks.map((k) => k.id), name: `targets/${n}`, threshold, ...(paths === undefined || paths.length === 0 ? {} : { paths }) };
    });
    const used = new Set(names.flatMap((_, i) => dels[i]![0]));
    return { ...extra, ...c, targets, delegations: { keys: keysJson([...used]), roles } };
  });

const metaArb = (required: string[], type: string) =>
  fc
    .tuple(fc.record(common(type)), fc.dictionary(text, fileMeta, { maxKeys: 3 }), fc.array(fileMeta, { minLength: required.length, maxLength: required.length }), unknownMembers(['_type', 'expires', 'version', 'meta']))
    .map(([c, more, req, extra]) => ({ ...extra, ...c, meta: { ...more, ...Object.fromEntries(required.map((r, i) => [r, req[i]!])) } }));

const cases: [string, fc.Arbitrary<JsonObject>][] = [
  ['root', rootArb],
  ['targets', targetsArb],
  ['snapshot', metaArb(['root', 'targets'], 'Snapshot')],
  ['timestamp', metaArb(['snapshot'], 'Timestamp')],
];

for (const [role, arb] of cases) {
  test(`random valid ${role} metadata round-trips (300 runs)`, () => {
    fc.assert(
      fc.property(arb, (signed) => {
        const bytes = encodeEnvelope(signed, []);
        const { original, again } = roundTrip(role, bytes);
        assert.equal(original, Buffer.from(canonicalBytes(signed)).toString('utf8'));
        assert.equal(again, original);
      }),
      { numRuns: 300 },
    );
  });
}

test('hash algorithms named like Object.prototype members are unknown algorithms, not size mismatches', () => {
  const sha256 = new Uint8Array(32);
  for (const alg of ['__proto__', 'constructor', 'toString']) {
    assert.equal(checkHashStructure(new Map([[alg, new Uint8Array(3)], ['sha256', sha256]])), undefined, alg);
    assert.equal(checkHashStructure(new Map([[alg, new Uint8Array(3)]])), 'at least one supported hash needed', alg);
  }
  assert.equal(checkHashStructure(new Map([['sha256', new Uint8Array(31)]])), 'sha256 checksum invalid');
});

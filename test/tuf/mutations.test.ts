/**
 * Property tests: random mutations of valid metadata (byte-level and JSON-level, in the spirit of
 * notary's swizzler) are rejected with typed errors and never crash. A mutation may only be
 * accepted when it left the signed content unchanged (e.g. re-ordered signatures), because
 * signatures cover the re-canonicalised `signed` tree.
 *
 * VOUCH_PROPERTY_RUNS sets the runs per role (default 10,000, as CI requires).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { VouchError } from '../../src/errors.ts';
import { parseMetadata, type Metadata, type TargetsSigned } from '../../src/tuf/metadata.ts';
import { verifySignatures, type RoleVerifier } from '../../src/tuf/verify.ts';
import type { JsonValue } from '../../src/tuf/canonical.ts';
import { NOTARY_COMPAT } from '../helpers/fixtures.js';
import { pathToFileURL } from 'node:url';

const RUNS = Number(process.env.VOUCH_PROPERTY_RUNS ?? 10_000);
const DIR = pathToFileURL(`${NOTARY_COMPAT}/notary0.1/tuf/docker.com/notary0.1/samplerepo/metadata/`);
// The delegation (signed with rsapss) comes from the notary 0.3 fixture, the only one that has one.
const DIR03 = pathToFileURL(`${NOTARY_COMPAT}/notary0.3/tuf/docker.com/notary0.3/tst/metadata/`);
const DELEGATION = 'targets/releases';
const ROLES = ['root', 'targets', 'snapshot', 'timestamp', DELEGATION] as const;

const files = new Map<string, Uint8Array>(ROLES.map((r) => [r, new Uint8Array(readFileSync(new URL(`${r}.json`, r === DELEGATION ? DIR03 : DIR)))]));
const root = parseMetadata('root', files.get('root')!);
const targets03 = parseMetadata('targets', new Uint8Array(readFileSync(new URL('targets.json', DIR03)))) as Metadata<TargetsSigned>;

function verifierFor(role: string): RoleVerifier {
  if (role === DELEGATION) {
    const d = targets03.signed.delegations.roles.find((x) => x.name === DELEGATION)!;
    return { name: role, threshold: d.threshold, keys: new Map(d.keyIds.map((id) => [id, targets03.signed.delegations.keys.get(id)!])) };
  }
  const r = root.signed.roles.get(role)!;
  return { name: role, threshold: r.threshold, keys: new Map(r.keyIds.map((id) => [id, root.signed.keys.get(id)!])) };
}

/** Where a JSON-level mutation may strike: every path into the document. */
function paths(v: JsonValue, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

type JsonMutation = { kind: 'replace'; value: JsonValue } | { kind: 'delete' } | { kind: 'add'; key: string; value: JsonValue };

function applyJson(doc: JsonValue, path: (string | number)[], m: JsonMutation): JsonValue {
  const copy = structuredClone(doc);
  if (path.length === 0) return m.kind === 'replace' ? m.value : copy;
  let parent: JsonValue = copy;
  for (const seg of path.slice(0, -1)) parent = (parent as Record<string | number, JsonValue>)[seg] as JsonValue;
  const last = path[path.length - 1]!;
  const container = parent as Record<string | number, JsonValue>;
  if (m.kind === 'replace') container[last] = m.value;
  else if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete container[last];
  } else if (container[last] !== null && typeof container[last] === 'object' && !Array.isArray(container[last])) {
    (container[last] as Record<string, JsonValue>)[m.key] = m.value;
  }
  return copy;
}

const jsonMutation: fc.Arbitrary<JsonMutation> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue> }),
  fc.record({ kind: fc.constant('replace' as const), value: fc.constantFrom<JsonValue>(0, -1, 1.5, 2 ** 60, '', 'Root', 'x\ty', null, [], {}, true) }),
  fc.record({ kind: fc.constant('delete' as const) }),
  fc.record({ kind: fc.constant('add' as const), key: fc.string({ maxLength: 6 }), value: fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<JsonValue> }),
);

type ByteMutation = { kind: 'flip'; at: number; bit: number } | { kind: 'truncate'; at: number } | { kind: 'insert'; at: number; byte: number };

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
);

function applyBytes(b: Uint8Array, m: ByteMutation): Uint8Array {
  const at = m.at % (b.length + 1);
  if (m.kind === 'truncate') return b.slice(0, at);
  if (m.kind === 'insert') return new Uint8Array([...b.slice(0, at), m.byte, ...b.slice(at)]);
  const out = b.slice();
  const i = at % b.length;
  out[i] = (out[i] ?? 0) ^ (1 << m.bit);
  return out;
}

/** The property: a typed rejection, or acceptance of content the signatures really cover. */
function checkMutant(role: string, original: Metadata, mutant: Uint8Array): void {
  try {
    const meta = parseMetadata(role, mutant);
    verifySignatures(meta, verifierFor(role));
    assert.deepEqual(Buffer.from(meta.signedBytes), Buffer.from(original.signedBytes), `${role}: a mutation of signed content was accepted`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof VouchError, `${role}: untyped error ${String(e)}`);
  }
}

for (const role of ROLES) {
  const bytes = files.get(role)!;
  const original = parseMetadata(role, bytes);
  const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as JsonValue;
  const targets = paths(doc);

  test(`${role}: random JSON-level and byte-level mutations are rejected with typed errors (${RUNS} runs)`, () => {
    const jsonRuns = Math.ceil(RUNS / 2);
    fc.assert(
      fc.property(fc.nat({ max: targets.length - 1 }), jsonMutation, (i, m) => {
        const mutated = applyJson(doc, targets[i]!, m);
        checkMutant(role, original, new TextEncoder().encode(JSON.stringify(mutated)));
      }),
      { numRuns: jsonRuns },
    );
    fc.assert(
      fc.property(fc.array(byteMutation, { minLength: 1, maxLength: 3 }), (ms) => {
        checkMutant(role, original, ms.reduce(applyBytes, bytes));
      }),
      { numRuns: RUNS - jsonRuns },
    );
  });

  test(`${role}: the unmutated file verifies (the property above is not vacuous)`, () => {
    assert.ok(verifySignatures(original, verifierFor(role)).size >= 1);
  });
}

test('signed-content mutations that keep valid JSON are caught by the signature, not only by the parser', () => {
  const bytes = files.get('targets')!;
  const doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  doc.signed.targets['evil'] = { length: 1, hashes: { sha256: Buffer.alloc(32).toString('base64') } };
  assert.throws(
    () => verifySignatures(parseMetadata('targets', new TextEncoder().encode(JSON.stringify(doc))), verifierFor('targets')),
    (e) => e instanceof VouchError && e.code === 'THRESHOLD_NOT_MET' && e.message === 'valid signatures did not meet threshold for targets',
  );
});

test('an unknown member named __proto__ is kept as a member, not as a prototype', () => {
  const doc = JSON.parse(Buffer.from(files.get('timestamp')!).toString('utf8'));
  const text = JSON.stringify(doc).replace('"signed":{', '"signed":{"__proto__":{"polluted":1},');
  const meta = parseMetadata('timestamp', new TextEncoder().encode(text));
  assert.deepEqual(Object.keys(meta.signed.unrecognized), ['__proto__']);
  assert.equal(Object.getPrototypeOf(meta.signed.unrecognized), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

/**
 * Sigstore-format signatures from Docker Content Trust keys, end to end: the built CLI signs an
 * image pushed to the Debian docker-registry 2.8 (HTTPS) with trust data on a Vouch server, and
 * the result is checked
 * - against cosign's published signature specification (the `.sig` tag, the simple-signing payload
 *   and the `dev.cosignproject.cosign/signature` annotation: ASN.1 DER ECDSA over the payload), read
 *   straight from the registry with node's own crypto;
 * - with sigstore-js (`@sigstore/verify` + `@sigstore/bundle`, an implementation Vouch did not
 *   write) for the bundle, found through the referrers tag schema because 2.8 has no referrers API;
 * - with `vouch trust verify-sigstore`, `export-sigstore` (idempotent) and `revoke --sigstore`.
 * No cosign binary exists on this machine (not packaged in Debian; skopeo's sigstore support is
 * compiled out), so no cosign-made signature is used as a fixture.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { pushImage, registryUnavailableReason, startRegistry, type PushedManifest, type RegistryPeer } from '../registry/registry.ts';
import { startVouchHarness, type VouchHarness } from '../server/harness.ts';
import { dockerEnv, runVouch, trustCa } from './run.ts';

const skip = registryUnavailableReason();
let server: VouchHarness;
let registry: RegistryPeer;
let admin: string;
let pushed: PushedManifest;

function env(configDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return dockerEnv({ configDir, trustServer: server.url, extra });
}

function configDir(name: string): string {
  const dir = server.newDir(name);
  trustCa(dir, new URL(server.url).host, server.caFile);
  trustCa(dir, registry.host, server.caFile);
  return dir;
}

async function get(path: string, accept?: string): Promise<{ status: number; body: Buffer; type: string }> {
  const res = await request(`${registry.url}${path}`, { dispatcher: registry.dispatcher, headers: accept !== undefined ? { accept } : {} });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, body, type: String(res.headers['content-type'] ?? '') };
}

/** A PEM public key file without notary's `role:` header, which OpenSSL refuses. */
const pubKey = (file: string): KeyObject => createPublicKey(readFileSync(file, 'utf8').replace(/^role: .*\n\n?/m, ''));
const json = (b: Buffer): Record<string, unknown> => JSON.parse(b.toString('utf8')) as Record<string, unknown>;
const hex = (d: string): string => d.replace(/^sha256:/, '');
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

interface Layer { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }

before(async () => {
  if (skip !== undefined) return;
  server = await startVouchHarness();
  registry = await startRegistry({ workDir: server.workDir, tls: { ...server.pki.server, caFile: server.caFile } });
  admin = configDir('admin');
  await runVouch(['key', 'generate', 'alice', '--dir', admin], { env: env(admin), expectCode: 0 });
  await runVouch(['key', 'generate', 'bob', '--dir', admin], { env: env(admin), expectCode: 0 });
  pushed = await pushImage(registry, 'team/app', 'v1');
});
after(async () => {
  await registry?.stop();
  await server?.stop();
});

async function sigLayers(digest: string): Promise<Layer[]> {
  const m = await get(`/v2/team/app/manifests/sha256-${hex(digest)}.sig`, OCI_MANIFEST);
  assert.equal(m.status, 200, m.body.toString());
  const doc = json(m.body);
  assert.equal(doc['mediaType'], OCI_MANIFEST);
  assert.equal((doc['config'] as Layer).mediaType, 'application/vnd.oci.image.config.v1+json');
  return doc['layers'] as Layer[];
}

async function bundles(digest: string): Promise<Buffer[]> {
  const idx = await get(`/v2/team/app/manifests/sha256-${hex(digest)}`, OCI_INDEX);
  if (idx.status === 404) return [];
  assert.equal(idx.status, 200);
  const out: Buffer[] = [];
  for (const d of json(idx.body)['manifests'] as (Layer & { artifactType?: string })[]) {
    assert.equal(d.artifactType, BUNDLE);
    const m = json((await get(`/v2/team/app/manifests/${d.digest}`, OCI_MANIFEST)).body);
    assert.equal(m['artifactType'], BUNDLE);
    assert.deepEqual(m['subject'], { mediaType: pushed.mediaType, size: pushed.size, digest });
    const layer = (m['layers'] as Layer[])[0];
    assert.equal(layer?.mediaType, BUNDLE);
    out.push((await get(`/v2/team/app/blobs/${layer.digest}`)).body);
  }
  return out;
}

/** sigstore-js's verdict on a bundle with `pubFile` as the only trusted key (no tlog, no timestamps). */
function sigstoreJsVerify(bundle: Buffer, pubFile: string): void {
  const key = pubKey(pubFile);
  const material = toTrustMaterial({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] },
    () => ({ publicKey: key, validFor: () => true }));
  const verifier = new Verifier(material, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(bundle.toString('utf8')))));
}

test('trust sign --sigstore: cosign\'s .sig layout and a bundle referrer (tag schema on registry 2.8) that sigstore-js verifies', { skip }, async () => {
  const image = `${registry.host}/team/app:v1`;
  const r = await runVouch(['sign', '--sigstore', '--signer', 'alice', image], { env: env(admin), expectCode: 0 });
  assert.match(r.stdout, new RegExp(`Successfully signed ${registry.host}/team/app:v1\\n`));
  assert.match(r.stdout, new RegExp(`Signed ${registry.host}/team/app@${pushed.digest} in Sigstore's formats: sha256-${hex(pushed.digest)}\\.sig and a bundle \\(referrers-tag\\)\\n`));

  // cosign's spec: one layer per signature, the payload a simple-signing document naming the digest.
  const layers = await sigLayers(pushed.digest);
  assert.equal(layers.length, 1);
  const [layer] = layers;
  assert.equal(layer?.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
  const payload = (await get(`/v2/team/app/blobs/${layer.digest}`)).body;
  assert.equal(payload.length, layer.size);
  const doc = json(payload) as { critical: { type: string; image: Record<string, string>; identity: Record<string, string> }; optional: unknown };
  assert.equal(doc.critical.type, 'cosign container image signature');
  assert.equal(doc.critical.image['docker-manifest-digest'], pushed.digest);
  assert.equal(doc.critical.identity['docker-reference'], `${registry.host}/team/app`);
  const sig = Buffer.from(layer.annotations?.['dev.cosignproject.cosign/signature'] ?? '', 'base64');
  assert.equal(sig[0], 0x30, 'an ASN.1 DER SEQUENCE, as cosign writes');
  const alice = pubKey(join(admin, 'alice.pub'));
  const bob = pubKey(join(admin, 'bob.pub'));
  assert.equal(cryptoVerify('sha256', payload, alice, sig), true);
  assert.equal(cryptoVerify('sha256', payload, bob, sig), false);

  // The registry has no referrers API: the bundle is listed under the sha256-<hex> tag.
  assert.equal((await get(`/v2/team/app/referrers/${pushed.digest}`, OCI_INDEX)).status, 404);
  const found = await bundles(pushed.digest);
  assert.equal(found.length, 1);
  const bundle = found[0] as Buffer;
  sigstoreJsVerify(bundle, join(admin, 'alice.pub'));
  assert.throws(() => sigstoreJsVerify(bundle, join(admin, 'bob.pub')), /signature|key/i);
  const statement = json(Buffer.from((json(bundle)['dsseEnvelope'] as { payload: string }).payload, 'base64'));
  assert.deepEqual((statement['subject'] as { digest: Record<string, string> }[])[0]?.digest, { sha256: hex(pushed.digest) });
  assert.deepEqual((json(bundle)['verificationMaterial'] as { tlogEntries: unknown[] }).tlogEntries, []);

  // A bundle whose statement is changed no longer verifies in sigstore-js.
  const tampered = json(bundle) as { dsseEnvelope: { payload: string } };
  tampered.dsseEnvelope.payload = Buffer.from(JSON.stringify({ ...statement, subject: [{ name: 'x', digest: { sha256: '0'.repeat(64) } }] })).toString('base64');
  assert.throws(() => sigstoreJsVerify(Buffer.from(JSON.stringify(tampered)), join(admin, 'alice.pub')), /signature/i);

  // verify-sigstore: the signer's key verifies, another key does not.
  const ok = await runVouch(['verify-sigstore', image, '--key', join(admin, 'alice.pub')], { env: env(admin), expectCode: 0 });
  assert.equal(ok.stdout, `Verified ${registry.host}/team/app@${pushed.digest}: 1 cosign signature(s), 1 Sigstore bundle(s) by the key\n`);
  const no = await runVouch(['verify-sigstore', image, '--key', join(admin, 'bob.pub')], { env: env(admin) });
  assert.equal(no.code, 1);
  assert.match(no.stderr, /no Sigstore signature of .* verifies with .*bob\.pub; sign it with vouch trust sign --sigstore/);

  // Signing again adds nothing (idempotent per key).
  await runVouch(['sign', '--sigstore', image], { env: env(admin), expectCode: 0 });
  assert.equal((await sigLayers(pushed.digest)).length, 1);
  assert.equal((await bundles(pushed.digest)).length, 1);
});

test('export-sigstore signs every TUF-signed tag once (idempotent); revoke --sigstore takes the signatures away', { skip }, async () => {
  const repo = `${registry.host}/team/app`;
  const v2 = await pushImage(registry, 'team/app', 'v2');
  const v3 = await pushImage(registry, 'team/app', 'v3');
  await pushImage(registry, 'team/app', 'unsigned');
  await runVouch(['sign', `${repo}:v2`], { env: env(admin), expectCode: 0 });
  await runVouch(['sign', `${repo}:v3`], { env: env(admin, { VOUCH_TRUST_SIGSTORE: '1' }), expectCode: 0 });
  assert.equal((await get(`/v2/team/app/manifests/sha256-${hex(v2.digest)}.sig`, OCI_MANIFEST)).status, 404);
  assert.equal((await sigLayers(v3.digest)).length, 1, 'VOUCH_TRUST_SIGSTORE=1 signs without the flag');

  const first = await runVouch(['export-sigstore', repo, '--signer', 'alice', '--json'], { env: env(admin), expectCode: 0 });
  const exported = JSON.parse(first.stdout) as { tags: { tag: string; digest: string; added: boolean }[] };
  assert.deepEqual(exported.tags.map((t) => [t.tag, t.digest, t.added]), [['v1', pushed.digest, false], ['v2', v2.digest, true], ['v3', v3.digest, false]]);
  const again = await runVouch(['export-sigstore', repo, '--signer', 'alice'], { env: env(admin), expectCode: 0 });
  assert.match(again.stdout, /^Exported 3 signed tag\(s\) of .* with key [0-9a-f]{64} \(0 new, 3 already signed\)\n$/);
  for (const d of [pushed.digest, v2.digest, v3.digest]) {
    assert.equal((await sigLayers(d)).length, 1);
    const b = await bundles(d);
    assert.equal(b.length, 1);
    sigstoreJsVerify(b[0] as Buffer, join(admin, 'alice.pub'));
  }
  const unsigned = (await get('/v2/team/app/manifests/unsigned', 'application/vnd.docker.distribution.manifest.v2+json')).body;
  assert.equal((await get(`/v2/team/app/manifests/sha256-${createHash('sha256').update(unsigned).digest('hex')}.sig`, OCI_MANIFEST)).status, 404, 'a tag not signed in TUF is not exported');

  const revoked = await runVouch(['revoke', '--sigstore', '-y', `${repo}:v2`], { env: env(admin), expectCode: 0 });
  assert.equal(revoked.stdout, `Successfully deleted signature for ${repo}:v2\nRemoved 2 Sigstore signature(s) of ${repo}\n`);
  assert.equal((await get(`/v2/team/app/manifests/sha256-${hex(v2.digest)}.sig`, OCI_MANIFEST)).status, 404);
  assert.deepEqual(await bundles(v2.digest), []);
  const no = await runVouch(['verify-sigstore', `${repo}@${v2.digest}`, '--key', join(admin, 'alice.pub')], { env: env(admin) });
  assert.equal(no.code, 1);
  await runVouch(['verify-sigstore', `${repo}:v3`, '--key', join(admin, 'alice.pub')], { env: env(admin), expectCode: 0 });
});

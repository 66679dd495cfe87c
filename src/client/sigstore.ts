/**
 * Sigstore-format signatures made with the keys that sign in TUF (docs/sigstore.md), so verifiers
 * that know nothing of TUF (cosign, Kyverno, policy-controller, Ratify) accept images signed with
 * Docker Content Trust keys:
 *
 * - cosign's tag layout: `sha256-<hex>.sig` in the image's repository, an OCI image manifest whose
 *   layers are simple-signing payloads (`application/vnd.dev.cosign.simplesigning.v1+json`), each
 *   with its ASN.1 DER ECDSA-P256/SHA-256 signature, base64, in the
 *   `dev.cosignproject.cosign/signature` annotation (what `cosign verify --key` reads);
 * - a Sigstore bundle v0.3 (DSSE envelope over an in-toto statement whose subject is the image
 *   digest, `verificationMaterial.publicKey` with the TUF key ID as hint) in an OCI 1.1 artifact
 *   manifest whose `subject` is the image, found through the referrers API or, where the registry
 *   has none (docker-registry 2.8), through the referrers tag schema: an OCI index tagged
 *   `sha256-<hex>` listing the referrers.
 *
 * Key-based verification needs no transparency log and no certificate: the verifier holds the
 * public key, and the signature binds the payload, which names the digest. Bundles therefore carry
 * no `tlogEntries` and verifiers must be told to require none.
 *
 * Contract: signing is idempotent per key (a signature by the same key over the same payload is
 * kept, not duplicated; other keys' signatures are kept); `removeSigstoreSignatures` drops this
 * key's signatures only. Everything read from the registry is capped and checked against its
 * digest; malformed signature data counts as no signature, never as a valid one.
 */
import { createHash, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { decodeFirstPem } from '../crypto/pem.ts';
import { derSequence, derUnsignedInteger } from '../crypto/der.ts';
import { importSpki } from '../crypto/signatures.ts';
import { VouchError } from '../errors.ts';
import type { Signer } from '../tuf/signer.ts';
import { ACCEPTED_MANIFEST_TYPES, OCI_INDEX, OCI_MANIFEST, sha256Digest } from './registry/manifest.ts';
import type { OciRepository } from './registry/oci.ts';

export type SigstoreErrorCode =
  | 'UNSUPPORTED_KEY' // only ECDSA keys make Sigstore signatures here
  | 'NO_IMAGE' // the digest to sign is not in the registry
  | 'INVALID_KEY_FILE'; // --key is not a PEM public key

export class SigstoreError extends VouchError<SigstoreErrorCode> {}

export const SIMPLE_SIGNING_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const BUNDLE_V03_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const IN_TOTO_TYPE = 'application/vnd.in-toto+json';
export const COSIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const EMPTY_JSON = Buffer.from('{}');
const MAX_PAYLOAD_BYTES = 64 * 1024;
const MAX_BUNDLE_BYTES = 1024 * 1024;
const MAX_SIG_LAYERS = 256;

const hexOf = (digest: string): string => digest.slice('sha256:'.length);
export const cosignSignatureTag = (digest: string): string => `sha256-${hexOf(digest)}.sig`;
export const referrersTag = (digest: string): string => `sha256-${hexOf(digest)}`;

/** cosign's simple-signing payload for `digest` under `dockerReference` (deterministic bytes). */
export function simpleSigningPayload(dockerReference: string, digest: string): Buffer {
  return Buffer.from(JSON.stringify({
    critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' },
    optional: null,
  }));
}

export function inTotoStatement(dockerReference: string, digest: string): Buffer {
  return Buffer.from(JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: dockerReference, digest: { sha256: hexOf(digest) } }],
    predicateType: COSIGN_PREDICATE,
    predicate: {},
  }));
}

/** DSSE's pre-authentication encoding: what a DSSE signature covers. */
export function dssePae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType);
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** The verifying key of a TUF signer (plain ECDSA keys only). */
export function signerPublicKey(signer: Signer): KeyObject {
  if (signer.publicKey.keyType !== 'ecdsa') {
    throw new SigstoreError('UNSUPPORTED_KEY', `key ${signer.keyId} is ${signer.publicKey.keyType}; Sigstore signatures are made with ECDSA P-256 keys (docker trust signer keys are)`);
  }
  return importSpki(signer.publicKey.publicBytes);
}

/** A PEM `PUBLIC KEY` (cosign.pub) or a notary public key file. */
export function parseSigstorePublicKey(pem: string): KeyObject {
  try {
    // decodeFirstPem accepts notary's PEM headers (`role: alice`), which OpenSSL refuses.
    const block = decodeFirstPem(pem, 'public key');
    if (block.type !== 'PUBLIC KEY') throw new Error(`a ${block.type} block`);
    const key = importSpki(block.bytes);
    if (key.asymmetricKeyType !== 'ec') throw new Error(`a ${key.asymmetricKeyType ?? 'unknown'} key`);
    return key;
  } catch (e) {
    throw new SigstoreError('INVALID_KEY_FILE', `not an ECDSA public key in PEM form (${e instanceof Error ? e.message : String(e)}); give the signer's public key, e.g. from vouch trust key generate or cosign.pub`);
  }
}

/** ASN.1 DER ECDSA signature (what cosign and Sigstore verifiers expect) over SHA-256 of `message`. */
async function signDer(signer: Signer, message: Uint8Array): Promise<Buffer> {
  const { method, sig } = await signer.sign(message);
  if (method !== 'ecdsa' || sig.length % 2 !== 0) throw new SigstoreError('UNSUPPORTED_KEY', `key ${signer.keyId} did not make an ECDSA signature`);
  const half = sig.length / 2;
  return Buffer.from(derSequence(derUnsignedInteger(sig.subarray(0, half)), derUnsignedInteger(sig.subarray(half))));
}

function verifyDer(key: KeyObject, message: Uint8Array, sig: Uint8Array): boolean {
  try {
    return cryptoVerify('sha256', message, { key, dsaEncoding: 'der' }, sig);
  } catch {
    return false;
  }
}

function jsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

const obj = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : undefined);

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
}

function descriptors(v: unknown): Descriptor[] {
  if (!Array.isArray(v)) return [];
  const out: Descriptor[] = [];
  for (const d of v.slice(0, MAX_SIG_LAYERS)) {
    const o = obj(d);
    if (o === undefined || typeof o['mediaType'] !== 'string' || typeof o['digest'] !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(o['digest'])
      || typeof o['size'] !== 'number' || !Number.isSafeInteger(o['size']) || o['size'] < 0) continue;
    const ann = obj(o['annotations']);
    const annotations = ann === undefined ? undefined : Object.fromEntries(Object.entries(ann).filter((e): e is [string, string] => typeof e[1] === 'string'));
    out.push({ mediaType: o['mediaType'], digest: o['digest'], size: o['size'],
      ...(annotations !== undefined ? { annotations } : {}), ...(typeof o['artifactType'] === 'string' ? { artifactType: o['artifactType'] } : {}) });
  }
  return out;
}

/** A simple-signing payload that signs `digest`. */
function payloadSigns(payload: Uint8Array, digest: string): boolean {
  const critical = obj(jsonObject(payload)?.['critical']);
  return critical?.['type'] === 'cosign container image signature' && obj(critical['image'])?.['docker-manifest-digest'] === digest;
}

/** The layers of the `.sig` manifest and whether each verifies with `key` over a payload for `digest`. */
async function cosignLayers(repo: OciRepository, digest: string, key: KeyObject): Promise<{ layers: Descriptor[]; mine: Set<string>; manifestDigest?: string }> {
  const m = await repo.manifest(cosignSignatureTag(digest), [OCI_MANIFEST]);
  if (m === undefined) return { layers: [], mine: new Set() };
  const layers = descriptors(jsonObject(m.bytes)?.['layers']);
  const mine = new Set<string>();
  for (const l of layers) {
    const sig = l.annotations?.[COSIGN_SIGNATURE_ANNOTATION];
    if (l.mediaType !== SIMPLE_SIGNING_TYPE || sig === undefined || l.size > MAX_PAYLOAD_BYTES) continue;
    let payload: Buffer;
    try {
      payload = await repo.blob(l.digest, MAX_PAYLOAD_BYTES);
    } catch {
      continue;
    }
    if (payloadSigns(payload, digest) && verifyDer(key, payload, Buffer.from(sig, 'base64'))) mine.add(l.digest + sig);
  }
  return { layers, mine, manifestDigest: m.digest };
}

const layerKey = (l: Descriptor): string => l.digest + (l.annotations?.[COSIGN_SIGNATURE_ANNOTATION] ?? '');

async function putSigManifest(repo: OciRepository, digest: string, layers: readonly Descriptor[]): Promise<void> {
  const config = Buffer.from(JSON.stringify({
    architecture: '', os: '', config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  }));
  const configDigest = await repo.putBlob(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, size: config.length, digest: configDigest },
    layers,
  }));
  await repo.putManifest(cosignSignatureTag(digest), manifest, OCI_MANIFEST);
}

/** A bundle that verifies with `key` and whose statement's subject is `digest`. */
export function bundleVerifies(bundleBytes: Uint8Array, digest: string, key: KeyObject): boolean {
  const b = jsonObject(bundleBytes);
  if (b?.['mediaType'] !== BUNDLE_V03_TYPE || obj(obj(b['verificationMaterial'])?.['publicKey']) === undefined) return false;
  const env = obj(b['dsseEnvelope']);
  if (env === undefined || env['payloadType'] !== IN_TOTO_TYPE || typeof env['payload'] !== 'string' || !Array.isArray(env['signatures'])) return false;
  const payload = Buffer.from(env['payload'], 'base64');
  const pae = dssePae(IN_TOTO_TYPE, payload);
  const signed = env['signatures'].some((s) => typeof obj(s)?.['sig'] === 'string' && verifyDer(key, pae, Buffer.from(obj(s)?.['sig'] as string, 'base64')));
  if (!signed) return false;
  const statement = jsonObject(payload);
  if (statement?.['_type'] !== 'https://in-toto.io/Statement/v1' || !Array.isArray(statement['subject'])) return false;
  return statement['subject'].some((s) => obj(obj(s)?.['digest'])?.['sha256'] === hexOf(digest));
}

interface Referrer {
  readonly descriptor: Descriptor;
}

/** Bundle referrers of `digest`: from the referrers API, else from the referrers tag schema. */
async function bundleReferrers(repo: OciRepository, digest: string): Promise<{ referrers: Referrer[]; viaTag: boolean; index: Descriptor[] }> {
  const api = await repo.referrers(digest);
  let viaTag = false;
  let entries: Descriptor[];
  if (api !== undefined) {
    entries = descriptors(jsonObject(api)?.['manifests']);
  } else {
    viaTag = true;
    const idx = await repo.manifest(referrersTag(digest), [OCI_INDEX]);
    entries = idx === undefined ? [] : descriptors(jsonObject(idx.bytes)?.['manifests']);
  }
  return { referrers: entries.filter((d) => d.artifactType === BUNDLE_V03_TYPE).map((descriptor) => ({ descriptor })), viaTag, index: entries };
}

/** The bundle inside a referrer manifest, if it is a bundle artifact about `digest`. */
async function referrerBundle(repo: OciRepository, ref: Referrer, digest: string): Promise<Buffer | undefined> {
  const m = await repo.manifest(ref.descriptor.digest, [OCI_MANIFEST]);
  if (m === undefined) return undefined;
  const doc = jsonObject(m.bytes);
  if (obj(doc?.['subject'])?.['digest'] !== digest) return undefined;
  const layer = descriptors(doc?.['layers']).find((l) => l.mediaType === BUNDLE_V03_TYPE);
  if (layer === undefined || layer.size > MAX_BUNDLE_BYTES) return undefined;
  try {
    return await repo.blob(layer.digest, MAX_BUNDLE_BYTES);
  } catch {
    return undefined;
  }
}

async function putReferrersIndex(repo: OciRepository, digest: string, entries: readonly Descriptor[]): Promise<void> {
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }));
  await repo.putManifest(referrersTag(digest), index, OCI_INDEX);
}

export interface SigstoreSignRequest {
  readonly repo: OciRepository;
  /** `registry/path` as cosign names the image (the simple-signing `docker-reference`). */
  readonly dockerReference: string;
  readonly digest: string;
  readonly signer: Signer;
}

export interface SigstoreSignResult {
  readonly digest: string;
  readonly signatureTag: string;
  /** False when this key's signature was already there. */
  readonly cosignAdded: boolean;
  readonly bundleAdded: boolean;
  /** `referrers-api` or `referrers-tag` (the fallback). */
  readonly bundleDiscovery: 'referrers-api' | 'referrers-tag';
  readonly bundleManifest?: string;
}

/** Signs `digest` in cosign's tag layout and as a bundle referrer (idempotent per key). */
export async function signSigstore(req: SigstoreSignRequest): Promise<SigstoreSignResult> {
  const { repo, digest, signer, dockerReference } = req;
  const key = signerPublicKey(signer);
  const image = await repo.manifest(digest, ACCEPTED_MANIFEST_TYPES);
  if (image === undefined) throw new SigstoreError('NO_IMAGE', `${dockerReference}@${digest} is not in the registry; push the image before signing it`);

  const existing = await cosignLayers(repo, digest, key);
  let cosignAdded = false;
  if (existing.mine.size === 0) {
    const payload = simpleSigningPayload(dockerReference, digest);
    const sig = await signDer(signer, payload);
    const payloadDigest = await repo.putBlob(payload);
    const layer: Descriptor = { mediaType: SIMPLE_SIGNING_TYPE, size: payload.length, digest: payloadDigest, annotations: { [COSIGN_SIGNATURE_ANNOTATION]: sig.toString('base64') } };
    await putSigManifest(repo, digest, [...existing.layers, layer]);
    cosignAdded = true;
  }

  const found = await bundleReferrers(repo, digest);
  for (const r of found.referrers) {
    const bundle = await referrerBundle(repo, r, digest);
    if (bundle !== undefined && bundleVerifies(bundle, digest, key)) {
      return { digest, signatureTag: cosignSignatureTag(digest), cosignAdded, bundleAdded: false, bundleDiscovery: found.viaTag ? 'referrers-tag' : 'referrers-api', bundleManifest: r.descriptor.digest };
    }
  }
  const statement = inTotoStatement(dockerReference, digest);
  const dsseSig = await signDer(signer, dssePae(IN_TOTO_TYPE, statement));
  const bundle = Buffer.from(JSON.stringify({
    mediaType: BUNDLE_V03_TYPE,
    verificationMaterial: { publicKey: { hint: signer.keyId }, tlogEntries: [] },
    dsseEnvelope: { payload: statement.toString('base64'), payloadType: IN_TOTO_TYPE, signatures: [{ sig: dsseSig.toString('base64'), keyid: '' }] },
  }));
  const bundleDigest = await repo.putBlob(bundle);
  await repo.putBlob(EMPTY_JSON);
  const artifact = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: BUNDLE_V03_TYPE,
    config: { mediaType: OCI_EMPTY, size: EMPTY_JSON.length, digest: sha256Digest(EMPTY_JSON) },
    layers: [{ mediaType: BUNDLE_V03_TYPE, size: bundle.length, digest: bundleDigest }],
    subject: { mediaType: image.mediaType, size: image.bytes.length, digest },
    annotations: { 'dev.sigstore.bundle.predicateType': COSIGN_PREDICATE, 'dev.vouch.keyid': signer.keyId },
  }));
  const artifactDigest = await repo.putManifest(sha256Digest(artifact), artifact, OCI_MANIFEST);
  if (found.viaTag) {
    const entry: Descriptor = { mediaType: OCI_MANIFEST, digest: artifactDigest, size: artifact.length, artifactType: BUNDLE_V03_TYPE, annotations: { 'dev.sigstore.bundle.predicateType': COSIGN_PREDICATE } };
    await putReferrersIndex(repo, digest, [...found.index.filter((d) => d.digest !== artifactDigest), entry]);
  }
  return { digest, signatureTag: cosignSignatureTag(digest), cosignAdded, bundleAdded: true, bundleDiscovery: found.viaTag ? 'referrers-tag' : 'referrers-api', bundleManifest: artifactDigest };
}

export interface SigstoreVerification {
  readonly digest: string;
  /** cosign tag-layout signatures by the key over a payload naming the digest. */
  readonly cosignSignatures: number;
  /** Bundle referrers that verify with the key. */
  readonly bundles: number;
  /** True when at least one signature of either kind verifies. */
  readonly verified: boolean;
}

/**
 * Checks the Sigstore signatures of `digest` in `repo` against `publicKey` (the gate's entry
 * point): no transparency log, no certificate, only the key.
 */
export async function verifySigstoreSignature(repo: OciRepository, digest: string, publicKey: KeyObject): Promise<SigstoreVerification> {
  const cosign = await cosignLayers(repo, digest, publicKey);
  const found = await bundleReferrers(repo, digest);
  let bundles = 0;
  for (const r of found.referrers) {
    const b = await referrerBundle(repo, r, digest);
    if (b !== undefined && bundleVerifies(b, digest, publicKey)) bundles++;
  }
  return { digest, cosignSignatures: cosign.mine.size, bundles, verified: cosign.mine.size + bundles > 0 };
}

/** Removes the signatures of `publicKey` over `digest` (revocation); returns how many went. */
export async function removeSigstoreSignatures(repo: OciRepository, digest: string, publicKey: KeyObject): Promise<number> {
  let removed = 0;
  const cosign = await cosignLayers(repo, digest, publicKey);
  if (cosign.mine.size > 0 && cosign.manifestDigest !== undefined) {
    const keep = cosign.layers.filter((l) => !cosign.mine.has(layerKey(l)));
    removed += cosign.layers.length - keep.length;
    if (keep.length === 0) await repo.deleteManifest(cosign.manifestDigest);
    else await putSigManifest(repo, digest, keep);
  }
  const found = await bundleReferrers(repo, digest);
  const gone = new Set<string>();
  for (const r of found.referrers) {
    const b = await referrerBundle(repo, r, digest);
    if (b !== undefined && bundleVerifies(b, digest, publicKey)) {
      await repo.deleteManifest(r.descriptor.digest);
      gone.add(r.descriptor.digest);
    }
  }
  removed += gone.size;
  if (found.viaTag && gone.size > 0) {
    const keep = found.index.filter((d) => !gone.has(d.digest));
    if (keep.length > 0) await putReferrersIndex(repo, digest, keep);
    else {
      const idx = await repo.manifest(referrersTag(digest), [OCI_INDEX]);
      if (idx !== undefined) await repo.deleteManifest(idx.digest);
    }
  }
  return removed;
}

/** sha256 hex of bytes (for messages and tests). */
export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/**
 * Image manifests as the Registry HTTP API v2 serves them: docker schema 2 manifests and manifest
 * lists, OCI image manifests and indexes. What trust needs is the digest and size of the exact
 * bytes (docs/formats.md §12.2), so this module never re-serialises; it only checks that the bytes
 * are the kind of document the media type says, and reads an index's per-platform entries.
 */
import { createHash } from 'node:crypto';
import { ClientError } from '../errors.ts';

export const DOCKER_MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** Media types asked for, single-image manifests and indexes alike (docker asks the same set). */
export const ACCEPTED_MANIFEST_TYPES: readonly string[] = [DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX];
const INDEX_TYPES = new Set([DOCKER_MANIFEST_LIST, OCI_INDEX]);

/** distribution's limit on a manifest body. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface IndexEntry {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  readonly platform?: Platform;
}

export interface ManifestInfo {
  /** `sha256:<hex>` of the exact bytes. */
  readonly digest: string;
  /** Byte length of the manifest: the target `length`. */
  readonly size: number;
  readonly mediaType: string;
  readonly bytes: Buffer;
  /** For a manifest list or index: the images it points to. */
  readonly manifests?: readonly IndexEntry[];
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function bad(what: string, why: string): ClientError {
  return new ClientError('BAD_RESPONSE', `the registry returned an invalid manifest for ${what}: ${why}`);
}

function parseEntry(v: unknown, what: string, i: number): IndexEntry {
  if (typeof v !== 'object' || v === null) throw bad(what, `manifests[${i}] is not an object`);
  const o = v as Record<string, unknown>;
  if (typeof o['digest'] !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(o['digest'])) throw bad(what, `manifests[${i}].digest is not a sha256 digest`);
  if (typeof o['size'] !== 'number' || !Number.isSafeInteger(o['size']) || o['size'] < 0) throw bad(what, `manifests[${i}].size is not a size`);
  const p = o['platform'];
  let platform: Platform | undefined;
  if (typeof p === 'object' && p !== null) {
    const q = p as Record<string, unknown>;
    if (typeof q['os'] === 'string' && typeof q['architecture'] === 'string') {
      platform = { os: q['os'], architecture: q['architecture'], ...(typeof q['variant'] === 'string' ? { variant: q['variant'] } : {}) };
    }
  }
  return {
    digest: o['digest'], size: o['size'], mediaType: typeof o['mediaType'] === 'string' ? o['mediaType'] : '',
    ...(platform !== undefined ? { platform } : {}),
  };
}

/**
 * Checks `bytes` against the media type the registry named (or, without one, the document's own
 * `mediaType`) and returns its digest and size.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, what: string): ManifestInfo {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw bad(what, 'it is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad(what, 'it is not a JSON object');
  const o = doc as Record<string, unknown>;
  const declared = typeof o['mediaType'] === 'string' ? o['mediaType'] : undefined;
  const header = contentType?.split(';')[0]?.trim();
  const mediaType = header !== undefined && ACCEPTED_MANIFEST_TYPES.includes(header) ? header : declared;
  if (mediaType === undefined || !ACCEPTED_MANIFEST_TYPES.includes(mediaType)) {
    throw bad(what, `unsupported media type ${JSON.stringify(header ?? declared ?? '')} (schema 1 manifests cannot be signed)`);
  }
  if (declared !== undefined && declared !== mediaType) throw bad(what, `the body says ${declared} but the registry sent ${mediaType}`);
  if (o['schemaVersion'] !== 2) throw bad(what, 'schemaVersion is not 2');
  const info = { digest: sha256Digest(bytes), size: bytes.length, mediaType, bytes };
  if (!INDEX_TYPES.has(mediaType)) {
    if (typeof o['config'] !== 'object' || o['config'] === null) throw bad(what, 'an image manifest without config');
    return info;
  }
  if (!Array.isArray(o['manifests'])) throw bad(what, 'an index without manifests');
  return { ...info, manifests: o['manifests'].map((m, i) => parseEntry(m, what, i)) };
}

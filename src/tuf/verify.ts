/**
 * Signature thresholds and checksums (docs/formats.md §5.2–5.3).
 *
 * Signatures are verified over the re-canonicalised `signed` object; the scheme comes from the
 * trusted key, not from the untrusted `method`; valid signatures are counted by distinct key ID.
 * Nothing here mutates its inputs.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { VerificationError } from './errors.ts';
import { computeKeyId, verifySignature, type PublicKey } from './keys.ts';
import type { FileMeta, Metadata } from './metadata.ts';

/** The keys and threshold a role must be signed with. */
export interface RoleVerifier {
  readonly name: string;
  /** Key ID (as listed in metadata) → key. Only listed keys count. */
  readonly keys: ReadonlyMap<string, PublicKey>;
  readonly threshold: number;
}

/** Outcome of counting: which listed keys produced a valid signature. */
export interface SignatureCount {
  readonly validKeyIds: ReadonlySet<string>;
  readonly threshold: number;
}

/** Counts valid signatures without judging the threshold (for `witness` and status output). */
export function countValidSignatures(meta: Pick<Metadata, 'signatures' | 'signedBytes'>, role: RoleVerifier): SignatureCount {
  const valid = new Set<string>();
  for (const sig of meta.signatures) {
    const key = role.keys.get(sig.keyid);
    if (key === undefined || valid.has(sig.keyid)) continue;
    // A key listed under an ID that is not its own would let one key count twice.
    if (computeKeyId(key.keyType, key.publicBytes) !== sig.keyid) {
      throw new VerificationError('KEY_ID_MISMATCH', 'key ID is not valid for key content', role.name);
    }
    try {
      if (verifySignature(key, sig.method, sig.sig, meta.signedBytes)) valid.add(sig.keyid);
    } catch (e) {
      // notary skips signatures it cannot check (unknown method, wrong key type) and counts the rest.
      if (!(e instanceof VerificationError)) throw e;
    }
  }
  return { validKeyIds: valid, threshold: role.threshold };
}

/** Throws unless `meta` carries at least `role.threshold` valid signatures from distinct keys. */
export function verifySignatures(meta: Pick<Metadata, 'signatures' | 'signedBytes'>, role: RoleVerifier): ReadonlySet<string> {
  if (meta.signatures.length === 0) throw new VerificationError('NO_SIGNATURES', 'tuf: data has no signatures', role.name);
  if (role.threshold < 1) throw new VerificationError('THRESHOLD_NOT_MET', 'valid signatures did not meet threshold', role.name);
  const { validKeyIds } = countValidSignatures(meta, role);
  if (validKeyIds.size < role.threshold) {
    const name = role.name === '' ? '' : ` for ${role.name}`;
    throw new VerificationError('THRESHOLD_NOT_MET', `valid signatures did not meet threshold${name}`, role.name);
  }
  return validKeyIds;
}

function digest(alg: 'sha256' | 'sha512', bytes: Uint8Array): Buffer {
  return createHash(alg).update(bytes).digest();
}

/**
 * notary's CheckHashes: every sha256/sha512 the parent recorded must match the exact bytes, and at
 * least one must be present. Other algorithms are ignored.
 */
export function checkHashes(bytes: Uint8Array, role: string, meta: Pick<FileMeta, 'hashes'>): void {
  let checked = 0;
  for (const alg of ['sha256', 'sha512'] as const) {
    const expected = meta.hashes.get(alg);
    if (expected === undefined) continue;
    const actual = digest(alg, bytes);
    if (expected.length !== actual.length || !timingSafeEqual(actual, expected)) {
      throw new VerificationError(
        'CHECKSUM_MISMATCH',
        `${alg} checksum for ${role} did not match: expected ${Buffer.from(expected).toString('hex')}`,
        role,
      );
    }
    checked++;
  }
  if (checked === 0) {
    throw new VerificationError('NO_CHECKSUM', `no checksums for supported algorithms were provided for ${role}`, role);
  }
}

/** FileMeta (length, sha256, sha512) of exact bytes, as snapshot and timestamp record them. */
export function fileMetaOf(bytes: Uint8Array): FileMeta {
  return {
    length: bytes.length,
    hashes: new Map([
      ['sha256', new Uint8Array(digest('sha256', bytes))],
      ['sha512', new Uint8Array(digest('sha512', bytes))],
    ]),
    unrecognized: {},
  };
}

export function sha256Hex(bytes: Uint8Array): string {
  return digest('sha256', bytes).toString('hex');
}

/**
 * Signing one role file (docs/formats.md §2.4, §4): canonical bytes of `signed`, one signature
 * per distinct signer key, the envelope bytes notary writes, parsed back to prove they are valid.
 *
 * Contract: `signRole` keeps a previous file's signatures only when they verify over the new
 * signed bytes and come from keys of the role (notary's `signed.Sign`), which is how an m-of-n
 * role collects signatures from several publishers; it never emits two signatures by one key ID;
 * it checks every fresh signature against the role's key (a token or remote signer that returns
 * garbage is caught here, not by every reader); and unless `allowPartial` is set it refuses to
 * return a file that does not meet each verifier's threshold, in notary's wording.
 */
import type { JsonObject } from './canonical.ts';
import { canonicalBytes, encodeEnvelope, parseJson, isJsonObject, type EnvelopeSignature } from './canonical.ts';
import { VouchError } from '../errors.ts';
import { ValidationError } from './errors.ts';
import { canonicalKeyId, verifySignature, type PublicKey } from './keys.ts';
import { parseMetadata, type Metadata, type RoleKeys } from './metadata.ts';
import { parseRoleName } from './roles.ts';
import { base64 } from './serialize.ts';
import type { Signer } from './signer.ts';
import { countValidSignatures, type RoleVerifier } from './verify.ts';

export type SigningCode =
  | 'NO_SIGNING_KEYS' // could not find necessary signing keys, at least one of these keys must be available: <ids>
  | 'INSUFFICIENT_SIGNERS' // signing keys not available: need <n> keys from <m> possible keys (<ids>)
  | 'BAD_SIGNATURE'; // a signer returned a signature that does not verify with the role's key

/** A publisher-side signing failure. (To move into tuf/errors.ts; see the builder's report.) */
export class SigningError extends VouchError<SigningCode> {
  readonly role: string;
  constructor(code: SigningCode, message: string, role: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.role = role;
  }
}

export interface SignRoleOptions {
  /** The file being replaced or co-signed: its still-valid signatures by role keys are kept. */
  readonly previous?: Pick<Metadata, 'signatures'>;
  /**
   * The role(s) the file must satisfy. Signers outside every verifier are not used. A root
   * rotation passes two: the new root role and the previous one.
   */
  readonly verifier?: RoleVerifier | readonly RoleVerifier[];
  /** Return a file below threshold (to be completed by other publishers) instead of failing. */
  readonly allowPartial?: boolean;
}

/** The verifier of a role as root or a delegating targets file lists it. */
export function roleVerifier(name: string, keys: ReadonlyMap<string, PublicKey>, role: RoleKeys): RoleVerifier {
  const listed = new Map<string, PublicKey>();
  for (const id of role.keyIds) {
    const key = keys.get(id);
    if (key !== undefined) listed.set(id, key);
  }
  return { name, keys: listed, threshold: role.threshold };
}

function canonicalIds(verifiers: readonly RoleVerifier[], except: ReadonlySet<string> = new Set()): string[] {
  const ids: string[] = [];
  for (const v of verifiers) {
    for (const [id, key] of v.keys) {
      if (except.has(id)) continue;
      let canonical: string = id;
      try {
        canonical = canonicalKeyId(key);
      } catch {
        // A certificate that does not parse is reported under its TUF key ID.
      }
      if (!ids.includes(canonical)) ids.push(canonical);
    }
  }
  return ids;
}

function keyFor(verifiers: readonly RoleVerifier[], keyId: string): PublicKey | undefined {
  for (const v of verifiers) {
    const key = v.keys.get(keyId);
    if (key !== undefined) return key;
  }
  return undefined;
}

function verifies(key: PublicKey, method: string, sig: Uint8Array, message: Uint8Array): boolean {
  try {
    return verifySignature(key, method, sig, message);
  } catch {
    return false; // unsupported method or key type: not a signature that counts
  }
}

async function freshSignatures(role: string, signers: readonly Signer[], verifiers: readonly RoleVerifier[], message: Uint8Array): Promise<EnvelopeSignature[]> {
  const out: EnvelopeSignature[] = [];
  const seen = new Set<string>();
  for (const signer of signers) {
    if (seen.has(signer.keyId)) continue;
    const key = verifiers.length === 0 ? signer.publicKey : keyFor(verifiers, signer.keyId);
    if (key === undefined) continue; // not a key of this role
    seen.add(signer.keyId);
    const { method, sig } = await signer.sign(message);
    if (!verifies(key, method, sig, message)) {
      throw new SigningError('BAD_SIGNATURE', `the ${method} signature by key ${signer.keyId} for ${role} does not verify`, role);
    }
    out.push({ keyid: signer.keyId, method, sig: base64(sig) });
  }
  return out;
}

function keptSignatures(previous: SignRoleOptions['previous'], fresh: readonly EnvelopeSignature[], verifiers: readonly RoleVerifier[], message: Uint8Array): EnvelopeSignature[] {
  const seen = new Set(fresh.map((s) => s.keyid));
  const out: EnvelopeSignature[] = [];
  for (const s of previous?.signatures ?? []) {
    if (seen.has(s.keyid)) continue;
    const key = keyFor(verifiers, s.keyid);
    if (key === undefined || !verifies(key, s.method, s.sig, message)) continue;
    seen.add(s.keyid);
    out.push({ keyid: s.keyid, method: s.method, sig: base64(s.sig) });
  }
  return out;
}

function checkThresholds(meta: Metadata, verifiers: readonly RoleVerifier[]): void {
  for (const v of verifiers) {
    const { validKeyIds } = countValidSignatures(meta, v);
    if (validKeyIds.size >= v.threshold) continue;
    const missing = canonicalIds([v], validKeyIds);
    const list = missing.length > 0 ? ` (${missing.join(', ')})` : '';
    const message =
      validKeyIds.size === 0
        ? `signing keys not available: need ${v.threshold} keys from ${missing.length} possible keys${list}`
        : `not enough signing keys: found ${validKeyIds.size} of ${v.threshold} needed keys - ${missing.length} other possible keys${list}`;
    throw new SigningError('INSUFFICIENT_SIGNERS', message, meta.role);
  }
}

/**
 * Signs `signed` as `role` with every usable signer and returns the parsed file. Throws
 * `SigningError` when no signature could be produced or kept, or (unless `allowPartial`) when a
 * verifier's threshold is not met; `ValidationError` when `signed` is not valid metadata.
 */
export async function signRole(role: string, signed: JsonObject, signers: readonly Signer[], opts: SignRoleOptions = {}): Promise<Metadata> {
  const name = parseRoleName(role);
  const verifiers: readonly RoleVerifier[] = opts.verifier === undefined ? [] : Array.isArray(opts.verifier) ? opts.verifier : [opts.verifier as RoleVerifier];
  const message = canonicalBytes(signed);
  const fresh = await freshSignatures(name, signers, verifiers, message);
  const signatures = [...fresh, ...keptSignatures(opts.previous, fresh, verifiers, message)];
  if (signatures.length === 0) {
    throw new SigningError(
      'NO_SIGNING_KEYS',
      `could not find necessary signing keys, at least one of these keys must be available: ${canonicalIds(verifiers).join(', ')}`,
      name,
    );
  }
  const meta = parseMetadata(name, encodeEnvelope(signed, signatures));
  if (Buffer.compare(meta.signedBytes, message) !== 0) {
    throw new ValidationError('NOT_CANONICALIZABLE', `${name} metadata does not survive re-encoding and could never verify`);
  }
  if (opts.allowPartial !== true) checkThresholds(meta, verifiers);
  return meta;
}

/** The generic `signed` object of a parsed file, exactly as its signatures cover it. */
export function signedJsonOf(meta: Pick<Metadata, 'signedBytes'>): JsonObject {
  const v = parseJson(meta.signedBytes);
  if (!isJsonObject(v)) throw new ValidationError('MALFORMED_JSON', 'signed must be an object');
  return v;
}

/**
 * Adds the caller's signatures to an existing file without changing its content or version:
 * the second (third, …) publisher of an m-of-n role.
 */
export function cosign(previous: Metadata, signers: readonly Signer[], verifier: RoleVerifier, allowPartial = false): Promise<Metadata> {
  return signRole(previous.role, signedJsonOf(previous), signers, { previous, verifier, allowPartial });
}

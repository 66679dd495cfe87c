/**
 * `vouch trust resolve IMAGE[:TAG]`: what `DOCKER_CONTENT_TRUST=1 docker pull` did inside the
 * engine (docker's `TrustedReference`, docs/compatibility.md K2–K3), as a reference any puller can pin to.
 *
 * Contract:
 * - The tag (default `latest`, as docker pull) is looked up in `targets/releases`, then `targets`,
 *   after a full verified update (§5.1); the answer is `<name>@sha256:<hex>` of the signed manifest.
 * - A digest reference is already pinned and is returned as it is (docker does the same).
 * - Failures carry docker's consumer wording (`trust.NotaryError`): insufficient signatures,
 *   out-of-date (expired), version lower than expected (rollback), trust data mismatch, no trust
 *   data; an unsigned tag is `No valid trust data for <tag>`.
 * - Stricter than docker: when `targets/releases` fails verification and its file lists the tag,
 *   that failure is reported instead of silently falling back to `targets` (docker's pull would use
 *   a stale `targets` entry or call the tag unsigned).
 */
import type { RoleName } from '../../tuf/types.ts';
import { ClientError, noSuchTarget } from '../errors.ts';
import { findTarget } from '../reader.ts';
import { dockerTrustError } from './errors.ts';
import { digestReference, type ImageReference } from './reference.ts';
import { isReleasedRole, RELEASES_ROLE, sha256HexOf } from './roles.ts';
import { withTrust, type DockerContext } from './session.ts';

export interface ResolvedReference {
  /** Fully qualified name (the GUN). */
  readonly name: string;
  readonly tag: string | undefined;
  /** `sha256:<hex>` */
  readonly digest: string;
  /** Manifest size in bytes, when it came from trust data. */
  readonly size: number | undefined;
  /** The role that signed it (`targets/releases` or `targets`); undefined for a digest reference. */
  readonly role: string | undefined;
  /** `<familiar name>@<digest>`, e.g. `alpine@sha256:…` or `registry:5000/team/app@sha256:…`. */
  readonly reference: string;
  /** `<full name>@<digest>`, e.g. `docker.io/library/alpine@sha256:…`. */
  readonly canonicalReference: string;
}

export async function resolveTrustedReference(ctx: DockerContext, ref: ImageReference): Promise<ResolvedReference> {
  if (ref.digest !== undefined) {
    return {
      name: ref.name, tag: ref.tag, digest: ref.digest, size: undefined, role: undefined,
      reference: digestReference(ref, ref.digest), canonicalReference: digestReference(ref, ref.digest, 'full'),
    };
  }
  const tag = ref.tag ?? 'latest';
  return withTrust(ctx, ref, async ({ repo }) => {
    let hit;
    try {
      const updated = await repo.update();
      const tc = updated.collection;
      const broken = tc.invalidRoles.get(RELEASES_ROLE as RoleName);
      const brokenFile = updated.invalid.get(RELEASES_ROLE as RoleName);
      if (broken !== undefined && (brokenFile === undefined || brokenFile.signed.targets.has(tag))) throw broken.error;
      hit = findTarget(tc, tag, [RELEASES_ROLE, 'targets']);
    } catch (e) {
      throw dockerTrustError(ref.name, e);
    }
    if (hit === undefined || !isReleasedRole(hit.role)) throw noSuchTarget(tag);
    const hex = sha256HexOf(hit.meta);
    if (hex === '') throw new ClientError('BAD_RESPONSE', 'no valid hash, expecting sha256');
    const digest = `sha256:${hex}`;
    return {
      name: ref.name, tag, digest, size: hit.meta.length, role: hit.role,
      reference: digestReference(ref, digest), canonicalReference: digestReference(ref, digest, 'full'),
    };
  }, { clearChanges: false });
}

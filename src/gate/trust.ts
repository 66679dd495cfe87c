/**
 * Verified trust data per collection for the gate: the client update (TUF §5.1, notary's
 * `LoadTUFRepo` as `updateCollection` implements it) with the on-disk client cache under
 * `trustDir`, trust pinning, and rollback protection from the cached files.
 *
 * Contract:
 * - `verified(gun)` answers from memory while the last update is younger than `ttlMs` and no
 *   verified file has expired; else it runs one update (concurrent callers share it).
 * - When the trust server cannot be reached, the update uses the cached timestamp (and the other
 *   cached files it vouches for) until that timestamp expires: the gate keeps serving through an
 *   outage and then fails closed with the expiry as the reason.
 * - Every failure becomes `GateError('DENIED')` with docker's consumer wording (out-of-date,
 *   insufficient signatures, rollback, no trust data) and a short reason for metrics.
 * - A fresh transport per update: one that found the server down stays down (fail fast within an
 *   update) but must not stay down for the gate's lifetime.
 */
import { TokenAuthenticator, type CredentialSource } from '../client/auth.ts';
import { MetadataCache, gunDir } from '../client/cache.ts';
import { codeOf, dockerTrustError } from '../client/docker/errors.ts';
import type { Logger } from '../client/log.ts';
import { RemoteStore } from '../client/remote.ts';
import { HttpTransport, type TlsOptions } from '../client/transport.ts';
import { updateCollection, type UpdatedCollection } from '../client/update.ts';
import type { TrustPinning } from '../tuf/root-trust.ts';
import { parseGun } from '../tuf/types.ts';
import { denied } from './errors.ts';

export interface TrustSourceOptions {
  readonly serverUrl: string;
  readonly tls?: TlsOptions;
  readonly credentials?: readonly CredentialSource[];
  readonly trustDir: string;
  readonly pinning?: TrustPinning;
  /** How long a verified update is reused before the trust server is asked again. */
  readonly ttlMs: number;
  readonly now: () => Date;
  readonly log: Logger;
}

export interface VerifiedCollection extends UpdatedCollection {
  readonly gun: string;
  /** When the update ran (ms since the epoch, by the injected clock). */
  readonly checkedAt: number;
  /** The earliest expiry of the files it verified: after it, a new update is needed. */
  readonly validUntil: number;
  /** Per-policy memo of the accepted tags (built on first use, dropped with the collection). */
  readonly memo: Map<string, unknown>;
}

const REASONS: Readonly<Record<string, string>> = {
  EXPIRED: 'expired',
  THRESHOLD_NOT_MET: 'insufficient-signatures',
  ROLLBACK: 'rollback',
  ROOT_UNTRUSTED: 'root-untrusted',
  ROOT_ROTATION_FAILED: 'root-untrusted',
  NETWORK: 'trust-server-unreachable',
  TLS: 'trust-server-unreachable',
  REPOSITORY_NOT_EXIST: 'no-trust-data',
  METADATA_NOT_FOUND: 'no-trust-data',
};

function earliestExpiry(u: UpdatedCollection): number {
  const tc = u.collection;
  const times = [tc.root, tc.timestamp, tc.snapshot, ...tc.targets.values()].map((m) => m?.signed.expires.epochMs ?? Infinity);
  return Math.min(...times);
}

export class TrustSource {
  private readonly o: TrustSourceOptions;
  private readonly current = new Map<string, VerifiedCollection>();
  private readonly inflight = new Map<string, Promise<VerifiedCollection>>();

  constructor(o: TrustSourceOptions) {
    this.o = o;
  }

  /** The verified collection `gun`, or `GateError('DENIED')`. */
  async verified(gun: string): Promise<VerifiedCollection> {
    const now = this.o.now().getTime();
    const have = this.current.get(gun);
    if (have !== undefined && now - have.checkedAt < this.o.ttlMs && now < have.validUntil) return have;
    let p = this.inflight.get(gun);
    if (p === undefined) {
      p = this.update(gun).finally(() => this.inflight.delete(gun));
      this.inflight.set(gun, p);
    }
    return p;
  }

  private async update(gun: string): Promise<VerifiedCollection> {
    let parsed;
    try {
      parsed = parseGun(gun);
    } catch (e) {
      throw denied(`${gun} is not a valid collection name`, 'invalid-name', e);
    }
    const transport = new HttpTransport({
      baseUrl: this.o.serverUrl,
      ...(this.o.tls !== undefined ? { tls: this.o.tls } : {}),
      userAgent: 'vouch (gate)',
      authenticator: new TokenAuthenticator({ gun, credentials: this.o.credentials ?? [], clientId: 'vouch-gate' }),
      timeouts: { connectMs: 5_000, headersMs: 15_000, bodyMs: 60_000 },
    });
    const now = this.o.now();
    try {
      const u = await updateCollection({
        gun: parsed, now, cache: new MetadataCache(gunDir(this.o.trustDir, parsed)),
        remote: new RemoteStore(transport, parsed), log: this.o.log,
        ...(this.o.pinning !== undefined ? { pinning: this.o.pinning } : {}),
      });
      if (u.usedCachedTimestamp) this.o.log.warn(`trust server unreachable: serving ${gun} from the verified cache until ${new Date(earliestExpiry(u)).toISOString()}`);
      const v: VerifiedCollection = { ...u, gun, checkedAt: now.getTime(), validUntil: earliestExpiry(u), memo: new Map() };
      this.current.set(gun, v);
      return v;
    } catch (e) {
      this.current.delete(gun);
      const code = codeOf(e);
      const message = dockerTrustError(gun, e).message.replace(/^Error: /, '');
      throw denied(message, REASONS[code] ?? 'invalid-trust-data', e);
    } finally {
      await transport.close();
    }
  }
}

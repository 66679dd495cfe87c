/**
 * docker/distribution token authentication as notary-server wires it (docs/formats.md §7).
 *
 * Contract: `authorize` returns normally only for a compact JWS whose signature verifies with a
 * trusted key — an `x5c` chain ending at a certificate of `rootcertbundle`, or a `jwk`/`kid`
 * naming the public key of one of those certificates — whose `iss` and `aud` match, whose
 * `exp`/`nbf` hold within 60 s of leeway, and whose `access` claim grants every requested action
 * (a granted `*` covers every action). Anything else throws `ServerError('UNAUTHORIZED')` with the
 * requested access records as detail and a `WWW-Authenticate: Bearer …` challenge, carrying
 * `error="invalid_token"` or `error="insufficient_scope"` when that applies. `alg: none` and
 * HMAC algorithms are refused: only ES256/384/512 and RS256/384/512 are accepted.
 */
import { X509Certificate, createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { isJsonObject, parseJson } from '../tuf/canonical.ts';
import { ServerError } from './errors.ts';

export interface Access {
  readonly type: string;
  readonly name: string;
  readonly action: string;
}

/** What the HTTP layer asks of any auth scheme (token auth here, basic auth in basic-auth.ts). */
export interface Authorizer {
  /**
   * True when reads (routes needing only `pull`, the changefeeds excepted) are open to anyone:
   * basic auth, because notary and docker never send passwords for reads (see basic-auth.ts).
   */
  readonly anonymousPull?: boolean;
  /** Returns when `authorization` grants every record of `access`; throws ServerError('UNAUTHORIZED') otherwise. */
  authorize(authorization: string | undefined, host: string | undefined, access: readonly Access[], now: Date): void | Promise<void>;
}

export interface TokenAuthOptions {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM text of the root certificate bundle. */
  readonly rootCertBundle: string;
  readonly autoRedirect?: boolean;
}

const LEEWAY_S = 60;
const MAX_TOKEN_CHARS = 64 * 1024;

const ALGORITHMS: Record<string, { hash: string; kind: 'ec' | 'rsa'; curve?: string }> = {
  ES256: { hash: 'sha256', kind: 'ec', curve: 'prime256v1' },
  ES384: { hash: 'sha384', kind: 'ec', curve: 'secp384r1' },
  ES512: { hash: 'sha512', kind: 'ec', curve: 'secp521r1' },
  RS256: { hash: 'sha256', kind: 'rsa' },
  RS384: { hash: 'sha384', kind: 'rsa' },
  RS512: { hash: 'sha512', kind: 'rsa' },
};

/** libtrust's key ID: base32 of the first 30 bytes of SHA-256(DER SPKI), in groups of four. */
export function libtrustKeyId(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  const digest = createHash('sha256').update(der).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return (out.match(/.{1,4}/g) ?? []).join(':');
}

function splitPem(bundle: string): X509Certificate[] {
  const blocks = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

class TokenInvalid extends Error {}

function b64url(s: string): Buffer {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new TokenInvalid('not base64url');
  return Buffer.from(s, 'base64url');
}

function decodeJson(part: string): Record<string, unknown> {
  const v = parseJson(b64url(part), 'token');
  if (!isJsonObject(v)) throw new TokenInvalid('not a JSON object');
  return v;
}

/** The requested records as the challenge's `scope` parameter (space-separated resources). */
export function scopeParam(access: readonly Access[]): string {
  const byResource = new Map<string, string[]>();
  for (const a of access) {
    const key = `${a.type}:${a.name}`;
    const actions = byResource.get(key) ?? [];
    if (!actions.includes(a.action)) actions.push(a.action);
    byResource.set(key, actions);
  }
  return [...byResource].map(([r, actions]) => `${r}:${actions.join(',')}`).join(' ');
}

export class TokenAuth implements Authorizer {
  private readonly opts: TokenAuthOptions;
  private readonly roots: X509Certificate[];
  private readonly trustedKeys = new Map<string, KeyObject>();

  constructor(opts: TokenAuthOptions) {
    this.opts = opts;
    this.roots = splitPem(opts.rootCertBundle);
    if (this.roots.length === 0) throw new Error('token auth: rootcertbundle holds no certificate');
    for (const cert of this.roots) this.trustedKeys.set(libtrustKeyId(cert.publicKey), cert.publicKey);
  }

  private challenge(access: readonly Access[], host: string | undefined, error?: 'invalid_token' | 'insufficient_scope'): ServerError {
    const realm = this.opts.autoRedirect === true ? `https://${host ?? ''}/auth/token` : this.opts.realm;
    let header = `Bearer realm=${JSON.stringify(realm)},service=${JSON.stringify(this.opts.service)}`;
    const scope = scopeParam(access);
    if (scope !== '') header += `,scope=${JSON.stringify(scope)}`;
    if (error !== undefined) header += `,error="${error}"`;
    const detail = access.map((a) => ({ Type: a.type, Class: '', Name: a.name, Action: a.action }));
    return new ServerError('UNAUTHORIZED', detail, { headers: { 'WWW-Authenticate': header } });
  }

  /** Throws UNAUTHORIZED unless `authorization` carries a valid token granting all of `access`. */
  authorize(authorization: string | undefined, host: string | undefined, access: readonly Access[], now: Date): void {
    const parts = (authorization ?? '').split(' ');
    if (parts.length !== 2 || parts[0]?.toLowerCase() !== 'bearer') throw this.challenge(access, host);
    let granted: Map<string, Set<string>>;
    try {
      granted = this.verify(parts[1] as string, now);
    } catch {
      // Any failure to verify (bad encoding, unusable key, bad signature) is an invalid token.
      throw this.challenge(access, host, 'invalid_token');
    }
    for (const a of access) {
      const actions = granted.get(`${a.type}:${a.name}`);
      if (actions === undefined || !(actions.has(a.action) || actions.has('*'))) throw this.challenge(access, host, 'insufficient_scope');
    }
  }

  /** Verifies a compact JWS and returns resource → granted actions. */
  private verify(token: string, now: Date): Map<string, Set<string>> {
    if (token.length > MAX_TOKEN_CHARS) throw new TokenInvalid('token too long');
    const segments = token.split('.');
    if (segments.length !== 3) throw new TokenInvalid('not a compact JWS');
    const [h, c, s] = segments as [string, string, string];
    const header = decodeJson(h);
    const claims = decodeJson(c);
    const algName = String(header['alg']);
    const alg = Object.hasOwn(ALGORITHMS, algName) ? ALGORITHMS[algName] : undefined;
    if (alg === undefined) throw new TokenInvalid('unsupported alg');
    this.checkClaims(claims, now);
    const key = this.signingKey(header, now);
    const signature = b64url(s);
    if (signature.length === 0) throw new TokenInvalid('no signature');
    const ok = verifySignature(alg.hash, Buffer.from(`${h}.${c}`, 'ascii'), alg.kind === 'ec' ? { key, dsaEncoding: 'ieee-p1363' } : key, signature);
    const type = key.asymmetricKeyType;
    const details = key.asymmetricKeyDetails;
    if (!ok || (alg.kind === 'ec' ? type !== 'ec' || details?.namedCurve !== alg.curve : type !== 'rsa')) throw new TokenInvalid('bad signature');
    return this.accessOf(claims);
  }

  private checkClaims(claims: Record<string, unknown>, now: Date): void {
    if (claims['iss'] !== this.opts.issuer) throw new TokenInvalid('issuer');
    if (claims['aud'] !== this.opts.service) throw new TokenInvalid('audience');
    const t = now.getTime() / 1000;
    const exp = typeof claims['exp'] === 'number' ? claims['exp'] : 0;
    const nbf = typeof claims['nbf'] === 'number' ? claims['nbf'] : 0;
    if (t > exp + LEEWAY_S || t < nbf - LEEWAY_S) throw new TokenInvalid('not valid now');
  }

  private signingKey(header: Record<string, unknown>, now: Date): KeyObject {
    const x5c = header['x5c'];
    if (Array.isArray(x5c) && x5c.length > 0) return this.chainKey(x5c, now);
    const jwk = header['jwk'];
    if (isJsonObject(jwk)) {
      const key = createPublicKey({ key: jwk as Record<string, string>, format: 'jwk' });
      const trusted = this.trustedKeys.get(libtrustKeyId(key));
      if (trusted === undefined) throw new TokenInvalid('untrusted jwk');
      return trusted;
    }
    const kid = header['kid'];
    const trusted = typeof kid === 'string' ? this.trustedKeys.get(kid) : undefined;
    if (trusted === undefined) throw new TokenInvalid('no trusted key');
    return trusted;
  }

  private chainKey(x5c: unknown[], now: Date): KeyObject {
    if (x5c.length > 10 || x5c.some((c) => typeof c !== 'string')) throw new TokenInvalid('bad x5c');
    const chain = (x5c as string[]).map((c) => new X509Certificate(Buffer.from(c, 'base64')));
    const within = (cert: X509Certificate) => now >= new Date(cert.validFrom) && now <= new Date(cert.validTo);
    for (let i = 0; i < chain.length; i++) {
      const cert = chain[i] as X509Certificate;
      if (!within(cert)) throw new TokenInvalid('certificate not valid now');
      const root = this.roots.find((r) => r.fingerprint256 === cert.fingerprint256 || (cert.checkIssued(r) && cert.verify(r.publicKey)));
      if (root !== undefined) {
        if (!within(root)) throw new TokenInvalid('root not valid now');
        return (chain[0] as X509Certificate).publicKey;
      }
      const issuer = chain[i + 1];
      if (issuer === undefined || !issuer.ca || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) throw new TokenInvalid('chain does not verify');
    }
    throw new TokenInvalid('chain does not reach a trusted root');
  }

  private accessOf(claims: Record<string, unknown>): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    const list = claims['access'];
    if (!Array.isArray(list)) return out;
    for (const entry of list) {
      if (!isJsonObject(entry) || typeof entry['type'] !== 'string' || typeof entry['name'] !== 'string') continue;
      const actions = Array.isArray(entry['actions']) ? entry['actions'].filter((a): a is string => typeof a === 'string') : [];
      const key = `${entry['type']}:${entry['name']}`;
      const set = out.get(key) ?? new Set<string>();
      for (const a of actions) set.add(a);
      out.set(key, set);
    }
    return out;
  }
}

/**
 * docker/distribution token auth as the notary client and docker use it (docs/formats.md §7).
 *
 * Contract: a 401 challenge `Bearer realm=…,service=…` is answered by fetching a token from the
 * realm for `repository:<gun>:<actions>` — anonymously first, then with credentials (basic auth
 * on a GET, or an OAuth refresh-token POST when the credentials are a docker identity token).
 * Tokens are cached per access until `expires_in` (at least 60 s) runs out. A `Basic` challenge
 * is answered with the credentials directly. Credentials come from a list of sources tried in
 * order (NOTARY_AUTH, ~/.docker/config.json, a prompt); none found means no retry.
 */
import { ClientError } from './errors.ts';
import type { Access, Authenticator, HttpTransport } from './transport.ts';

export type Credentials =
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  | { readonly kind: 'identityToken'; readonly username: string; readonly token: string };

/** Where credentials for a host come from; returns undefined when it has none. */
export interface CredentialSource {
  get(host: string): Promise<Credentials | undefined>;
}

export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** Parses one `WWW-Authenticate` challenge: `Bearer realm="…",service="…",scope="…"`. */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9-]*)\s*(.*)$/s.exec(header);
  if (m === null) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = m[2] ?? '';
  let p: RegExpExecArray | null;
  while ((p = re.exec(rest)) !== null && p[0] !== '') {
    const key = (p[1] ?? '').toLowerCase();
    params[key] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: (m[1] ?? '').toLowerCase(), params };
}

interface CachedToken {
  readonly header: string;
  readonly expiresAt: number;
}

const MAX_TOKEN_RESPONSE = 256 * 1024;
const MIN_TOKEN_LIFETIME_S = 60;

export interface TokenAuthOptions {
  /** The GUN whose repository scope is requested. */
  readonly gun: string;
  readonly credentials: readonly CredentialSource[];
  /** Clock for token expiry (ms since epoch). */
  readonly now?: () => number;
  /** Client id for OAuth refresh-token grants. */
  readonly clientId?: string;
}

export class TokenAuthenticator implements Authenticator {
  private readonly opts: TokenAuthOptions;
  private readonly tokens = new Map<Access, CachedToken>();
  private creds: Credentials | null | undefined;

  constructor(opts: TokenAuthOptions) {
    this.opts = opts;
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  cached(access: Access): string | undefined {
    const t = this.tokens.get(access);
    return t !== undefined && t.expiresAt > this.now() ? t.header : undefined;
  }

  async answer(header: string, access: Access, attempt: number, transport: HttpTransport): Promise<string | undefined> {
    const challenge = parseChallenge(header);
    if (challenge === undefined) return undefined;
    const creds = attempt === 0 ? undefined : await this.credentialsFor(transport.baseUrl.host);
    if (attempt > 0 && creds === undefined) return undefined;
    if (challenge.scheme === 'basic') {
      if (creds === undefined || creds.kind !== 'basic') return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    if (challenge.scheme !== 'bearer') return undefined;
    const realm = challenge.params['realm'];
    if (realm === undefined || realm === '') throw new ClientError('AUTH_FAILED', 'the trust server asked for a token without naming a realm');
    const token = await this.fetchToken(transport, realm, challenge.params['service'], access, creds);
    if (token === undefined) return undefined;
    this.tokens.set(access, token);
    return token.header;
  }

  private async credentialsFor(host: string): Promise<Credentials | undefined> {
    if (this.creds !== undefined) return this.creds ?? undefined;
    for (const source of this.opts.credentials) {
      const c = await source.get(host);
      if (c !== undefined) {
        this.creds = c;
        return c;
      }
    }
    this.creds = null;
    return undefined;
  }

  private scope(access: Access): string {
    return `repository:${this.opts.gun}:${access}`;
  }

  private async fetchToken(transport: HttpTransport, realm: string, service: string | undefined, access: Access, creds: Credentials | undefined): Promise<CachedToken | undefined> {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new ClientError('AUTH_FAILED', `the trust server named an invalid token realm: ${realm}`);
    }
    const scope = this.scope(access);
    let res;
    if (creds?.kind === 'identityToken') {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.token, client_id: this.opts.clientId ?? 'vouch', scope });
      if (service !== undefined) form.set('service', service);
      res = await transport.request({
        method: 'POST', url: url.href, maxBytes: MAX_TOKEN_RESPONSE,
        headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(form.toString()),
      });
    } else {
      if (service !== undefined) url.searchParams.set('service', service);
      url.searchParams.append('scope', scope);
      const headers: Record<string, string> = {};
      if (creds?.kind === 'basic') {
        url.searchParams.set('account', creds.username);
        headers['authorization'] = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      }
      res = await transport.request({ method: 'GET', url: url.href, maxBytes: MAX_TOKEN_RESPONSE, headers });
    }
    if (res.status === 401 || res.status === 403) return undefined;
    if (res.status !== 200) throw new ClientError('AUTH_FAILED', `token service ${url.origin}${url.pathname} answered ${res.status}`);
    return this.parseToken(res.body, url);
  }

  private parseToken(body: Buffer, url: URL): CachedToken {
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      throw new ClientError('AUTH_FAILED', `token service ${url.origin}${url.pathname} answered with something that is not JSON`);
    }
    const o = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
    const token = typeof o['token'] === 'string' && o['token'] !== '' ? o['token'] : o['access_token'];
    if (typeof token !== 'string' || token === '') throw new ClientError('AUTH_FAILED', `token service ${url.origin}${url.pathname} answered without a token`);
    const expiresIn = typeof o['expires_in'] === 'number' && o['expires_in'] > MIN_TOKEN_LIFETIME_S ? o['expires_in'] : MIN_TOKEN_LIFETIME_S;
    return { header: `Bearer ${token}`, expiresAt: this.now() + (expiresIn - 5) * 1000 };
  }
}

/**
 * A docker/distribution-style token issuer for the auth tests: a CA (the server's
 * `rootcertbundle`) and a leaf that signs ES256 JWTs carrying `x5c`, plus a small HTTPS token
 * endpoint that the real notary client can use (realm → `{"token": …}`).
 */
import { X509Certificate, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createServerPki } from '../../src/server/tls-pki.ts';

export interface TokenClaims {
  iss?: string;
  aud?: string;
  exp?: number;
  nbf?: number;
  access?: { type: string; name: string; actions: string[] }[];
}

export interface TokenIssuer {
  readonly bundle: string;
  readonly caKey: KeyObject;
  readonly caCert: X509Certificate;
  readonly leafKey: KeyObject;
  readonly leafDer: Buffer;
  /** A compact JWS over `claims` (defaults: iss, aud, a 5-minute window) with the given header. */
  token(claims: TokenClaims, header?: Record<string, unknown>, key?: KeyObject): string;
}

export const ISSUER = 'vouch-test-issuer';
export const SERVICE = 'vouch-test-service';

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export function tokenIssuer(): TokenIssuer {
  const pki = createServerPki(new Date(), ['token-signer']);
  const caKey = createPrivateKey(pki.caKeyPem);
  const leafKey = createPrivateKey(pki.keyPem);
  const leaf = new X509Certificate(pki.certPem);
  return {
    bundle: pki.caCertPem, caKey, caCert: new X509Certificate(pki.caCertPem), leafKey, leafDer: leaf.raw,
    token(claims, header, key) {
      const now = Math.floor(Date.now() / 1000);
      const h = header ?? { typ: 'JWT', alg: 'ES256', x5c: [leaf.raw.toString('base64')] };
      const c = { iss: ISSUER, aud: SERVICE, nbf: now - 1, iat: now, exp: now + 300, jti: String(Math.random()), ...claims };
      const input = `${b64url(JSON.stringify(h))}.${b64url(JSON.stringify(c))}`;
      if (h['alg'] === 'none') return `${input}.`;
      const sig = sign('sha256', Buffer.from(input), { key: key ?? leafKey, dsaEncoding: 'ieee-p1363' });
      return `${input}.${b64url(sig)}`;
    },
  };
}

/**
 * An HTTPS token endpoint: grants every scope asked for when the basic-auth user is `alice`,
 * nothing (no access claim entries) otherwise.
 */
export async function startTokenServer(issuer: TokenIssuer, tls: { cert: Buffer; key: Buffer }): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://x');
    requests.push(url.search);
    const auth = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
    const access = auth.startsWith('alice:') ? url.searchParams.getAll('scope').map((s) => {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop() ?? '';
      return { type: type ?? '', name: rest.join(':'), actions: actions.split(',') };
    }) : [];
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ token: issuer.token({ access }), expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/token`, server, requests };
}

/**
 * Client auth for the gate, reusing the trust server's auth module: a docker/distribution token
 * (`TokenAuth` of src/server/auth.ts) granting `repository:<repo>:pull`. `GateAuthorizer` is the
 * hook any other scheme (the server's basic auth) plugs into.
 */
import type { IncomingMessage } from 'node:http';
import { TokenAuth, type TokenAuthOptions } from '../server/auth.ts';
import type { GateAuthorizer } from './server.ts';

export function tokenAuthorizer(opts: TokenAuthOptions, now: () => Date = () => new Date()): GateAuthorizer {
  const auth = new TokenAuth(opts);
  return {
    authorize(req: IncomingMessage, repository: string | undefined): void {
      const access = repository === undefined ? [] : [{ type: 'repository', name: repository, action: 'pull' }];
      auth.authorize(req.headers.authorization, req.headers.host, access, now());
    },
  };
}

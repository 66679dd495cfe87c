/**
 * A scripted notary-server stand-in over HTTPS for attack and failure tests: it serves whatever
 * bytes the test puts at a path (`/v2/<gun>/_trust/tuf/<file>`), answers 404 with notary's error
 * body otherwise, and records every request. Optional hooks answer other routes (token realms,
 * 401 challenges).
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { TestPki } from '../helpers/tls.ts';

export interface FakeRequest {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
}

export type Hook = (req: IncomingMessage, res: ServerResponse, body: Buffer) => boolean;

export interface FakeServer {
  readonly url: string;
  readonly requests: FakeRequest[];
  /** Bytes served at `/v2/<gun>/_trust/tuf/<file>`. */
  put(gun: string, file: string, bytes: Uint8Array): void;
  remove(gun: string, file: string): void;
  hook(h: Hook): void;
  close(): Promise<void>;
}

const NOT_FOUND = '{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist.","detail":{}}]}\n';

export async function startFakeServer(pki: TestPki, cert: { certFile: string; keyFile: string } = pki.server): Promise<FakeServer> {
  const files = new Map<string, Uint8Array>();
  const requests: FakeRequest[] = [];
  const hooks: Hook[] = [];
  const server: Server = createServer({ cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
      const body = Buffer.concat(chunks);
      for (const h of hooks) if (h(req, res, body)) return;
      const bytes = files.get(req.url ?? '');
      if (req.method === 'GET' && bytes !== undefined) {
        res.writeHead(200, { 'content-length': bytes.length });
        res.end(bytes);
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
      res.end(NOT_FOUND);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const path = (gun: string, file: string) => `/v2/${gun}/_trust/tuf/${file}`;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    put: (gun, file, bytes) => { files.set(path(gun, file), bytes); },
    remove: (gun, file) => { files.delete(path(gun, file)); },
    hook: (h) => { hooks.push(h); },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

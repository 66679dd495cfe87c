/**
 * Free loopback TCP ports for test peers.
 *
 * Contract: `freePort()` binds 127.0.0.1:0, reads the port the kernel chose, closes the socket
 * and returns the port. There is an unavoidable window in which another process could take the
 * port; callers that start a peer on it should treat "address already in use" as retryable.
 * `freePorts(n)` holds all n sockets open until every port is known, so the n ports are distinct.
 */
import { createServer } from 'node:net';
import type { Server } from 'node:net';

export const LOOPBACK = '127.0.0.1';

function listenEphemeral(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => resolve(srv));
  });
}

function portOf(srv: Server): number {
  const addr = srv.address();
  if (addr === null || typeof addr === 'string') throw new Error('listener has no TCP address');
  return addr.port;
}

function close(srv: Server): Promise<void> {
  return new Promise((resolve) => srv.close(() => resolve()));
}

/** `n` distinct free ports on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await listenEphemeral());
    return servers.map(portOf);
  } finally {
    await Promise.all(servers.map(close));
  }
}

/** One free port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

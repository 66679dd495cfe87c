/**
 * A small Docker Engine API client over the engine's unix socket (docs/docker-engine.md): what
 * `vouch trust push|pull` needs and no more — push a tag, pull a digest, tag an image, inspect an
 * image — so no `docker` binary is needed.
 *
 * Contract:
 * - The engine is `DOCKER_HOST` (`unix:///path`; other schemes are refused with a message naming
 *   the fix), else `/var/run/docker.sock`. Unversioned API paths (the engine's own version).
 * - Push and pull answer a stream of JSON messages; each is handed to `onMessage` as it arrives
 *   (the caller prints docker's progress lines), a message with `error`/`errorDetail` fails the
 *   call with that text (docker prints exactly it), a message with `aux` is collected. Lines are
 *   capped at 1 MiB, whole streams at `deadlineMs` (default 30 min), non-stream bodies at 4 MiB.
 * - `X-Registry-Auth` is always sent (the engine refuses a push without it): the registry login
 *   from the docker config, else `{}`.
 * - Failures are `EngineError`s with stable codes: `ENGINE_UNREACHABLE` (socket), `ENGINE_ERROR`
 *   (the engine's own error text), `BAD_RESPONSE` (not the Engine API).
 */
import { request, type IncomingMessage } from 'node:http';
import { VouchError } from '../../errors.ts';
import type { Credentials } from '../auth.ts';

export type EngineErrorCode = 'ENGINE_UNREACHABLE' | 'ENGINE_ERROR' | 'BAD_RESPONSE' | 'INVALID_INPUT';
export class EngineError extends VouchError<EngineErrorCode> {}

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
const MAX_LINE = 1 << 20;
const MAX_BODY = 4 << 20;
const DEFAULT_DEADLINE_MS = 30 * 60_000;

/** One message of the engine's JSON progress stream (docker's `jsonmessage.JSONMessage`). */
export interface JsonMessage {
  readonly status?: string;
  readonly id?: string;
  readonly progress?: string;
  readonly error?: string;
  readonly errorDetail?: { readonly message?: string };
  readonly aux?: unknown;
}

/** The push result the engine sends as `aux` (docker's `types.PushResult`). */
export interface PushResult {
  readonly tag: string;
  readonly digest: string;
  readonly size: number;
}

/** The socket path of `DOCKER_HOST` (or docker's default). */
export function engineSocketPath(env: Readonly<Record<string, string | undefined>>): string {
  const host = env['DOCKER_HOST'];
  if (host === undefined || host === '') return DEFAULT_DOCKER_SOCKET;
  if (host.startsWith('unix://')) {
    const path = host.slice('unix://'.length);
    if (path !== '') return path;
  }
  throw new EngineError('INVALID_INPUT', `unsupported DOCKER_HOST ${JSON.stringify(host)}: vouch talks to the engine over its unix socket; set DOCKER_HOST=unix:///path/to/docker.sock`);
}

/** base64url JSON of docker's `registry.AuthConfig`, as the engine expects it. */
export function registryAuthHeader(creds: Credentials | undefined, serverAddress: string): string {
  const doc = creds === undefined ? {}
    : creds.kind === 'basic' ? { username: creds.username, password: creds.password, serveraddress: serverAddress }
      : { username: creds.username, identitytoken: creds.token, serveraddress: serverAddress };
  return Buffer.from(JSON.stringify(doc)).toString('base64url');
}

function errorText(body: string, status: number): string {
  try {
    const doc: unknown = JSON.parse(body);
    if (typeof doc === 'object' && doc !== null && typeof (doc as { message?: unknown }).message === 'string') {
      return (doc as { message: string }).message;
    }
  } catch {
    // not JSON
  }
  return `engine answered ${status}${body.trim() !== '' ? `: ${body.trim().slice(0, 500)}` : ''}`;
}

export class EngineClient {
  readonly socketPath: string;
  readonly #deadlineMs: number;

  constructor(opts: { socketPath: string; deadlineMs?: number }) {
    this.socketPath = opts.socketPath;
    this.#deadlineMs = opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
  }

  #send(method: string, path: string, headers: Record<string, string>, onResponse: (res: IncomingMessage) => Promise<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, method, path, headers: { Host: 'docker', ...headers } }, (res) => {
        onResponse(res).then(resolve, reject);
      });
      const timer = setTimeout(() => req.destroy(new EngineError('ENGINE_ERROR', `the engine did not finish ${method} ${path.replace(/\?.*$/, '')} within ${Math.round(this.#deadlineMs / 1000)} s`)), this.#deadlineMs);
      timer.unref();
      req.on('close', () => clearTimeout(timer));
      req.on('error', (e) => {
        if (e instanceof EngineError) reject(e);
        else reject(new EngineError('ENGINE_UNREACHABLE', `Cannot connect to the Docker daemon at unix://${this.socketPath}. Is the docker daemon running? (${e.message})`, { cause: e }));
      });
      req.end();
    });
  }

  async #readBody(res: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY) {
        res.destroy();
        throw new EngineError('BAD_RESPONSE', `the engine's answer exceeds ${MAX_BODY} bytes`);
      }
      chunks.push(c);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** A request with a small JSON (or empty) answer; non-2xx is the engine's error text. */
  async call(method: string, path: string): Promise<unknown> {
    return this.#send(method, path, {}, async (res) => {
      const body = await this.#readBody(res);
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) throw new EngineError('ENGINE_ERROR', errorText(body, status));
      if (body.trim() === '') return undefined;
      try {
        return JSON.parse(body) as unknown;
      } catch {
        throw new EngineError('BAD_RESPONSE', `the engine answered ${method} ${path.replace(/\?.*$/, '')} with something that is not JSON`);
      }
    });
  }

  /** A request answered by a JSON message stream; returns the `aux` payloads. */
  async stream(method: string, path: string, headers: Record<string, string>, onMessage: (m: JsonMessage) => void): Promise<unknown[]> {
    const aux: unknown[] = [];
    await this.#send(method, path, headers, async (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) throw new EngineError('ENGINE_ERROR', errorText(await this.#readBody(res), status));
      let pending = '';
      const handle = (line: string): void => {
        if (line.trim() === '') return;
        let m: JsonMessage;
        try {
          m = JSON.parse(line) as JsonMessage;
        } catch {
          throw new EngineError('BAD_RESPONSE', 'the engine sent a progress line that is not JSON');
        }
        if (typeof m !== 'object' || m === null) throw new EngineError('BAD_RESPONSE', 'the engine sent a progress line that is not a JSON object');
        if (m.error !== undefined || m.errorDetail !== undefined) {
          throw new EngineError('ENGINE_ERROR', String(m.errorDetail?.message ?? m.error));
        }
        if (m.aux !== undefined) aux.push(m.aux);
        onMessage(m);
      };
      for await (const c of res as AsyncIterable<Buffer>) {
        pending += c.toString('utf8');
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          handle(line);
        }
        if (pending.length > MAX_LINE) {
          res.destroy();
          throw new EngineError('BAD_RESPONSE', `the engine sent a progress line over ${MAX_LINE} bytes`);
        }
      }
      handle(pending);
    });
    return aux;
  }

  /** `POST /images/{name}/push?tag=` → the push result (digest and size of the pushed manifest). */
  async push(name: string, tag: string, auth: string, onMessage: (m: JsonMessage) => void): Promise<PushResult | undefined> {
    const aux = await this.stream('POST', `/images/${encodeURIComponent(name)}/push?tag=${encodeURIComponent(tag)}`, { 'X-Registry-Auth': auth }, onMessage);
    for (const a of aux) {
      if (typeof a !== 'object' || a === null) continue;
      const r = a as { Tag?: unknown; Digest?: unknown; Size?: unknown };
      if (typeof r.Tag === 'string' && r.Tag !== '' && typeof r.Digest === 'string' && typeof r.Size === 'number'
        && Number.isSafeInteger(r.Size) && r.Size >= 0) {
        return { tag: r.Tag, digest: r.Digest, size: r.Size };
      }
    }
    return undefined;
  }

  /** `POST /images/create?fromImage=&tag=` (tag may be a digest). */
  async pull(name: string, tagOrDigest: string, auth: string, onMessage: (m: JsonMessage) => void): Promise<void> {
    await this.stream('POST', `/images/create?fromImage=${encodeURIComponent(name)}&tag=${encodeURIComponent(tagOrDigest)}`, { 'X-Registry-Auth': auth }, onMessage);
  }

  /** `POST /images/{source}/tag?repo=&tag=`. */
  async tag(source: string, repo: string, tag: string): Promise<void> {
    await this.call('POST', `/images/${encodeURIComponent(source)}/tag?repo=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`);
  }

  /** `GET /images/{name}/json`, undefined when the engine has no such image. */
  async inspectImage(name: string): Promise<Record<string, unknown> | undefined> {
    try {
      const doc = await this.call('GET', `/images/${encodeURIComponent(name)}/json`);
      return typeof doc === 'object' && doc !== null ? doc as Record<string, unknown> : undefined;
    } catch (e) {
      if (e instanceof EngineError && /no such image/i.test(e.message)) return undefined;
      throw e;
    }
  }
}

/**
 * docker's non-terminal rendering of a progress message (`jsonmessage.Display` without a TTY):
 * `<id>: <status> <progress>` or `<status>`; progress bars are dropped, as docker drops them when
 * stdout is not a terminal.
 */
export function progressLine(m: JsonMessage): string | undefined {
  if (m.status === undefined || m.status === '') return undefined;
  if (m.progress !== undefined && m.progress !== '') return undefined;
  return m.id !== undefined && m.id !== '' ? `${m.id}: ${m.status}\n` : `${m.status}\n`;
}

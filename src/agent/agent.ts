/**
 * `vouch agent`: a resident process that keeps Node processes with Vouch already loaded ready for
 * the next command, and keeps keys unlocked for a while — the start-up and key derivation that
 * otherwise make every `vouch` command pay ≈ 100–200 ms before it does anything (docs/agent.md).
 *
 * Contract:
 * - Listens on a Unix socket in a directory only the user can enter (checked, not assumed).
 * - Each connection is one command: the front end's request is parsed strictly; a request for
 *   another installation or protocol is declined ('F', the front end runs it itself); otherwise a
 *   ready command process takes it, its stdout/stderr become 'O'/'E' frames, its stdin the 'D'
 *   frames, and its exit status (128+n for a signal) the final 'X'. A front end that goes away
 *   kills its command process.
 * - One command process is kept ready at all times; it is replaced as soon as it is taken and
 *   when the build it loaded is replaced (dist/vouch.inputs.json changes).
 * - Unlocked keys are held in memory for `keyTtlMs` after they were last unlocked (0: never),
 *   keyed by the SHA-256 of the encrypted key file; they are never written anywhere.
 * - SIGTERM/SIGINT: the socket is removed at once, ready processes are stopped, commands under
 *   way finish, then the agent exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync, mkdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { dirname, join } from 'node:path';
import { VouchError } from '../errors.ts';
import { encodeFrame, FrameReader, parseRequest, type AgentRequest } from './protocol.ts';
import { EXIT_FD, WORKER_ENV, type FromWorker, type ToWorker } from './worker.ts';

export interface AgentOptions {
  readonly socketPath: string;
  /** The script a command process runs (bin/vouch.cjs of this installation). */
  readonly entry: string;
  readonly keyTtlMs: number;
  readonly log: (message: string) => void;
  /** Clock for key expiry (tests). */
  readonly now?: () => number;
}

export interface RunningAgent {
  readonly socketPath: string;
  readonly installation: string;
  /** Stops accepting, stops ready processes, resolves when commands under way have finished. */
  close(): Promise<void>;
}

export class AgentError extends VouchError<'AGENT_SOCKET_DIR' | 'AGENT_RUNNING' | 'AGENT_SOCKET_PATH'> {}

/** Longest socket path Linux accepts (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/** Creates (0700) or checks the socket's directory: the user's own, closed to everyone else. */
export function prepareSocketDir(socketPath: string): void {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new AgentError('AGENT_SOCKET_PATH', `socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes; choose a shorter --socket`);
  }
  const dir = dirname(socketPath);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    throw new AgentError('AGENT_SOCKET_DIR',
      `${dir} must be a directory owned by you with mode 0700 (it holds the agent's socket); fix it or choose another --socket`);
  }
}

interface Held {
  readonly pkcs8: string;
  readonly expires: number;
}

export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const now = opts.now ?? Date.now;
  const installation = realpathSync(join(dirname(opts.entry), '..'));
  const buildStamp = join(installation, 'dist', 'vouch.inputs.json');
  const stampOf = (): number => statSync(buildStamp, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const keys = new Map<string, Held>();
  const running = new Set<ChildProcess>();
  let ready: { child: ChildProcess; stamp: number; up: Promise<boolean> } | undefined;
  let closing = false;

  const heldKey = (digest: string): string | undefined => {
    const h = keys.get(digest);
    if (h === undefined) return undefined;
    if (h.expires <= now()) {
      keys.delete(digest);
      return undefined;
    }
    return h.pkcs8;
  };
  // Expired keys leave memory even when nobody asks for them again.
  const sweep = setInterval(() => {
    for (const [digest, h] of keys) if (h.expires <= now()) keys.delete(digest);
  }, 30_000);
  sweep.unref();

  const spawnWorker = (): { child: ChildProcess; stamp: number; up: Promise<boolean> } => {
    const stamp = stampOf();
    const child = spawn(process.execPath, [opts.entry], {
      env: { ...process.env, [WORKER_ENV]: '1' },
      stdio: ['pipe', 'pipe', 'pipe', 'ipc', 'pipe'],
    });
    const up = new Promise<boolean>((resolve) => {
      child.once('message', (m: FromWorker) => resolve(m.t === 'ready'));
      child.once('exit', () => resolve(false));
      child.once('error', () => resolve(false));
    });
    child.on('message', (m: FromWorker) => {
      if (m.t === 'key-get') {
        const pkcs8 = heldKey(m.digest);
        const reply: ToWorker = pkcs8 === undefined ? { t: 'key', id: m.id } : { t: 'key', id: m.id, pkcs8 };
        if (child.connected) child.send(reply);
      } else if (m.t === 'key-put' && opts.keyTtlMs > 0 && typeof m.digest === 'string' && typeof m.pkcs8 === 'string') {
        keys.set(m.digest, { pkcs8: m.pkcs8, expires: now() + opts.keyTtlMs });
      }
    });
    return { child, stamp, up };
  };

  const takeWorker = async (): Promise<ChildProcess> => {
    for (let tries = 0; tries < 3; tries++) {
      const w = ready !== undefined && ready.stamp === stampOf() ? ready : undefined;
      if (w === undefined && ready !== undefined) ready.child.kill();
      ready = undefined;
      const candidate = w ?? spawnWorker();
      if (await candidate.up) return candidate.child;
      candidate.child.kill();
    }
    throw new Error('command processes fail to start (see the agent log)');
  };

  const serve = (socket: Socket): void => {
    const reader = new FrameReader();
    let child: ChildProcess | undefined;
    let request: AgentRequest | undefined;
    let ended = false;
    const send = (type: 'O' | 'E' | 'W' | 'M' | 'X' | 'F', payload: Uint8Array | string = ''): void => {
      if (!socket.destroyed) socket.write(encodeFrame(type, payload));
    };
    const finish = (code: number): void => {
      if (ended) return;
      ended = true;
      send('X', String(code));
      socket.end();
    };
    const refuse = (message: string): void => {
      send('E', `vouch agent: ${message}\n`);
      finish(1);
    };
    const pendingInput: Buffer[] = [];
    let inputEnded = false;

    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch (e) {
        refuse((e as Error).message);
        return;
      }
      for (const f of frames) {
        if (request === undefined) {
          if (f.type !== 'R') return refuse('the first frame must be a request');
          try {
            request = parseRequest(f.payload);
          } catch (e) {
            return refuse((e as Error).message);
          }
          if (request.installation !== installation) {
            // Another installation's front end: it runs the command itself, with its own code.
            ended = true;
            send('F');
            socket.end();
            return;
          }
          void begin(request);
        } else if (f.type === 'D') {
          if (child?.stdin !== null && child !== undefined) child.stdin.write(f.payload);
          else pendingInput.push(Buffer.from(f.payload));
        } else if (f.type === 'Z') {
          inputEnded = true;
          child?.stdin?.end();
        } else {
          return refuse(`unexpected frame ${JSON.stringify(f.type)}`);
        }
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      // The user interrupted the front end, or it died: the command stops too.
      if (!ended && child !== undefined && child.exitCode === null) child.kill('SIGTERM');
      ended = true;
    });

    const begin = async (r: AgentRequest): Promise<void> => {
      let c: ChildProcess;
      try {
        c = await takeWorker();
      } catch (e) {
        refuse((e as Error).message);
        return;
      }
      if (ended) {
        c.kill();
        return;
      }
      child = c;
      running.add(c);
      c.stdout?.on('data', (d: Buffer) => send('O', d));
      c.stderr?.on('data', (d: Buffer) => send('E', d));
      c.stdin?.on('error', () => undefined);
      for (const d of pendingInput.splice(0)) c.stdin?.write(d);
      if (inputEnded) c.stdin?.end();
      c.on('message', (m: FromWorker) => {
        if (m.t === 'stdin') send('W');
        else if (m.t === 'tty') send('M', m.raw ? '1' : '0');
      });
      // The status comes early on EXIT_FD (worker.ts), after stdout and stderr have closed; a
      // process that dies without writing it is answered from its exit.
      let reported: number | undefined;
      let streamsOpen = 2;
      const settle = (): void => {
        if (reported !== undefined && streamsOpen === 0) finish(reported);
      };
      for (const stream of [c.stdout, c.stderr]) {
        stream?.once('end', () => {
          streamsOpen--;
          settle();
        });
      }
      const exitPipe = c.stdio[EXIT_FD] as Readable | null;
      exitPipe?.setEncoding('utf8');
      exitPipe?.on('data', (text: string) => {
        const code = /^(\d{1,3})\n/.exec(text)?.[1];
        if (code !== undefined) reported = Number(code);
        settle();
      });
      c.once('close', (code, signal) => {
        running.delete(c);
        finish(reported ?? code ?? 128 + signalNumber(signal));
        // The replacement starts once the command is done, so it never competes with it for CPU.
        if (!closing && ready === undefined) ready = spawnWorker();
        if (closing && running.size === 0) drained?.();
      });
      const message: ToWorker = { t: 'run', request: r };
      c.send(message);
    };
  };

  prepareSocketDir(opts.socketPath);
  rmSync(opts.socketPath, { force: true });
  const server: Server = createServer(serve);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => resolve());
  });
  ready = spawnWorker();
  opts.log(`vouch agent: listening on ${opts.socketPath} (pid ${process.pid}; keys kept ${Math.round(opts.keyTtlMs / 1000)} s)`);

  let drained: (() => void) | undefined;
  return {
    socketPath: opts.socketPath,
    installation,
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(sweep);
      keys.clear();
      rmSync(opts.socketPath, { force: true });
      ready?.child.kill();
      ready = undefined;
      server.close();
      if (running.size > 0) await new Promise<void>((resolve) => (drained = resolve));
    },
  };
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === null ? 0 : constants.signals[signal];
}

/** Writes the agent's pid next to its socket (`vouch agent stop` and `status` read it). */
export function writePidFile(socketPath: string): string {
  const path = `${socketPath}.pid`;
  writeFileSync(path, `${process.pid}\n`, { mode: 0o600 });
  return path;
}

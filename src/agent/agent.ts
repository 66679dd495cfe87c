/**
 * `vouch agent`: a resident process that keeps Node processes with Vouch already loaded ready for
 * the next command, and keeps keys unlocked for a while — the start-up and key derivation that
 * otherwise make every `vouch` command pay ≈ 100–200 ms before it does anything (docs/agent.md).
 *
 * Contract:
 * - Listens on a Unix socket in a directory only the user can enter (checked, not assumed).
 * - Each connection is one command: the front end's request is parsed strictly; a request for
 *   another installation, or with another value of a variable Node reads only at start-up
 *   (NODE_OPTIONS, NODE_EXTRA_CA_CERTS, …), is declined ('F', the front end runs it itself); otherwise an
 *   idle command process takes it, its stdout/stderr become 'O'/'E' frames, its stdin the 'D'
 *   frames, and its status (128+n for a signal) the final 'X' — sent only once every byte the
 *   process reports having written was relayed. A front end that goes away kills its command's
 *   process.
 * - Command processes run commands one after another (worker.ts says when one must not run
 *   another); one is kept idle, started when no command runs.
 * - Once the installation is rebuilt (dist/vouch.inputs.json changed), the agent declines every
 *   command and stops: processes it would start now run code of another version than its own.
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
  /** Called once the agent has stopped by itself (its installation was rebuilt). */
  readonly onStale?: () => void;
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

/** What a command process reports on EXIT_FD when a command is done (worker.ts). */
interface Done {
  readonly code: number;
  readonly outBytes: number;
  readonly errBytes: number;
  readonly again: boolean;
}

/** A command process of the agent and the command it is running, if any. */
interface CommandProcess {
  readonly child: ChildProcess;
  readonly up: Promise<boolean>;
  /** Bytes relayed from its stdout and stderr over its whole life (it reports the same totals). */
  outBytes: number;
  errBytes: number;
  session: Session | undefined;
  done: Done | undefined;
  retired: boolean;
}

/** One front-end connection: one command. */
interface Session {
  send(type: 'O' | 'E' | 'W' | 'M' | 'X' | 'F', payload?: Uint8Array | string): void;
  finish(code: number): void;
}

/** How long a retired command process has to exit after SIGTERM before it gets SIGKILL. */
const KILL_GRACE_MS = 3000;

/** Idle command processes kept beyond the first (a burst of parallel commands leaves more). */
const MAX_IDLE = 2;

/**
 * Environment variables Node or OpenSSL read once, when a process starts; a command whose value
 * differs from the agent's (which its command processes inherited) cannot run in one of them.
 */
const STARTUP_ONLY_ENV = ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'NODE_ICU_DATA', 'NODE_PATH', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'OPENSSL_CONF', 'OPENSSL_MODULES'];

function startUpOnlyDiffers(env: Readonly<Record<string, string>>): boolean {
  return STARTUP_ONLY_ENV.some((name) => (Object.hasOwn(env, name) ? env[name] : undefined) !== process.env[name]);
}

function parseDone(line: string): Done | undefined {
  const m = /^(\d{1,3}) (\d{1,15}) (\d{1,15}) (again|last)$/.exec(line);
  if (m === null) return undefined;
  return { code: Number(m[1]), outBytes: Number(m[2]), errBytes: Number(m[3]), again: m[4] === 'again' };
}

export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const now = opts.now ?? Date.now;
  const installation = realpathSync(join(dirname(opts.entry), '..'));
  const buildStamp = join(installation, 'dist', 'vouch.inputs.json');
  const stampOf = (): number => statSync(buildStamp, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const startStamp = stampOf();
  const keys = new Map<string, Held>();
  const idle: CommandProcess[] = [];
  const busy = new Set<CommandProcess>();
  let closing = false;
  let drained: (() => void) | undefined;

  const heldKey = (digest: string): Held | undefined => {
    const h = keys.get(digest);
    if (h === undefined) return undefined;
    if (h.expires <= now()) {
      keys.delete(digest);
      return undefined;
    }
    return h;
  };
  // Expired keys leave memory even when nobody asks for them again.
  const sweep = setInterval(() => {
    for (const [digest, h] of keys) if (h.expires <= now()) keys.delete(digest);
  }, 30_000);
  sweep.unref();

  const retire = (w: CommandProcess): void => {
    w.retired = true;
    const i = idle.indexOf(w);
    if (i >= 0) idle.splice(i, 1);
    const alive = (): boolean => w.child.exitCode === null && w.child.signalCode === null;
    if (!alive()) return;
    w.child.kill();
    // A process stuck in native code may never act on SIGTERM; it must not outlive the agent.
    setTimeout(() => {
      if (alive()) w.child.kill('SIGKILL');
    }, KILL_GRACE_MS).unref();
  };

  /** Keeps one process ready while nothing runs, started after commands so it never competes. */
  const replenish = (): void => {
    if (!closing && idle.length === 0 && busy.size === 0) idle.push(spawnProcess());
  };

  const settle = (w: CommandProcess): void => {
    const d = w.done;
    if (d === undefined || w.outBytes < d.outBytes || w.errBytes < d.errBytes) return;
    const session = w.session;
    w.done = undefined;
    w.session = undefined;
    busy.delete(w);
    session?.finish(d.code);
    if (d.again && !closing && !w.retired && idle.length < MAX_IDLE) idle.push(w);
    else if (!d.again) w.retired = true; // it exits by itself
    else retire(w);
    replenish();
    if (closing && busy.size === 0) drained?.();
  };

  const spawnProcess = (): CommandProcess => {
    // Node's own flags (`node --max-old-space-size=… bin/vouch.cjs agent run`) apply to commands too.
    // A command process idles between commands, and V8 uses idle time to drop compiled code it
    // has not run lately and to shrink the heap: exactly the warm state it is kept for (the next
    // `add -p` took ≈ 25% longer after a pause of 0.4 s with them).
    const child = spawn(process.execPath, [...process.execArgv, '--no-flush-bytecode', '--no-memory-reducer', opts.entry], {
      env: { ...process.env, [WORKER_ENV]: '1' },
      stdio: ['pipe', 'pipe', 'pipe', 'ipc', 'pipe'],
    });
    const up = new Promise<boolean>((resolve) => {
      child.once('message', (m: FromWorker) => resolve(m.t === 'ready'));
      child.once('exit', () => resolve(false));
      child.once('error', () => resolve(false));
    });
    const w: CommandProcess = { child, up, outBytes: 0, errBytes: 0, session: undefined, done: undefined, retired: false };
    child.on('message', (m: FromWorker) => {
      if (m.t === 'key-get') {
        const held = heldKey(m.digest);
        // The expiry is the agent's clock's; command processes share the machine's clock.
        const reply: ToWorker = held === undefined ? { t: 'key', id: m.id } : { t: 'key', id: m.id, pkcs8: held.pkcs8, expires: held.expires };
        if (child.connected) child.send(reply);
      } else if (m.t === 'key-put' && opts.keyTtlMs > 0 && typeof m.digest === 'string' && typeof m.pkcs8 === 'string') {
        keys.set(m.digest, { pkcs8: m.pkcs8, expires: now() + opts.keyTtlMs });
      } else if (m.t === 'stdin') {
        w.session?.send('W');
      } else if (m.t === 'tty') {
        w.session?.send('M', m.raw ? '1' : '0');
      }
    });
    child.stdout?.on('data', (d: Buffer) => {
      w.outBytes += d.length;
      w.session?.send('O', d);
      settle(w);
    });
    child.stderr?.on('data', (d: Buffer) => {
      w.errBytes += d.length;
      // Between commands (warm-up, teardown) its stderr is the agent's log.
      if (w.session !== undefined) w.session.send('E', d);
      else opts.log(`command process ${child.pid ?? '?'}: ${d.toString('utf8').trimEnd()}`);
      settle(w);
    });
    child.stdin?.on('error', () => undefined);
    const exitPipe = child.stdio[EXIT_FD] as Readable | null;
    let pending = '';
    exitPipe?.setEncoding('utf8');
    exitPipe?.on('data', (text: string) => {
      pending += text;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const done = parseDone(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        if (done === undefined) {
          retire(w);
          continue;
        }
        w.done = done;
        settle(w);
      }
    });
    child.once('close', (code, signal) => {
      // Died, or exited after its last command; a command without its report gets the exit status.
      w.retired = true;
      const i = idle.indexOf(w);
      if (i >= 0) idle.splice(i, 1);
      if (w.session !== undefined) {
        const session = w.session;
        w.session = undefined;
        busy.delete(w);
        session.finish(w.done?.code ?? code ?? 128 + signalNumber(signal));
      }
      replenish();
      if (closing && busy.size === 0) drained?.();
    });
    return w;
  };

  const takeProcess = async (): Promise<CommandProcess> => {
    for (let tries = 0; tries < 3; tries++) {
      let w: CommandProcess | undefined;
      while ((w = idle.shift()) !== undefined && w.retired) retire(w);
      const candidate = w ?? spawnProcess();
      busy.add(candidate);
      if (await candidate.up && !candidate.retired) return candidate;
      busy.delete(candidate);
      retire(candidate);
    }
    throw new Error('command processes fail to start (see the agent log)');
  };

  const serve = (socket: Socket): void => {
    const reader = new FrameReader();
    let w: CommandProcess | undefined;
    let request: AgentRequest | undefined;
    let ended = false;
    const pendingInput: Buffer[] = [];
    let inputEnded = false;
    const session: Session = {
      send(type, payload = '') {
        if (!socket.destroyed) socket.write(encodeFrame(type, payload));
      },
      finish(code) {
        if (ended) return;
        ended = true;
        session.send('X', String(code));
        socket.end();
      },
    };
    const refuse = (message: string): void => {
      session.send('E', `vouch agent: ${message}\n`);
      session.finish(1);
    };

    const begin = async (r: AgentRequest): Promise<void> => {
      let taken: CommandProcess;
      try {
        taken = await takeProcess();
      } catch (e) {
        refuse((e as Error).message);
        return;
      }
      if (ended) {
        // The front end left while a process was being found: it goes back unused.
        busy.delete(taken);
        if (!closing && idle.length < MAX_IDLE) idle.push(taken);
        else retire(taken);
        return;
      }
      w = taken;
      w.session = session;
      for (const d of pendingInput.splice(0)) w.child.stdin?.write(d);
      if (inputEnded) w.child.stdin?.end();
      const message: ToWorker = { t: 'run', request: r };
      w.child.send(message);
    };

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
          const rebuilt = stampOf() !== startStamp;
          // Declined, the front end runs the command in a process of its own, with its own code:
          // a variable Node or OpenSSL reads only at start-up differs from the agent's, the front
          // end is another installation's, or this one was rebuilt since the agent started (its
          // command processes would load code the agent does not know).
          if (startUpOnlyDiffers(request.env) || request.installation !== installation || rebuilt) {
            ended = true;
            session.send('F');
            socket.end();
            if (rebuilt && !closing) {
              opts.log('vouch agent: this installation was rebuilt; stopping (start the agent again to use the new build)');
              void agent.close().then(opts.onStale);
            }
            return;
          }
          void begin(request);
        } else if (f.type === 'D') {
          if (w !== undefined) w.child.stdin?.write(f.payload);
          else pendingInput.push(Buffer.from(f.payload));
        } else if (f.type === 'Z') {
          inputEnded = true;
          w?.child.stdin?.end();
        } else {
          return refuse(`unexpected frame ${JSON.stringify(f.type)}`);
        }
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      // The user interrupted the front end, or it died: its command stops too, with its process.
      if (!ended && w !== undefined) {
        w.session = undefined;
        busy.delete(w);
        retire(w);
        replenish();
      }
      ended = true;
    });
  };

  prepareSocketDir(opts.socketPath);
  rmSync(opts.socketPath, { force: true });
  const server: Server = createServer(serve);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => resolve());
  });
  replenish();
  opts.log(`vouch agent: listening on ${opts.socketPath} (pid ${process.pid}; keys kept ${Math.round(opts.keyTtlMs / 1000)} s)`);

  const agent: RunningAgent = {
    socketPath: opts.socketPath,
    installation,
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(sweep);
      keys.clear();
      rmSync(opts.socketPath, { force: true });
      for (const w of [...idle]) retire(w);
      server.close();
      if (busy.size > 0) await new Promise<void>((resolve) => (drained = resolve));
    },
  };
  return agent;
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

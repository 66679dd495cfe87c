/**
 * A command process the agent started ahead of time (VOUCH_AGENT_WORKER=1): it has loaded Vouch
 * and waits for commands. The agent sends the command line, environment, working directory and
 * umask over the IPC channel; the process takes them on as its own and runs the CLI as a freshly
 * started one would, with its stdout, stderr and stdin (pipes the agent relays to the front end)
 * and its exit status. The CLI is built anew for each command and keeps no other state between
 * commands (caches are per command); what cannot be undone — stdin read, service modules loaded —
 * ends the process after that command.
 *
 * Over the same channel the process asks the agent for keys it unlocked earlier and hands it keys
 * it unlocks (`agentKeyCache`), and reports what only a terminal can do (raw mode for passphrase
 * prompts) so the front end does it on the user's terminal.
 */
import { writeSync } from 'node:fs';
import type { UnlockedKeyCache } from '../keystore/file-store.ts';
import type { AgentRequest } from './protocol.ts';
import { warmUp } from './warm-up.ts';

/** Messages between the agent and a command process (Node's IPC serializes them as JSON). */
export type ToWorker =
  | { readonly t: 'run'; readonly request: AgentRequest }
  | { readonly t: 'key'; readonly id: number; readonly pkcs8?: string; readonly expires?: number };
export type FromWorker =
  | { readonly t: 'ready' }
  | { readonly t: 'stdin' }
  | { readonly t: 'tty'; readonly raw: boolean }
  | { readonly t: 'key-get'; readonly id: number; readonly digest: string }
  | { readonly t: 'key-put'; readonly digest: string; readonly pkcs8: string };

export const WORKER_ENV = 'VOUCH_AGENT_WORKER';

// Read once at load: the command's own environment replaces the agent's before it runs.
const startedByAgent = process.env[WORKER_ENV] === '1' && typeof process.send === 'function';

/** True in a process the agent started to run a command. */
export function isAgentWorker(): boolean {
  return startedByAgent;
}

function send(message: FromWorker): void {
  process.send?.(message);
}

export interface CommandRunner {
  /** Runs the command now in process.argv (the CLI's main). */
  run(): Promise<void>;
  /** Whether the process may run another command after this one (false after a server, say). */
  reusableAfter(): boolean;
}

/** The descriptor on which the agent reads that a command is done (its stdio has four before). */
export const EXIT_FD = 4;
/** Commands one process runs before it is replaced (memory left behind accumulates). */
const MAX_COMMANDS = 200;
const MAX_HEAP_BYTES = 256 * 1024 * 1024;

let commandsRun = 0;
let running = false;
/** Set once a command read stdin (it cannot be read again) or changed the terminal. */
let stdinUsed = false;
let stdinHooked = false;

/**
 * Runs the agent's commands, one at a time, in this process (warm code runs many times faster
 * than code met for the first time). A command is done when the event loop has nothing left of it
 * — the moment a process of its own would exit — seen here as 'beforeExit', since the agent's
 * channel is unreferenced while a command runs. The process then reports the status and the bytes
 * it wrote to stdout and stderr on EXIT_FD, so the agent relays all of them before the status, and
 * either waits for the next command or, when it must not run another (stdin consumed, server
 * modules loaded, limits reached), exits.
 */
export function serveAgentCommand(runner: CommandRunner): void {
  process.on('message', (message: ToWorker) => {
    if (message.t !== 'run') return;
    if (running) process.exit(70); // the agent sends one command at a time
    commandsRun++;
    running = true;
    adopt(message.request);
    process.exitCode = undefined;
    process.channel?.unref();
    runner.run().catch((e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    });
  });
  // The agent is gone (stopped, or killed): nothing can reach a command's output any more.
  process.on('disconnect', () => process.exit(running ? 1 : 0));
  process.on('beforeExit', () => {
    if (!running) return;
    const reuse = runner.reusableAfter() && !stdinUsed && commandsRun < MAX_COMMANDS && process.memoryUsage().heapUsed < MAX_HEAP_BYTES;
    running = false;
    const code = typeof process.exitCode === 'number' ? process.exitCode : Number(process.exitCode ?? 0) || 0;
    const out = process.stdout as NodeJS.WriteStream;
    const err = process.stderr as NodeJS.WriteStream;
    try {
      writeSync(EXIT_FD, `${code} ${out.bytesWritten} ${err.bytesWritten} ${reuse ? 'again' : 'last'}\n`);
    } catch {
      process.exit(code);
    }
    // Waiting for the next command keeps the process alive; after the last one it exits.
    if (reuse) process.channel?.ref();
  });
  // Ready only once warm: the agent hands a command to a process that is still warming up only
  // when it has no other.
  warmUp().catch(() => undefined).finally(() => send({ t: 'ready' }));
}

function adopt(request: AgentRequest): void {
  const entry = process.argv[1] ?? '';
  process.argv = [process.argv[0] ?? process.execPath, entry, ...request.args];
  for (const name of Object.keys(process.env)) delete process.env[name];
  Object.assign(process.env, request.env);
  process.chdir(request.cwd);
  process.umask(request.umask);

  // The streams are pipes to the agent; where the front end's are terminals, the command must see
  // terminals (prompts hide passphrases only on one, help wraps to its width).
  const columns = request.columns || 80;
  Object.assign(process.stdout, request.tty.stdout ? { isTTY: true, columns } : { isTTY: false, columns: undefined });
  Object.assign(process.stderr, request.tty.stderr ? { isTTY: true, columns } : { isTTY: false, columns: undefined });
  const stdin = process.stdin as unknown as NodeJS.ReadStream & { _read: (size: number) => void; _readableState: { highWaterMark: number } };
  stdin.isTTY = request.tty.stdin;
  // A terminal's stream reads nothing ahead (Node's tty.ReadStream has a high-water mark of 0), so
  // once a prompt is answered and stdin paused it stops reading and lets the command end; a pipe
  // reads ahead until end of input, which from a terminal never comes.
  if (request.tty.stdin) stdin._readableState.highWaterMark = 0;
  if (stdinHooked) return;
  stdinHooked = true;
  // The front end reads its stdin only once the command does, so typing meant for the shell after
  // a command that never reads stdin stays with the shell.
  const read = stdin._read.bind(stdin);
  let asked = false;
  stdin._read = (size: number) => {
    stdinUsed = true;
    if (!asked) {
      asked = true;
      send({ t: 'stdin' });
    }
    read(size);
  };
  Object.assign(stdin, {
    isRaw: false,
    setRawMode(raw: boolean) {
      stdinUsed = true;
      stdin.isRaw = raw;
      send({ t: 'tty', raw });
      return stdin;
    },
  });
}

let keyRequests = 0;
const waiting = new Map<number, (held: { pkcs8: Uint8Array; expires: number } | undefined) => void>();
/**
 * Keys the agent handed this process, until the agent's expiry for them: the next command that
 * signs with one need not ask the agent again (a round trip to a process that may be idle).
 */
const handed = new Map<string, { readonly pkcs8: Uint8Array; readonly expires: number }>();

function onKeyReply(message: ToWorker): void {
  if (message.t !== 'key') return;
  const resolve = waiting.get(message.id);
  if (resolve === undefined) return;
  waiting.delete(message.id);
  if (waiting.size === 0) process.channel?.unref();
  const held = message.pkcs8 === undefined || message.expires === undefined ? undefined : { pkcs8: Buffer.from(message.pkcs8, 'base64'), expires: message.expires };
  resolve(held);
}

/** The agent's store of unlocked keys, in a command process the agent started; else undefined. */
export function agentKeyCache(): UnlockedKeyCache | undefined {
  if (!isAgentWorker()) return undefined;
  if (process.listeners('message').every((l) => l !== onKeyReply)) process.on('message', onKeyReply);
  return {
    async get(fileDigest) {
      const local = handed.get(fileDigest);
      if (local !== undefined && local.expires > Date.now()) return local.pkcs8;
      handed.delete(fileDigest);
      const id = ++keyRequests;
      const held = await new Promise<{ pkcs8: Uint8Array; expires: number } | undefined>((resolve) => {
        waiting.set(id, resolve);
        process.channel?.ref();
        send({ t: 'key-get', id, digest: fileDigest });
      });
      if (held === undefined) return undefined;
      handed.set(fileDigest, held);
      return held.pkcs8;
    },
    put(fileDigest, pkcs8) {
      send({ t: 'key-put', digest: fileDigest, pkcs8: Buffer.from(pkcs8).toString('base64') });
    },
  };
}

/**
 * A command process the agent started ahead of time (VOUCH_AGENT_WORKER=1): it has loaded Vouch
 * and waits for one command. The agent sends the command line, environment, working directory
 * and umask over the IPC channel; the process takes them on as its own and runs the CLI exactly
 * as a freshly started one would, with its real stdout, stderr and stdin (pipes the agent relays
 * to the front end) and its real exit status. One command per process: nothing a command leaves
 * behind in module state can reach the next one.
 *
 * Over the same channel the process asks the agent for keys it unlocked earlier and hands it keys
 * it unlocks (`agentKeyCache`), and reports what only a terminal can do (raw mode for passphrase
 * prompts) so the front end does it on the user's terminal.
 */
import { closeSync, writeSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import type { UnlockedKeyCache } from '../keystore/file-store.ts';
import type { AgentRequest } from './protocol.ts';

/** Messages between the agent and a command process (Node's IPC serializes them as JSON). */
export type ToWorker =
  | { readonly t: 'run'; readonly request: AgentRequest }
  | { readonly t: 'key'; readonly id: number; readonly pkcs8?: string };
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

// The same commands as bin/vouch.cjs's READS_COLLECTION: they parse a whole collection at once,
// and V8's young generation grown 16× per scavenge copies that working set far less often.
const READS_COLLECTION = new Set(['list', 'lookup', 'verify', 'witness', 'inspect']);

function send(message: FromWorker): void {
  process.send?.(message);
}

/** Waits for the agent's command, takes on its context and runs `run` (the CLI's main). */
export function serveAgentCommand(run: () => Promise<void>): void {
  process.once('message', (message: ToWorker) => {
    if (message.t !== 'run') {
      process.exit(70);
    }
    adopt(message.request);
    process.on('exit', reportExit);
    // The channel must not keep the process alive once the command is done (a fresh process
    // exits when its work is); it is referenced again only while a key request is out.
    process.channel?.unref();
    run().catch((e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    });
  });
  send({ t: 'ready' });
}

/** The descriptor on which the agent reads a command's exit status (its stdio has four before). */
export const EXIT_FD = 4;

/**
 * A Node process takes another 10–20 ms after 'exit' to tear down its heap; the front end need not
 * wait for that. The command's output is complete once stdout and stderr are closed (every write to
 * these pipes was synchronous), so close them, then hand the agent the status.
 */
function reportExit(code: number): void {
  try {
    closeSync(1);
    closeSync(2);
    writeSync(EXIT_FD, `${code}\n`);
  } catch {
    // The agent then takes the status from the process's own exit.
  }
}

function adopt(request: AgentRequest): void {
  const entry = process.argv[1] ?? '';
  process.argv = [process.argv[0] ?? process.execPath, entry, ...request.args];
  for (const name of Object.keys(process.env)) delete process.env[name];
  Object.assign(process.env, request.env);
  process.chdir(request.cwd);
  process.umask(request.umask);
  if (request.args.some((a) => READS_COLLECTION.has(a))) setFlagsFromString('--semi-space-growth-factor=16');

  // The streams are pipes to the agent; where the front end's are terminals, the command must see
  // terminals (prompts hide passphrases only on one, help wraps to its width).
  const out = process.stdout as NodeJS.WriteStream;
  const err = process.stderr as NodeJS.WriteStream;
  if (request.tty.stdout) Object.assign(out, { isTTY: true, columns: request.columns || 80 });
  if (request.tty.stderr) Object.assign(err, { isTTY: true, columns: request.columns || 80 });
  const stdin = process.stdin as NodeJS.ReadStream & { _read: (size: number) => void };
  // The front end reads its stdin only once the command does, so typing meant for the shell after
  // a command that never reads stdin stays with the shell.
  const read = stdin._read.bind(stdin);
  let asked = false;
  stdin._read = (size: number) => {
    if (!asked) {
      asked = true;
      send({ t: 'stdin' });
    }
    read(size);
  };
  if (request.tty.stdin) {
    Object.assign(stdin, {
      isTTY: true,
      isRaw: false,
      setRawMode(raw: boolean) {
        stdin.isRaw = raw;
        send({ t: 'tty', raw });
        return stdin;
      },
    });
  }
}

let keyRequests = 0;
const waiting = new Map<number, (pkcs8: Uint8Array | undefined) => void>();

function onKeyReply(message: ToWorker): void {
  if (message.t !== 'key') return;
  const resolve = waiting.get(message.id);
  if (resolve === undefined) return;
  waiting.delete(message.id);
  if (waiting.size === 0) process.channel?.unref();
  resolve(message.pkcs8 === undefined ? undefined : Buffer.from(message.pkcs8, 'base64'));
}

/** The agent's store of unlocked keys, in a command process the agent started; else undefined. */
export function agentKeyCache(): UnlockedKeyCache | undefined {
  if (!isAgentWorker()) return undefined;
  if (process.listeners('message').every((l) => l !== onKeyReply)) process.on('message', onKeyReply);
  return {
    get(fileDigest) {
      const id = ++keyRequests;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        process.channel?.ref();
        send({ t: 'key-get', id, digest: fileDigest });
      });
    },
    put(fileDigest, pkcs8) {
      send({ t: 'key-put', digest: fileDigest, pkcs8: Buffer.from(pkcs8).toString('base64') });
    },
  };
}

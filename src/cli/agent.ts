/**
 * `vouch agent start|run|stop|status`: the resident process that makes each `vouch` command start
 * in a few milliseconds and keeps unlocked keys for a while (src/agent/agent.ts, docs/agent.md).
 *
 * `start` prints shell commands in ssh-agent's style (`eval "$(vouch agent start)"`): the front end
 * uses the agent named by VOUCH_AGENT_SOCK. A second `start` on the same socket prints the running
 * agent's lines again. Exit codes: 0 success (for `status`, running); 1 a failure or, for
 * `status`, no agent; messages are `vouch agent: …` lines on stderr.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { prepareSocketDir, startAgent, writePidFile } from '../agent/agent.ts';

const DEFAULT_TTL_SECONDS = 600;
const START_TIMEOUT_MS = 15_000;

/** VOUCH_AGENT_SOCK, else $XDG_RUNTIME_DIR/vouch/agent.sock, else <tmp>/vouch-<uid>/agent.sock. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const named = env['VOUCH_AGENT_SOCK'];
  if (named !== undefined && named !== '') return named;
  const runtime = env['XDG_RUNTIME_DIR'];
  if (runtime !== undefined && runtime.startsWith('/')) return join(runtime, 'vouch', 'agent.sock');
  return join(tmpdir(), `vouch-${process.getuid?.() ?? 'user'}`, 'agent.sock');
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function pidOf(socketPath: string): number | undefined {
  try {
    const pid = Number(readFileSync(`${socketPath}.pid`, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function parseTtl(text: string): number {
  if (!/^\d{1,7}$/.test(text)) throw new Error(`--cache-ttl must be a whole number of seconds, not ${JSON.stringify(text)}`);
  return Number(text);
}

function fail(message: string): void {
  process.stderr.write(`vouch agent: ${message}\n`);
  process.exitCode = 1;
}

function shellLines(socketPath: string, pid: number | undefined): string {
  const quoted = `'${socketPath.replaceAll("'", `'\\''`)}'`;
  return `VOUCH_AGENT_SOCK=${quoted}; export VOUCH_AGENT_SOCK;\necho Agent pid ${pid ?? 'unknown'};\n`;
}

interface AgentFlags {
  socket?: string;
  cacheTtl?: string;
  json?: true;
}

function printStarted(socketPath: string, pid: number | undefined, json: boolean): void {
  process.stdout.write(json ? `${JSON.stringify({ socket: socketPath, pid: pid ?? null })}\n` : shellLines(socketPath, pid));
}

async function start(opts: AgentFlags): Promise<void> {
  const socketPath = opts.socket ?? defaultSocketPath();
  const ttl = parseTtl(opts.cacheTtl ?? String(DEFAULT_TTL_SECONDS));
  prepareSocketDir(socketPath);
  if (await answers(socketPath)) {
    printStarted(socketPath, pidOf(socketPath), opts.json === true);
    return;
  }
  const entry = process.argv[1];
  if (entry === undefined) throw new Error('cannot tell which script started vouch');
  const logPath = `${socketPath}.log`;
  const logFd = openSync(logPath, 'a', 0o600);
  const child = spawn(process.execPath, [entry, 'agent', 'run', '--socket', socketPath, '--cache-ttl', String(ttl)], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    // The agent's own environment is what command processes start with before taking on each
    // command's; it must not point the front end at itself.
    env: { ...process.env, VOUCH_AGENT_SOCK: '' },
  });
  closeSync(logFd);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  child.unref();
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await answers(socketPath))) {
    if (exited !== undefined || Date.now() > deadline) {
      child.kill();
      throw new Error(`the agent did not start (exit ${exited ?? 'timeout'}); its log is ${logPath}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  printStarted(socketPath, child.pid, opts.json === true);
}

async function run(opts: AgentFlags): Promise<void> {
  const socketPath = opts.socket ?? defaultSocketPath();
  const ttl = parseTtl(opts.cacheTtl ?? String(DEFAULT_TTL_SECONDS));
  const entry = process.argv[1];
  if (entry === undefined) throw new Error('cannot tell which script started vouch');
  if (await answers(socketPath)) throw new Error(`an agent already answers on ${socketPath}; stop it first (vouch agent stop)`);
  let stopped = (): void => undefined;
  const agent = await startAgent({
    socketPath, entry, keyTtlMs: ttl * 1000, onStale: () => stopped(),
    log: (m) => process.stderr.write(`${new Date().toISOString()} ${m}\n`),
  });
  const pidFile = writePidFile(socketPath);
  await new Promise<void>((resolve) => {
    stopped = () => {
      rmSync(pidFile, { force: true });
      resolve();
    };
    const stop = (): void => {
      rmSync(pidFile, { force: true });
      void agent.close().finally(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

async function stop(opts: AgentFlags): Promise<void> {
  const socketPath = opts.socket ?? defaultSocketPath();
  const pid = pidOf(socketPath);
  if (!(await answers(socketPath)) || pid === undefined) {
    rmSync(`${socketPath}.pid`, { force: true });
    fail(`no agent answers on ${socketPath}`);
    return;
  }
  process.kill(pid, 'SIGTERM');
  // The agent removes its socket at once and exits once commands under way finish; this command
  // may itself be one of them, so it waits for the socket only.
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (await answers(socketPath)) {
    if (Date.now() > deadline) throw new Error(`agent pid ${pid} did not stop`);
    await new Promise((r) => setTimeout(r, 25));
  }
  process.stdout.write(opts.json === true ? `${JSON.stringify({ stopped: pid })}\n` : `Agent pid ${pid} stopped\n`);
}

async function status(opts: AgentFlags): Promise<void> {
  const socketPath = opts.socket ?? defaultSocketPath();
  const up = await answers(socketPath);
  const pid = up ? pidOf(socketPath) : undefined;
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify({ running: up, socket: socketPath, pid: pid ?? null })}\n`);
  } else {
    process.stdout.write(up ? `agent running on ${socketPath} (pid ${pid ?? 'unknown'})\n` : `no agent answers on ${socketPath}\n`);
  }
  if (!up) process.exitCode = 1;
}

function guarded<A>(fn: (opts: A) => Promise<void>): (opts: A) => Promise<void> {
  return async (opts) => {
    try {
      await fn(opts);
    } catch (e) {
      fail(e instanceof Error ? e.message : String(e));
    }
  };
}

export function registerAgentCommands(program: Command): void {
  const agent = program
    .command('agent')
    .description('a resident process that starts vouch commands in milliseconds and keeps unlocked keys for a while')
    .addHelpText('after', `
Start it once per login session, as with ssh-agent:
  eval "$(vouch agent start)"
Commands then run in a process the agent has ready (same output, exit codes and prompts), and a key
unlocked by one command is unlocked for the next ones during --cache-ttl seconds (default ${DEFAULT_TTL_SECONDS};
0 keeps none). Without VOUCH_AGENT_SOCK, or when the agent is gone, commands run as before.`);
  const socketOption = '--socket <path>';
  const socketHelp = 'the agent\'s socket (default: $VOUCH_AGENT_SOCK, else $XDG_RUNTIME_DIR/vouch/agent.sock)';
  agent.command('start')
    .description('start an agent in the background and print the shell commands that point vouch at it')
    .option(socketOption, socketHelp)
    .option('--cache-ttl <seconds>', 'how long unlocked keys are kept', String(DEFAULT_TTL_SECONDS))
    .option('--json', 'print {"socket", "pid"} instead of shell commands')
    .action(guarded(start));
  agent.command('run')
    .description('run an agent in the foreground (for a service manager); logs go to stderr')
    .option(socketOption, socketHelp)
    .option('--cache-ttl <seconds>', 'how long unlocked keys are kept', String(DEFAULT_TTL_SECONDS))
    .action(guarded(run));
  agent.command('stop')
    .description('stop the agent (commands under way finish first); its unlocked keys are forgotten')
    .option(socketOption, socketHelp)
    .option('--json', 'print {"stopped": pid}')
    .action(guarded(stop));
  agent.command('status')
    .description('say whether an agent answers (exit 1 when none does)')
    .option(socketOption, socketHelp)
    .option('--json', 'print {"running", "socket", "pid"}')
    .action(guarded(status));
}

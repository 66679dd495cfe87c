// `vouch agent` end to end: the real native front end (dist/vouch-client) talks to a real agent,
// whose command processes run the built CLI. Commands must behave exactly as when run directly
// (stdout, stderr, exit status, working directory, environment, umask, stdin), command processes
// are reused only when that is safe, unlocked keys are kept only as configured (checked against the
// real notary-server + notary-signer), and the agent steps aside for another installation, for a
// rebuilt one, and when it is gone.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFrontEnd } from '../../bin/build.mjs';
import { notaryHarnessForFile } from '../helpers/notary-harness.ts';
import { DEFAULT_PASSPHRASES } from '../helpers/notary-cli.ts';
import { KeyFileStore } from '../../src/keystore/file-store.ts';
import { constantRetriever } from '../../src/keystore/passphrase.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'vouch.cjs');
const FRONT_END = join(ROOT, 'dist', 'vouch-client');
const work = mkdtempSync(join(tmpdir(), 'vouch-agent-test-'));
const agents: string[] = [];

const skip = (() => {
  if (!existsSync(FRONT_END) && buildFrontEnd() === undefined) return 'no C compiler to build the agent front end';
  return false;
})();

// The tests' own environment, without anything that points at an agent or changes the CLI.
const baseEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VOUCH_') && !k.startsWith('NOTARY_')));
baseEnv['HOME'] = join(work, 'home');
mkdirSync(baseEnv['HOME'], { recursive: true });

after(() => {
  for (const socket of agents) spawnSync(process.execPath, [BIN, 'agent', 'stop', '--socket', socket], { env: baseEnv, timeout: 30_000 });
  rmSync(work, { recursive: true, force: true });
});

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

function ran(r: SpawnSyncReturns<string>): Ran {
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  cwd?: string;
  umask?: string;
}

/** Through the front end, with the agent on `socket` (none when undefined). */
function viaAgent(socket: string | undefined, args: string[], opts: RunOptions = {}, frontEnd = FRONT_END): Ran {
  const env = { ...baseEnv, ...opts.env, VOUCH_AGENT_SOCK: socket ?? '' };
  const [cmd, argv] = opts.umask === undefined ? [frontEnd, args] : ['/bin/sh', ['-c', `umask ${opts.umask}; exec "$@"`, 'sh', frontEnd, ...args]];
  return ran(spawnSync(cmd, argv, { env, input: opts.input ?? '', cwd: opts.cwd ?? work, encoding: 'utf8', timeout: 120_000 }));
}

/** The same command without an agent: node bin/vouch.cjs. */
function direct(args: string[], opts: RunOptions = {}): Ran {
  const env = { ...baseEnv, ...opts.env };
  const [cmd, argv] = opts.umask === undefined
    ? [process.execPath, [BIN, ...args]]
    : ['/bin/sh', ['-c', `umask ${opts.umask}; exec "$@"`, 'sh', process.execPath, BIN, ...args]];
  return ran(spawnSync(cmd, argv, { env, input: opts.input ?? '', cwd: opts.cwd ?? work, encoding: 'utf8', timeout: 120_000 }));
}

function startAgent(name: string, extra: string[] = []): { socket: string; pid: number } {
  const socket = join(work, `agent-${name}`, 'a.sock');
  const r = spawnSync(process.execPath, [BIN, 'agent', 'start', '--socket', socket, '--json', ...extra], { env: baseEnv, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  agents.push(socket);
  const started = JSON.parse(r.stdout) as { socket: string; pid: number };
  assert.equal(started.socket, socket);
  return started;
}

/** The agent's command processes (its children), by pid. */
function commandProcesses(agentPid: number): number[] {
  const text = readFileSync(`/proc/${agentPid}/task/${agentPid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(/\s+/).map(Number).sort();
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('commands through the agent print, fail and exit exactly as when run directly', { skip }, () => {
  const { socket } = startAgent('parity');
  const trustDir = join(work, 'parity-trust');
  for (const args of [['version'], ['no-such-command'], ['--version'], ['-d', trustDir, 'key', 'list'], ['-d', trustDir, 'list'],
    ['-d', trustDir, 'status', 'example.com/parity'], ['trust', 'key', 'generate'], ['key', 'list', '--json', '-d', trustDir]]) {
    const a = viaAgent(socket, args);
    assert.deepEqual(a, direct(args), `vouch ${args.join(' ')}`);
  }
  // An exit status other than 0 and 1 comes through too (commander's for a missing argument is 1;
  // a shell's 127 is the front end's own when node is missing, not tested here).
  const failing = viaAgent(socket, ['-d', trustDir, 'add', 'example.com/parity', 't', join(work, 'missing-file')]);
  assert.equal(failing.status, 1);
  assert.match(failing.stderr, /^\* fatal: /m);
  assert.deepEqual(failing, direct(['-d', trustDir, 'add', 'example.com/parity', 't', join(work, 'missing-file')]));
});

test('one process runs command after command; a command that read stdin gets a new one after it', { skip }, async () => {
  const { socket, pid } = startAgent('reuse');
  await until('a ready command process', () => commandProcesses(pid).length === 1);
  const [first] = commandProcesses(pid);
  for (let i = 0; i < 3; i++) assert.equal(viaAgent(socket, ['version']).status, 0);
  assert.deepEqual(commandProcesses(pid), [first]);

  // Staging from stdin: same output as directly, in both trust dirs the same changes.
  const lines = 'a.txt 3 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\nb.txt 3 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n';
  const viaDir = join(work, 'stdin-agent');
  const directDir = join(work, 'stdin-direct');
  const a = viaAgent(socket, ['-d', viaDir, 'add', 'example.com/stdin', '--from-file', '-'], { input: lines });
  const d = direct(['-d', directDir, 'add', 'example.com/stdin', '--from-file', '-'], { input: lines });
  assert.equal(a.status, 0, a.stderr);
  assert.deepEqual(a, d);
  assert.equal(a.stdout, 'Addition of 2 targets to repository "example.com/stdin" staged for next publish.\n');
  const changes = (dir: string) => readdirSync(join(dir, 'tuf', 'example.com', 'stdin', 'changelist')).length;
  assert.equal(changes(viaDir), changes(directDir));
  await until('the stdin reader replaced', () => {
    const now = commandProcesses(pid);
    return now.length === 1 && now[0] !== first;
  });
  assert.equal(viaAgent(socket, ['version']).status, 0);
});

test("the command's working directory, environment and umask are its own", { skip }, () => {
  const { socket } = startAgent('context');
  const cwd = join(work, 'context-cwd');
  mkdirSync(cwd, { recursive: true });
  writeFileSync(join(cwd, 'payload.txt'), 'payload\n');
  // A relative trust dir and target file resolve against the front end's directory.
  const a = viaAgent(socket, ['-d', 'rel-trust', 'add', 'example.com/ctx', 'p', 'payload.txt'], { cwd, umask: '077' });
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, 'Addition of target "p" to repository "example.com/ctx" staged for next publish.\n');
  const changelist = join(cwd, 'rel-trust', 'tuf', 'example.com', 'ctx', 'changelist');
  const [change] = readdirSync(changelist);
  assert.ok(change !== undefined);
  const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
  const d = direct(['-d', 'rel-trust-direct', 'add', 'example.com/ctx', 'p', 'payload.txt'], { cwd, umask: '077' });
  assert.equal(d.status, 0, d.stderr);
  const [directChange] = readdirSync(join(cwd, 'rel-trust-direct', 'tuf', 'example.com', 'ctx', 'changelist'));
  assert.equal(mode(join(changelist, change)), mode(join(cwd, 'rel-trust-direct', 'tuf', 'example.com', 'ctx', 'changelist', directChange as string)));

  // Environment: the config file named by the variable notary reads is the command's, not the agent's.
  const home = join(work, 'context-home');
  mkdirSync(join(home, '.notary'), { recursive: true });
  writeFileSync(join(home, '.notary', 'config.json'), JSON.stringify({ trust_dir: join(home, 'from-config') }));
  const listed = viaAgent(socket, ['key', 'list', '--json'], { env: { HOME: home } });
  assert.equal(listed.status, 0, listed.stderr);
  assert.deepEqual(listed, direct(['key', 'list', '--json'], { env: { HOME: home } }));
  const other = viaAgent(socket, ['-d', join(home, 'explicit'), 'status', 'example.com/ctx'], { env: { HOME: home } });
  assert.deepEqual(other, direct(['-d', join(home, 'explicit'), 'status', 'example.com/ctx'], { env: { HOME: home } }));
});

test('without an agent, or for another installation, the front end runs the command itself', { skip }, () => {
  assert.deepEqual(viaAgent(join(work, 'no-agent', 'a.sock'), ['version']), direct(['version']));
  assert.deepEqual(viaAgent(undefined, ['no-such-command']), direct(['no-such-command']));

  // Another installation: its own bin/vouch.cjs must run, not the agent's code.
  const { socket } = startAgent('other-installation');
  const other = join(work, 'other-installation');
  mkdirSync(join(other, 'dist'), { recursive: true });
  mkdirSync(join(other, 'bin'), { recursive: true });
  copyFileSync(FRONT_END, join(other, 'dist', 'vouch-client'));
  chmodSync(join(other, 'dist', 'vouch-client'), 0o755);
  writeFileSync(join(other, 'bin', 'vouch.cjs'), "process.stdout.write('other installation: ' + process.argv.slice(2).join(' ') + '\\n');\n");
  const r = viaAgent(socket, ['version'], {}, join(other, 'dist', 'vouch-client'));
  assert.deepEqual(r, { status: 0, stdout: 'other installation: version\n', stderr: '' });
  assert.equal(viaAgent(socket, ['version']).stdout, direct(['version']).stdout);

  // A variable Node reads only at start-up, set for this command alone: it runs in a process of its own.
  const preload = join(work, 'preload.cjs');
  writeFileSync(preload, "process.stderr.write('preloaded\\n');\n");
  const withOptions = viaAgent(socket, ['version'], { env: { NODE_OPTIONS: `--require ${preload}` } });
  assert.deepEqual(withOptions, direct(['version'], { env: { NODE_OPTIONS: `--require ${preload}` } }));
  assert.equal(withOptions.stderr, 'preloaded\n');
});

test('the installed command (bin/vouch, linked as npm links it) uses the agent only when VOUCH_AGENT_SOCK names one', { skip }, async () => {
  const { socket, pid } = startAgent('launcher');
  const link = join(work, 'bin-link', 'vouch');
  mkdirSync(join(work, 'bin-link'), { recursive: true });
  symlinkSync(join(ROOT, 'bin', 'vouch'), link);
  const run = (args: string[], env: NodeJS.ProcessEnv) => ran(spawnSync(link, args, { env: { ...baseEnv, ...env }, encoding: 'utf8', timeout: 60_000 }));
  assert.deepEqual(run(['version'], {}), direct(['version']));
  assert.deepEqual(run(['version'], { VOUCH_AGENT_SOCK: socket }), direct(['version']));
  // `--help` loads the service modules, after which the agent replaces the process that ran it:
  // a changed process shows the command ran in the agent, an unchanged one that it did not.
  await until('one idle command process', () => commandProcesses(pid).length === 1);
  const [before] = commandProcesses(pid);
  assert.deepEqual(run(['--help'], {}), direct(['--help']));
  assert.deepEqual(commandProcesses(pid), [before]);
  assert.deepEqual(run(['--help'], { VOUCH_AGENT_SOCK: socket }), direct(['--help']));
  await until('the process that ran --help replaced', () => {
    const now = commandProcesses(pid);
    return now.length === 1 && now[0] !== before;
  });
});

test('the socket must be in a directory only its owner can enter', { skip }, () => {
  const open = join(work, 'open-dir');
  mkdirSync(open, { mode: 0o755 });
  chmodSync(open, 0o755);
  const r = spawnSync(process.execPath, [BIN, 'agent', 'start', '--socket', join(open, 'a.sock')], { env: baseEnv, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^vouch agent: .*open-dir must be a directory owned by you with mode 0700/);
  assert.equal(existsSync(join(open, 'a.sock')), false);
  const status = spawnSync(process.execPath, [BIN, 'agent', 'status', '--socket', join(open, 'a.sock')], { env: baseEnv, encoding: 'utf8' });
  assert.equal(status.status, 1);
  assert.match(status.stdout, /^no agent answers on /);
});

test('a front end that goes away takes its command with it; the agent goes on', { skip }, async () => {
  const { socket, pid } = startAgent('interrupt');
  // A first command makes sure the process is ready (and stays: it is reused), so the next one
  // starts in it at once.
  assert.equal(viaAgent(socket, ['version']).status, 0);
  const [first] = commandProcesses(pid);
  // Waits for stdin that never ends.
  const child = spawn(FRONT_END, ['-d', join(work, 'interrupt-trust'), 'add', 'example.com/int', '--from-file', '-'], {
    env: { ...baseEnv, VOUCH_AGENT_SOCK: socket }, stdio: ['pipe', 'ignore', 'ignore'],
  });
  await new Promise((r) => setTimeout(r, 1000));
  child.kill('SIGKILL');
  await until('the interrupted command process gone', () => !commandProcesses(pid).includes(first as number));
  assert.equal(viaAgent(socket, ['version']).status, 0);
});

test('command processes do not outlive a killed agent; the front end then runs commands itself', { skip }, async () => {
  const { socket, pid } = startAgent('killed');
  assert.equal(viaAgent(socket, ['version']).status, 0);
  const [worker] = commandProcesses(pid);
  assert.ok(worker !== undefined);
  process.kill(pid, 'SIGKILL');
  await until('the command process gone', () => !existsSync(`/proc/${worker}`));
  assert.deepEqual(viaAgent(socket, ['version']), direct(['version']));
});

test('a rebuilt installation: the agent declines (the command runs directly) and stops', { skip }, async () => {
  const { socket } = startAgent('rebuilt');
  assert.equal(viaAgent(socket, ['version']).status, 0);
  const stamp = join(ROOT, 'dist', 'vouch.inputs.json');
  const before = statSync(stamp);
  utimesSync(stamp, before.atime, new Date(before.mtimeMs + 1000));
  try {
    assert.deepEqual(viaAgent(socket, ['version']), direct(['version']));
    await until('the agent stopped', () => !existsSync(socket));
  } finally {
    utimesSync(stamp, before.atime, before.mtime);
  }
});

// Runs a command on a new pseudo-terminal, typing each answer after the matching passphrase prompt;
// prints what the terminal showed, then the exit status and whether echo is on afterwards.
const PTY_RUNNER = `
import os, pty, sys, time, termios
answers = [a.encode() + b'\\r' for a in os.environ['PTY_ANSWERS'].split(',')]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out, sent = b'', 0
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    while sent < len(answers) and out.count(b'passphrase for') > sent:
        time.sleep(0.2)
        os.write(fd, answers[sent])
        sent += 1
echo = bool(termios.tcgetattr(fd)[3] & termios.ECHO)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf8', 'replace'))
sys.stdout.write(f'<status={os.waitstatus_to_exitcode(status)} echo={echo}>')
`;

test('a passphrase prompt through the agent hides what is typed and leaves the terminal as it was', { skip }, async () => {
  const { socket } = startAgent('terminal');
  const runner = join(work, 'pty-runner.py');
  writeFileSync(runner, PTY_RUNNER);
  const onTerminal = (frontEnd: string[], trustDir: string): string => {
    const r = spawnSync('python3', [runner, ...frontEnd, '-d', trustDir, 'key', 'generate', '--role', 'targets/alice'], {
      env: { ...baseEnv, VOUCH_AGENT_SOCK: socket, PTY_ANSWERS: 'typed-secret-1,typed-secret-1' }, encoding: 'utf8', timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  const viaDir = join(work, 'pty-agent');
  const shown = onTerminal([FRONT_END], viaDir);
  const directly = onTerminal([process.execPath, BIN], join(work, 'pty-direct'));
  const keyIdOf = (text: string) => /keyID: ([0-9a-f]{64})/.exec(text)?.[1] ?? assert.fail(text);
  const [viaId, directId] = [keyIdOf(shown), keyIdOf(directly)];
  assert.equal(shown.replaceAll(viaId, 'ID').replaceAll(viaId.slice(0, 7), 'ID'), directly.replaceAll(directId, 'ID').replaceAll(directId.slice(0, 7), 'ID'));
  assert.equal(shown.replaceAll(viaId, 'ID').replaceAll(viaId.slice(0, 7), 'ID'),
    'Enter passphrase for new targets/alice key with ID ID: \r\nRepeat passphrase for new targets/alice key with ID ID: \r\n'
    + 'Generated new ecdsa targets/alice key with keyID: ID\r\n<status=0 echo=True>');
  // The key was stored under what was typed.
  const store = KeyFileStore.open(viaDir, { retriever: constantRetriever('typed-secret-1') });
  assert.equal((await store.signer(viaId)).keyId, viaId);
});

const peers = notaryHarnessForFile();

test('keys unlocked by one command sign the next without passphrases; --cache-ttl 0 keeps none', { skip: skip || peers.skip }, () => {
  const server = ['-s', peers.harness.url, '--tlscacert', peers.harness.caFile];
  const trustDir = peers.harness.newDir('agent-keys');
  const gun = 'example.com/agent/keys';
  const passphrases = {
    NOTARY_ROOT_PASSPHRASE: DEFAULT_PASSPHRASES.root, NOTARY_TARGETS_PASSPHRASE: DEFAULT_PASSPHRASES.targets,
    NOTARY_SNAPSHOT_PASSPHRASE: DEFAULT_PASSPHRASES.snapshot,
  };
  const init = direct([...server, '-d', trustDir, 'init', gun, '-p'], { env: passphrases });
  assert.equal(init.status, 0, init.stderr);
  const payload = join(trustDir, '..', 'payload');
  writeFileSync(payload, 'payload\n');
  const add = (socket: string | undefined, name: string, env: NodeJS.ProcessEnv) => viaAgent(socket, [...server, '-d', trustDir, 'add', gun, name, payload, '-p'], { env });

  // Without passphrases and without a terminal, a command cannot unlock the targets key (its change
  // stays staged, as in notary, and goes out with the next publish).
  const refused = direct([...server, '-d', trustDir, 'add', gun, 'refused', payload, '-p']);
  assert.equal(refused.status, 1);

  const keeping = startAgent('keys');
  const first = add(keeping.socket, 'first', passphrases);
  assert.equal(first.status, 0, first.stderr);
  const second = add(keeping.socket, 'second', {});
  assert.equal(second.status, 0, second.stderr);
  assert.equal(second.stdout, `Addition of target "second" to repository "${gun}" staged for next publish.\nAuto-publishing changes to ${gun}\nSuccessfully published changes for repository ${gun}\n`);

  const forgetting = startAgent('no-keys', ['--cache-ttl', '0']);
  assert.equal(add(forgetting.socket, 'third', passphrases).status, 0);
  const fourth = add(forgetting.socket, 'fourth', {});
  assert.equal(fourth.status, 1);
  // The same failure as without an agent, apart from the target's name.
  assert.equal(fourth.stderr, refused.stderr.replaceAll('"refused"', '"fourth"'));

  const listed = direct([...server, '-d', peers.harness.newDir('agent-keys-reader'), 'list', gun]);
  assert.deepEqual(listed.stdout.split('\n').slice(2).map((l) => l.split(/\s+/)[0]).filter((n) => n !== ''), ['first', 'refused', 'second', 'third']);
});

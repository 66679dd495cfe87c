/**
 * The `vouch` command line. Subcommands are added per capability; this file only wires them.
 *
 * The server and signer pull in fastify, gRPC and the SQL drivers (about half a second of module
 * loading), so they are registered only when the command line asks for them or for help.
 */
import { Command, CommanderError } from '@commander-js/extra-typings';
import { registerKeyCommands } from './key.ts';
import { registerRepositoryCommands } from './notary/index.ts';
import { registerTrustCommands } from './trust.ts';
import { registerAgentCommands } from './agent.ts';
import { isAgentWorker, serveAgentCommand } from '../agent/worker.ts';
import { addPkcs11Options, PKCS11_HELP } from './pkcs11.ts';
// Imported, not read at run time: the built CLI (bin/build.mjs) carries the version with it.
import pkg from '../../package.json' with { type: 'json' };

/**
 * The whole command line, built per command: a process the agent keeps may run many (each on a
 * fresh program, since commander keeps parsed options on its commands), and there commander
 * throws where it would exit the process (`exitOverride`).
 */
function buildProgram(inAgentProcess: boolean): Command {
  const program = new Command('vouch');
  if (inAgentProcess) program.exitOverride();
  program
    .description('Docker Content Trust / Notary v1: trust client, trust server and signer, compatible with notary 0.7')
    .version(pkg.version, '--version', 'print the version and exit');

  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`vouch\n Version:    ${pkg.version}\n`);
    });

  addPkcs11Options(program).addHelpText('after', PKCS11_HELP);

  // Order matters: the repository commands add `rotate` to the `key` command.
  registerKeyCommands(program);
  registerRepositoryCommands(program);
  registerTrustCommands(program);
  registerAgentCommands(program);
  return program;
}

/** True when this command line needs the server and signer commands (which load much more). */
function wantsServices(words: readonly string[]): boolean {
  return words.length === 0 || words.some((w) => w === 'server' || w === 'signer' || w === 'gate' || w === 'help' || w === '-h' || w === '--help');
}

async function main(inAgentProcess = false): Promise<void> {
  const program = buildProgram(inAgentProcess);
  if (wantsServices(process.argv.slice(2))) {
    const [{ registerServerCommands }, { registerSignerCommands }] = await Promise.all([import('./server.ts'), import('./signer.ts')]);
    registerServerCommands(program);
    registerSignerCommands(program);
    (await import('./gate.ts')).registerGateCommands(program);
  }
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    // Only with exitOverride: commander has printed its message (or the help) already.
    if (!(e instanceof CommanderError)) throw e;
    process.exitCode = e.exitCode;
  }
}

// No top-level await: the built CLI is a CommonJS script (bin/build.mjs), which V8 can cache compiled.
if (isAgentWorker()) {
  // Started ahead of time by `vouch agent`: the command line arrives later (src/agent/worker.ts).
  serveAgentCommand({ run: () => main(true), reusableAfter: () => !wantsServices(process.argv.slice(2)) });
} else {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}

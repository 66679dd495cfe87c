/**
 * The `vouch` command line. Subcommands are added per capability; this file only wires them.
 */
import { Command } from '@commander-js/extra-typings';
import { readFileSync } from 'node:fs';
import { registerKeyCommands } from './key.ts';
import { registerServerCommands } from './server.ts';
import { registerSignerCommands } from './signer.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('vouch')
  .description('Docker Content Trust / Notary v1: trust client, trust server and signer, compatible with notary 0.7')
  .version(pkg.version, '--version', 'print the version and exit');

program
  .command('version')
  .description('print the version')
  .action(() => {
    process.stdout.write(`vouch\n Version:    ${pkg.version}\n`);
  });

registerKeyCommands(program);
registerServerCommands(program);
registerSignerCommands(program);

await program.parseAsync(process.argv);

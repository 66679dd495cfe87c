/**
 * A `vouch` entry point for CLI tests: the program as src/cli/main.ts wires it, plus the
 * repository commands (key commands first: `registerRepositoryCommands` adds `key rotate`).
 */
import { Command } from '@commander-js/extra-typings';
import { registerKeyCommands } from '../../src/cli/key.ts';
import { registerRepositoryCommands } from '../../src/cli/notary/index.ts';
import { registerServerCommands } from '../../src/cli/server.ts';
import { registerSignerCommands } from '../../src/cli/signer.ts';

const program = new Command('vouch');
registerKeyCommands(program);
registerRepositoryCommands(program);
registerServerCommands(program);
registerSignerCommands(program);
await program.parseAsync(process.argv);

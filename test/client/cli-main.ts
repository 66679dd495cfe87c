/**
 * A `vouch` entry point for CLI tests: the program as src/cli/main.ts wires it (key commands
 * first, then the repository commands), so tests run the real command code in a subprocess.
 */
import { Command } from '@commander-js/extra-typings';
import { registerKeyCommands } from '../../src/cli/key.ts';
import { registerRepositoryCommands } from '../../src/cli/notary/index.ts';

const program = new Command('vouch');
registerKeyCommands(program);
registerRepositoryCommands(program);
await program.parseAsync(process.argv);

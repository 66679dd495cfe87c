// Runs `vouch server` through registerServerCommands alone, for tests that spawn the command
// before src/cli/main.ts wires it: `node --import tsx test/server/cli-entry.ts server [options]`.
import { Command } from '@commander-js/extra-typings';
import { registerServerCommands } from '../../src/cli/server.ts';

const program = new Command('vouch');
registerServerCommands(program);
await program.parseAsync(process.argv);

// Runs `vouch server` through registerServerCommands alone, so the benchmark can start it as its
// own process: `node --import tsx bench/server-cli.ts server --config FILE`.
import { Command } from '@commander-js/extra-typings';
import { registerServerCommands } from '../src/cli/server.ts';

const program = new Command('vouch');
registerServerCommands(program);
await program.parseAsync(process.argv);

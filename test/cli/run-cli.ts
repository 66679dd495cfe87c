// Test entry for the key commands until src/cli/main.ts wires them: `node --import tsx test/cli/run-cli.ts key …`.
import { Command } from '@commander-js/extra-typings';
import { registerKeyCommands } from '../../src/cli/key.ts';
import { registerTrustKeyCommands } from '../../src/cli/trust-key.ts';

const program = new Command('vouch');
registerKeyCommands(program);
registerTrustKeyCommands(program.command('trust').description('docker trust commands'));
await program.parseAsync(process.argv);

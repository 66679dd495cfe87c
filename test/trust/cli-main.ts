/**
 * A `vouch` entry point for the trust tests: `vouch trust …` as src/cli/main.ts is to wire it.
 */
import { Command } from '@commander-js/extra-typings';
import { registerTrustCommands } from '../../src/cli/trust.ts';

const program = new Command('vouch');
registerTrustCommands(program);
await program.parseAsync(process.argv);

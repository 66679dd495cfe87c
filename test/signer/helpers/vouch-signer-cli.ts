// Test entry point for `vouch signer …` until src/cli/main.ts wires registerSignerCommands: the
// same commander setup as bin/vouch.cjs would give, with only the signer commands registered.
import { Command } from '@commander-js/extra-typings';

import { registerSignerCommands } from '../../../src/cli/signer.ts';

const program = new Command('vouch');
registerSignerCommands(program);
await program.parseAsync(process.argv);

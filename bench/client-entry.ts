/**
 * The client half of `vouch` for bench/client.ts: key and repository commands only, as the
 * command line would start if src/cli/main.ts loaded the server and signer commands lazily.
 */
import { Command } from '@commander-js/extra-typings';
import { registerKeyCommands } from '../src/cli/key.ts';
import { registerRepositoryCommands } from '../src/cli/notary/index.ts';

const program = new Command('vouch');
registerKeyCommands(program);
registerRepositoryCommands(program);
await program.parseAsync(process.argv);

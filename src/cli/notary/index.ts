/**
 * The notary-compatible repository commands of `vouch` (features B, C, E, J): init, add, addhash,
 * remove, publish, status, reset, list, lookup, verify, witness, delete, `key rotate` and
 * `delegation add|list|remove|purge`, with notary's global flags accepted before or after the
 * subcommand; plus Vouch's `cosign` (m-of-n signatures collected across publishers) and `migrate`
 * (a collection moved to another trust server).
 *
 * Wiring (src/cli/main.ts): call `registerKeyCommands(program)` first, then
 * `registerRepositoryCommands(program)`; the latter adds `rotate` to the existing `key` command.
 */
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { withGlobalFlags } from './context.ts';
import { cosignCommand } from './cosign.ts';
import { delegationCommand } from './delegation.ts';
import { migrateCommand } from './migrate.ts';
import { registerKeyRotate } from './rotate.ts';
import { targetCommands } from './targets.ts';

export function registerRepositoryCommands(program: CommandUnknownOpts): void {
  // notary's persistent flags may precede the subcommand (`vouch -s URL -d DIR list GUN`); with
  // positional options they stay the program's, so `vouch server -c FILE` keeps its own `-c`.
  program.enablePositionalOptions();
  withGlobalFlags(program);
  for (const c of targetCommands()) program.addCommand(c);
  program.addCommand(delegationCommand());
  program.addCommand(cosignCommand());
  program.addCommand(migrateCommand());
  registerKeyRotate(program);
}

/**
 * Vouch's m-of-n commands: `publish GUN --partial FILE` (sign what your keys can; if thresholds
 * remain unmet, write the signed files to FILE for the other signers) and `cosign GUN FILE`
 * (review what FILE changes, add your signatures, publish when every threshold is met, otherwise
 * write the bundle back for the next signer).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { decodeBundle, encodeBundle, summarize, type CosignOutcome } from '../../client/cosign.ts';
import { stateOf } from '../../client/context.ts';
import { askConfirm, sharedLineReader } from '../passphrase.ts';
import { action, out, withGlobalFlags, type RepoHandle } from './context.ts';
import { withRepo } from './targets.ts';

async function report(h: RepoHandle, outcome: CosignOutcome, file: string): Promise<void> {
  const gun = h.repo.gun;
  if ('published' in outcome) {
    out(`Successfully published changes for repository ${gun}\n`);
    return;
  }
  await writeFile(file, encodeBundle(outcome.bundle), { mode: 0o600 });
  out(`Signatures are still needed before ${gun} can be published:\n`);
  for (const p of outcome.pending) out(`\t- ${p.role}: ${p.have} of ${p.need}\n`);
  out(`Wrote the signed files to ${file}; the next signer runs: vouch cosign ${gun} ${file}\n`);
}

/** `publish --partial FILE`. */
export async function publishPartial(cmd: CommandUnknownOpts, gun: string, file: string): Promise<void> {
  await withRepo(cmd, gun, true, async (h) => report(h, await h.repo.publishOrBundle(), file));
}

export function cosignCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('cosign')
    .description('Add your signatures to a bundle from `publish --partial`; publish once every threshold is met (Vouch extension)')
    .argument('<gun>').argument('<bundle>')
    .option('-o, --output <file>', 'where to write the bundle if signatures are still missing (default: the input file)')
    .option('-y, --yes', 'sign without asking after showing the changes'))
    .action(action(async (gun: string, file: string, opts: { output?: string; yes?: boolean }, cmd: CommandUnknownOpts) => {
      const bundle = decodeBundle(await readFile(file));
      await withRepo(cmd, gun, true, async (h) => {
        const current = stateOf((await h.repo.update()).collection);
        out(`Changes in ${file}:\n${summarize(bundle, current).map((l) => `\t${l}\n`).join('')}`);
        if (opts.yes !== true && !(await askConfirm(sharedLineReader(), 'Sign these changes? (yes/no) '))) throw new Error('Aborting action.');
        await report(h, await h.repo.cosign(bundle), opts.output ?? file);
      });
    }));
}

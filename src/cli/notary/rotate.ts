/**
 * `key rotate GUN ROLE [-r] [-k FILE…] [-l N]` (notary's keysRotate), plus Vouch's
 * `--threshold N` (m-of-n over the rotated keys). Root rotation asks for confirmation as notary
 * does; anything but `y`/`yes` prints `Aborting action.` and changes nothing.
 */
import { readFile } from 'node:fs/promises';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { baseThresholdChange } from '../../client/changes.ts';
import { checkRotation } from '../../client/rotate.ts';
import { readKeyBlock } from '../../keystore/file-store.ts';
import { keyIdOfPrivate, parseKeyFile } from '../../keystore/key-file.ts';
import { askConfirm, cliPassphraseRetriever, sharedLineReader } from '../passphrase.ts';
import { action, out, withGlobalFlags, type RepoHandle } from './context.ts';
import { parseGoInt } from './parse.ts';
import { collect, withRepo } from './targets.ts';

/** `-k FILE`: a key file imported into the store for `role` (a root key must be encrypted). */
async function importRoleKey(h: RepoHandle, role: string, file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch((e: unknown) => {
    throw new Error(`error reading input root key file: ${e instanceof Error ? e.message : String(e)}`);
  });
  const parsed = parseKeyFile(text, file);
  const encrypted = parsed.block.type.includes('ENCRYPTED') || parsed.block.headers['Proc-Type'] !== undefined;
  if (role === 'root' && !encrypted) throw new Error('only encrypted root keys may be imported');
  const key = await readKeyBlock(parsed, file, cliPassphraseRetriever({ mode: 'notary' }), '', role);
  const id = keyIdOfPrivate(key);
  if (!h.store.has(id)) {
    try {
      await h.store.add(key, { role, ...(role === 'targets' || role === 'snapshot' ? { gun: h.repo.gun } : {}) });
    } catch (e) {
      throw new Error(`error importing key: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
  return id;
}

interface RotateFlags { serverManaged?: boolean; key: string[]; legacy?: string; threshold?: string }

export function rotateCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('rotate')
    .description('Rotate a signing (non-root) key of the given type for the given Globally Unique Name and role.')
    .argument('<gun>').argument('<role>')
    .option('-r, --server-managed', 'Signing and key management will be handled by the remote server (no key will be generated or stored locally). Required for timestamp role, optional for snapshot role')
    .option('-k, --key <files>', 'New key(s) to rotate to. If not specified, one will be generated.', collect, [] as string[])
    .option('-l, --legacy <n>', "Number of old version's root roles to sign with to support old clients", '0')
    .option('--threshold <n>', 'Signatures the role needs after the rotation (m-of-n; Vouch extension)'))
    .action(action(async (gun: string, role: string, opts: RotateFlags, cmd: CommandUnknownOpts) => {
      const base = checkRotation(role, opts.serverManaged === true);
      const legacy = parseGoInt(opts.legacy ?? '0');
      const threshold = opts.threshold === undefined ? undefined : parseGoInt(opts.threshold);
      await withRepo(cmd, gun, true, async (h) => {
        const keyIds: string[] = [];
        for (const f of opts.key) keyIds.push(await importRoleKey(h, role, f));
        if (base === 'root') {
          process.stdout.write('Warning: you are about to rotate your root key.\n\nYou must use your old key to sign this root rotation.\nAre you sure you want to proceed?  (yes/no)  ');
          if (!(await askConfirm(sharedLineReader(), ''))) {
            out('\nAborting action.\n');
            return;
          }
        }
        const extra = threshold === undefined ? [] : [baseThresholdChange(base, threshold)];
        await h.repo.rotateKey(base, {
          serverManaged: opts.serverManaged === true, keyIds, legacyVersions: legacy, extraChanges: extra,
        });
        out(`Successfully rotated ${role} key for repository ${gun}\n`);
      });
    }));
}

/** Adds `rotate` to the `key` command (created when the program has none yet). */
export function registerKeyRotate(program: CommandUnknownOpts): void {
  let key = program.commands.find((c) => c.name() === 'key');
  if (key === undefined) {
    key = new Command('key').description('Operations on private keys.');
    program.addCommand(key);
  }
  key.addCommand(rotateCommand());
}

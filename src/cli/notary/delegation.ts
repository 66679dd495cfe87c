/**
 * `delegation add|list|remove|purge` (cmd/notary/delegations.go) with notary's arguments, flags
 * and output; plus Vouch's `--threshold N` on add (m-of-n; notary always writes 1).
 */
import { readFile } from 'node:fs/promises';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { parsePemPublicKey } from '../../client/public-keys.ts';
import { canonicalKeyId, type PublicKey } from '../../tuf/keys.ts';
import { isDelegationName } from '../../tuf/roles.ts';
import { askConfirm, sharedLineReader } from '../passphrase.ts';
import { action, out, withGlobalFlags } from './context.ts';
import { formatDelegations, goList, prettyPaths } from './output.ts';
import { parseGoInt } from './parse.ts';
import { collect, maybeAutoPublish, withRepo } from './targets.ts';

const PUBLISH_HELP = 'Automatically attempt to publish after staging the change. Will also publish existing staged changes.';

async function ingestPublicKeys(files: readonly string[]): Promise<PublicKey[]> {
  const keys: PublicKey[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') throw new Error(`file for public key does not exist: ${file}`, { cause: e });
      throw new Error(`unable to read public key from file: ${file}`, { cause: e });
    }
    try {
      keys.push(parsePemPublicKey(text, new Date()));
    } catch (e) {
      throw new Error(`unable to parse valid public key certificate from PEM file ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
  return keys;
}

function listCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('list').description('Lists delegations for the Global Unique Name.').argument('<gun>'))
    .action(action(async (gun: string, _o: unknown, cmd: CommandUnknownOpts) => {
      await withRepo(cmd, gun, true, async (h) => {
        let roles;
        try {
          roles = await h.repo.getDelegationRoles();
        } catch (e) {
          throw new Error(`error retrieving delegation roles for repository ${gun}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
        out(`\n${formatDelegations(roles)}\n`);
      });
    }));
}

interface AddOpts { paths: string[]; allPaths?: boolean; publish?: boolean; threshold?: string }

function addCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('add')
    .description('Add a keys to delegation using the provided public key X509 certificates.')
    .argument('<gun>').argument('<role>').argument('[keyfiles...]')
    .option('--paths <paths>', 'List of paths to add', collect, [] as string[])
    .option('--all-paths', 'Add all paths to this delegation')
    .option('--threshold <n>', 'Number of signatures the role needs (m-of-n; Vouch extension, notary always uses 1)')
    .option('-p, --publish', PUBLISH_HELP))
    .action(action(async (gun: string, role: string, files: string[], opts: AddOpts, cmd: CommandUnknownOpts) => {
      if (files.length === 0 && opts.paths.length === 0 && opts.allPaths !== true && opts.threshold === undefined) {
        throw new Error('must specify the Global Unique Name and the role of the delegation along with the public key certificate paths and/or a list of paths to add');
      }
      const keys = await ingestPublicKeys(files);
      const allPaths = opts.allPaths === true || opts.paths.includes('');
      const paths = allPaths ? [''] : opts.paths;
      const threshold = opts.threshold === undefined ? undefined : parseGoInt(opts.threshold);
      await withRepo(cmd, gun, false, async (h) => {
        try {
          await h.repo.addDelegation(role, keys, paths, threshold);
        } catch (e) {
          throw new Error(`failed to create delegation: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
      });
      let adding = '';
      if (keys.length > 0) adding += `with keys ${goList(keys.map((k) => canonicalKeyId(k)))}, `;
      if (opts.paths.length > 0 || allPaths) adding += `with paths [${prettyPaths(paths).join('\n')}], `;
      if (threshold !== undefined) adding += `with threshold ${threshold}, `;
      out(`\nAddition of delegation role ${role} ${adding}to repository "${gun}" staged for next publish.\n\n`);
      await maybeAutoPublish(cmd, gun, opts.publish);
    }));
}

interface RemoveOpts { paths: string[]; allPaths?: boolean; yes?: boolean; publish?: boolean }

function removeCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('remove')
    .description('Remove KeyID(s) from the specified Role delegation.')
    .argument('<gun>').argument('<role>').argument('[keyids...]')
    .option('--paths <paths>', 'List of paths to remove', collect, [] as string[])
    .option('-y, --yes', 'Answer yes to the removal question (no confirmation)')
    .option('--all-paths', 'Remove all paths from this delegation')
    .option('-p, --publish', PUBLISH_HELP))
    .action(action(async (gun: string, role: string, keyIds: string[], opts: RemoveOpts, cmd: CommandUnknownOpts) => {
      if (!isDelegationName(role)) throw new Error(`invalid delegation name ${role}`);
      const removeAll = keyIds.length === 0 && opts.paths.length === 0 && opts.allPaths !== true;
      const paths = opts.allPaths === true ? [] : opts.paths;
      if (removeAll) {
        out('\nAre you sure you want to remove all data for this delegation? (yes/no)\n');
        if (opts.yes !== true) {
          if (!(await askConfirm(sharedLineReader(), ''))) throw new Error('Aborting action.');
        } else out('Confirmed `yes` from flag\n');
      }
      await withRepo(cmd, gun, false, async (h) => {
        try {
          if (removeAll) await h.repo.removeDelegationRole(role);
          else {
            if (opts.allPaths === true) await h.repo.clearDelegationPaths(role);
            await h.repo.removeDelegationKeysAndPaths(role, keyIds, paths);
          }
        } catch (e) {
          throw new Error(`failed to remove delegation: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
      });
      if (removeAll) {
        out(`\nForced removal (including all keys and paths) of delegation role ${role} to repository "${gun}" staged for next publish.\n\n`);
      } else {
        let removing = '';
        if (keyIds.length > 0) removing += `with keys ${goList(keyIds)}, `;
        if (opts.allPaths === true) removing += 'with all paths, ';
        if (paths.length > 0) removing += `with paths [${prettyPaths(paths).join('\n')}], `;
        out(`\nRemoval of delegation role ${role} ${removing}to repository "${gun}" staged for next publish.\n\n`);
      }
      await maybeAutoPublish(cmd, gun, opts.publish);
    }));
}

function purgeCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('purge')
    .description('Remove KeyID(s) from all delegation roles in the given GUN.')
    .argument('<gun>')
    .option('--key <ids>', 'Delegation key IDs to be removed from the GUN', collect, [] as string[])
    .option('-p, --publish', PUBLISH_HELP))
    .action(action(async (gun: string, opts: { key: string[]; publish?: boolean }, cmd: CommandUnknownOpts) => {
      if (opts.key.length === 0) throw new Error('please provide at least one key ID to be removed using the --key flag');
      await withRepo(cmd, gun, false, async (h) => {
        try {
          await h.repo.purgeDelegationKeys(opts.key);
        } catch (e) {
          throw new Error(`failed to remove keys from delegations: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
      });
      out(`Removal of the following keys from all delegations in ${gun} staged for next publish:\n\t- ${opts.key.join('\n\t- ')}\n`);
      await maybeAutoPublish(cmd, gun, opts.publish);
    }));
}

export function delegationCommand(): CommandUnknownOpts {
  const cmd = new Command('delegation').description('Operates on delegations.');
  for (const sub of [listCommand(), addCommand(), removeCommand(), purgeCommand()]) cmd.addCommand(sub);
  return cmd;
}

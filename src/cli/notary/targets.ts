/**
 * The notary repository commands (cmd/notary/tuf.go): init, add, addhash, remove, publish,
 * status, reset, list, lookup, verify, witness, delete — same arguments, flags and output text.
 * Vouch additions: `add --from-file FILE|-` (bulk staging of `name size sha256 [sha512]` lines)
 * and `init --server-managed-snapshot`.
 */
import { open, readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { parseCustom } from '../../tuf/builder.ts';
import type { FileMeta } from '../../tuf/metadata.ts';
import { checkHashes } from '../../tuf/verify.ts';
import type { PublicKey } from '../../tuf/keys.ts';
import { rootCertificateKey } from '../../tuf/certs.ts';
import { decodePemBlocks } from '../../crypto/pem.ts';
import { readKeyBlock } from '../../keystore/file-store.ts';
import { parseKeyFile, keyIdOfPrivate } from '../../keystore/key-file.ts';
import type { NotaryChange } from '../../client/changelist.ts';
import { addTargetsChanges, removeTargetChanges } from '../../client/repository.ts';
import { cliPassphraseRetriever } from '../passphrase.ts';
import { action, openRepository, out, withGlobalFlags, type RepoHandle } from './context.ts';
import { formatStatus, formatTargets } from './output.ts';
import { parseBulkTargets, parseGoInt, hashesFromHex } from './parse.ts';
import { publishPartial } from './cosign.ts';

export const collect = (v: string, prev: string[]): string[] => [...prev, ...v.split(',').map((s) => s.trim())];

/** Opens the repository, runs `fn`, then closes the transport. */
export async function withRepo(cmd: CommandUnknownOpts, gun: string, online: boolean, fn: (h: RepoHandle) => Promise<void>): Promise<void> {
  const h = openRepository(cmd, gun, { online });
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

export async function publishAndPrint(h: RepoHandle): Promise<void> {
  await h.repo.publish();
  out(`Successfully published changes for repository ${h.repo.gun}\n`);
}

/** `-p`: publish right after staging (older staged changes too). */
export async function maybeAutoPublish(cmd: CommandUnknownOpts, gun: string, publish: boolean | undefined): Promise<void> {
  if (publish !== true) return;
  await withRepo(cmd, gun, true, async (h) => {
    out(`Auto-publishing changes to ${gun}\n`);
    await publishAndPrint(h);
  });
}

/**
 * Stages `changes` (offline), or with `-p` publishes them together with what is already staged;
 * they are written to the changelist only if that publish fails (see `stageAndPublish`).
 */
async function stageOrPublish(cmd: CommandUnknownOpts, gun: string, changes: NotaryChange[], publish: boolean | undefined, message: string): Promise<void> {
  if (publish !== true) {
    await withRepo(cmd, gun, false, async (h) => void (await h.repo.stage(changes)));
    out(message);
    return;
  }
  out(message);
  await withRepo(cmd, gun, true, async (h) => {
    out(`Auto-publishing changes to ${gun}\n`);
    await h.repo.stageAndPublish(changes);
    out(`Successfully published changes for repository ${gun}\n`);
  });
}

/** Read size for hashing a target file: large files never sit in memory whole. */
const HASH_CHUNK = 1 << 20;

async function fileMetaOfFile(path: string, custom: FileMeta['custom']): Promise<FileMeta> {
  const sha256 = createHash('sha256');
  const sha512 = createHash('sha512');
  let length = 0;
  // A read loop on one handle, not a stream: most targets are small, and a cold read stream costs
  // more than the hashing.
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(HASH_CHUNK);
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, HASH_CHUNK, null);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      sha256.update(chunk);
      sha512.update(chunk);
      length += bytesRead;
    }
  } finally {
    await handle.close();
  }
  const meta: FileMeta = { length, hashes: new Map([['sha256', new Uint8Array(sha256.digest())], ['sha512', new Uint8Array(sha512.digest())]]), unrecognized: {} };
  return custom === undefined ? meta : { ...meta, custom };
}

async function readCustom(file: string | undefined): Promise<FileMeta['custom']> {
  return file === undefined ? undefined : parseCustom(new Uint8Array(await readFile(file)));
}

function initCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('init')
    .description('Initializes a local trusted collection.')
    .argument('<gun>')
    .option('--rootkey <file>', 'Root key to initialize the repository with')
    .option('--rootcert <file>', 'Root certificate must match root key if a root key is supplied, otherwise it must match a key present in keystore')
    .option('--server-managed-snapshot', 'Let the server hold the snapshot key (as docker does); Vouch extension')
    .option('-p, --publish', 'Automatically attempt to publish after staging the change. Will also publish existing staged changes.'))
    .action(action(async (gun: string, opts: { rootkey?: string; rootcert?: string; serverManagedSnapshot?: boolean; publish?: boolean }, cmd: CommandUnknownOpts) => {
      await withRepo(cmd, gun, true, async (h) => {
        let rootKeyIds: string[] = opts.rootkey !== undefined ? [await importRootKey(h, opts.rootkey)] : (await h.repo.ctx.keys.rootKeyIds()).slice(0, 1);
        if (rootKeyIds[0] !== undefined) out(`Root key found, using: ${rootKeyIds[0]}\n`);
        const certs = opts.rootcert === undefined ? [] : [await readRootCert(opts.rootcert)];
        if (opts.rootkey === undefined && certs.length > 0) rootKeyIds = [];
        await h.repo.initialize({ rootKeyIds, rootCertificates: certs, serverManagedSnapshot: opts.serverManagedSnapshot === true });
      });
      await maybeAutoPublish(cmd, gun, opts.publish);
    }));
}

/** `--rootkey`: an encrypted root key file, added to the key store (kept if already there). */
async function importRootKey(h: RepoHandle, file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch((e: unknown) => {
    throw new Error(`error reading input root key file: ${e instanceof Error ? e.message : String(e)}`);
  });
  const parsed = parseKeyFile(text, file);
  if (!parsed.block.type.includes('ENCRYPTED') && parsed.block.headers['Proc-Type'] === undefined) throw new Error('only encrypted root keys may be imported');
  const key = await readKeyBlock(parsed, file, cliPassphraseRetriever({ mode: 'notary' }), '', 'root');
  const id = keyIdOfPrivate(key);
  if (!h.store.has(id)) await h.store.add(key, { role: 'root' });
  return id;
}

async function readRootCert(file: string): Promise<PublicKey> {
  const text = await readFile(file, 'utf8').catch((e: unknown) => {
    throw new Error(`error reading certificate file: ${e instanceof Error ? e.message : String(e)}`);
  });
  const block = decodePemBlocks(text).find((b) => b.type === 'CERTIFICATE');
  if (block === undefined) throw new Error('the provided file does not contain a valid PEM certificate');
  return rootCertificateKey(block.bytes);
}

interface AddOpts { roles: string[]; custom?: string; publish?: boolean; fromFile?: string }

function addCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('add')
    .description('Adds the file as a target to the trusted collection.')
    .argument('<gun>').argument('[target]').argument('[file]')
    .option('-r, --roles <roles>', 'Delegation roles to add this target to', collect, [] as string[])
    .option('--custom <file>', 'Path to the file containing custom data for this target')
    .option('--from-file <file>', 'Stage every "name size sha256 [sha512]" line of FILE (- for stdin) as a target; Vouch extension')
    .option('-p, --publish', 'Automatically attempt to publish after staging the change. Will also publish existing staged changes.'))
    .action(action(async (gun: string, target: string | undefined, file: string | undefined, opts: AddOpts, cmd: CommandUnknownOpts) => {
      if (opts.fromFile !== undefined) {
        if (target !== undefined) throw new Error('--from-file stages the targets listed in the file; give no target or file argument');
        const text = opts.fromFile === '-' ? await readStdin() : await readFile(opts.fromFile, 'utf8');
        const entries = parseBulkTargets(text);
        const message = `Addition of ${entries.length} targets to repository "${gun}" staged for next publish.\n`;
        await stageOrPublish(cmd, gun, addTargetsChanges(entries, opts.roles), opts.publish, message);
      } else {
        if (target === undefined || file === undefined) throw new Error('must specify a GUN, target, and path to target data');
        const meta = await fileMetaOfFile(file, await readCustom(opts.custom));
        const message = `Addition of target "${target}" to repository "${gun}" staged for next publish.\n`;
        await stageOrPublish(cmd, gun, addTargetsChanges([{ name: target, meta }], opts.roles), opts.publish, message);
      }
    }));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

function addhashCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('addhash')
    .description('Adds the byte size and hash(es) as a target to the trusted collection.')
    .argument('<gun>').argument('<target>').argument('<size>')
    .option('-r, --roles <roles>', 'Delegation roles to add this target to', collect, [] as string[])
    .option('--sha256 <hex>', 'hex encoded sha256 of the target to add')
    .option('--sha512 <hex>', 'hex encoded sha512 of the target to add')
    .option('--custom <file>', 'Path to the file containing custom data for this target')
    .option('-p, --publish', 'Automatically attempt to publish after staging the change. Will also publish existing staged changes.'))
    .action(action(async (gun: string, target: string, size: string, opts: { roles: string[]; sha256?: string; sha512?: string; custom?: string; publish?: boolean }, cmd: CommandUnknownOpts) => {
      if (opts.sha256 === undefined && opts.sha512 === undefined) throw new Error('must specify a GUN, target, byte size of target data, and at least one hash');
      const length = parseGoInt(size);
      const hashes = hashesFromHex(opts.sha256, opts.sha512);
      const custom = await readCustom(opts.custom);
      const meta: FileMeta = { length, hashes, unrecognized: {}, ...(custom !== undefined ? { custom } : {}) };
      const message = `Addition of target "${target}" by ${[...hashes.keys()].join(', ')} hash to repository "${gun}" staged for next publish.\n`;
      await stageOrPublish(cmd, gun, addTargetsChanges([{ name: target, meta }], opts.roles), opts.publish, message);
    }));
}

function removeCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('remove')
    .description('Removes a target from a trusted collection.')
    .argument('<gun>').argument('<target>')
    .option('-r, --roles <roles>', 'Delegation roles to remove this target from', collect, [] as string[])
    .option('-p, --publish', 'Automatically attempt to publish after staging the change. Will also publish existing staged changes.'))
    .action(action(async (gun: string, target: string, opts: { roles: string[]; publish?: boolean }, cmd: CommandUnknownOpts) => {
      await stageOrPublish(cmd, gun, removeTargetChanges(target, opts.roles), opts.publish, `Removal of ${target} from ${gun} staged for next publish.\n`);
    }));
}

function publishCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('publish').description('Publishes the local trusted collection.').argument('<gun>')
    .option('--partial <file>', 'When your keys cannot meet a role\'s threshold, write the signed files to FILE for the other signers (vouch cosign); Vouch extension'))
    .action(action(async (gun: string, opts: { partial?: string }, cmd: CommandUnknownOpts) => {
      out(`Pushing changes to ${gun}\n`);
      if (opts.partial !== undefined) await publishPartial(cmd, gun, opts.partial);
      else await withRepo(cmd, gun, true, publishAndPrint);
    }));
}

function statusCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('status').description('Displays status of unpublished changes to the local trusted collection.').argument('<gun>'))
    .action(action(async (gun: string, _opts: unknown, cmd: CommandUnknownOpts) => {
      await withRepo(cmd, gun, false, async (h) => out(formatStatus(gun, await h.repo.status())));
    }));
}

function resetCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('reset')
    .description('Resets unpublished changes for the local trusted collection.')
    .argument('<gun>')
    .option('-n, --number <n>', 'Numbers of specific changes to exclusively reset, as shown in status list', collect, [] as string[])
    .option('--all', 'Reset all changes shown in the status list'))
    .action(action(async (gun: string, opts: { number: string[]; all?: boolean }, cmd: CommandUnknownOpts) => {
      if (opts.all !== true && opts.number.length === 0) throw new Error('must specify changes to reset with -n or the --all flag');
      const indices = opts.number.map((n) => parseGoInt(n));
      await withRepo(cmd, gun, false, async (h) => {
        if (opts.all === true) await h.repo.changelist.clear();
        else await h.repo.changelist.remove(indices);
      });
      out(`Successfully reset specified changes for repository ${gun}\n`);
    }));
}

function listCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('list')
    .description('Lists targets for a remote trusted collection.')
    .argument('<gun>')
    .option('-r, --roles <roles>', 'Delegation roles to list targets for (will shadow targets role)', collect, [] as string[]))
    .action(action(async (gun: string, opts: { roles: string[] }, cmd: CommandUnknownOpts) => {
      await withRepo(cmd, gun, true, async (h) => out(formatTargets(await h.repo.listTargets(opts.roles))));
    }));
}

function lookupCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('lookup').description('Looks up a specific target in a remote trusted collection.').argument('<gun>').argument('<target>'))
    .action(action(async (gun: string, target: string, _opts: unknown, cmd: CommandUnknownOpts) => {
      await withRepo(cmd, gun, true, async (h) => {
        const t = await h.repo.getTargetByName(target);
        out(`${t.name} sha256:${Buffer.from(t.meta.hashes.get('sha256') ?? []).toString('hex')} ${t.meta.length}\n`);
      });
    }));
}

function verifyCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('verify')
    .description('Verifies if the content is included in the remote trusted collection')
    .argument('<gun>').argument('<target>')
    .option('-i, --input <file>', 'Read from a file, instead of STDIN')
    .option('-o, --output <file>', 'Write to a file, instead of STDOUT')
    .option('-q, --quiet', 'No output except for errors'))
    .action(action(async (gun: string, target: string, opts: { input?: string; output?: string; quiet?: boolean }, cmd: CommandUnknownOpts) => {
      const payload = opts.input !== undefined ? await readFile(opts.input) : Buffer.from(await readStdinBytes());
      await withRepo(cmd, gun, true, async (h) => {
        let meta: FileMeta;
        try {
          meta = (await h.repo.getTargetByName(target)).meta;
        } catch (e) {
          throw new Error(`error retrieving target by name:${target}, error:${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
        try {
          checkHashes(payload, target, meta);
        } catch (e) {
          throw new Error(`data not present in the trusted collection, ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
      });
      if (opts.quiet === true) return;
      if (opts.output !== undefined) await writeFile(opts.output, payload, { mode: 0o600 });
      else process.stdout.write(payload);
    }));
}

async function readStdinBytes(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

function witnessCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('witness')
    .description("Marks roles to be re-signed the next time they're published")
    .argument('<gun>').argument('<roles...>')
    .option('-p, --publish', 'Automatically attempt to publish after staging the change. Will also publish existing staged changes.'))
    .action(action(async (gun: string, roles: string[], opts: { publish?: boolean }, cmd: CommandUnknownOpts) => {
      let marked: string[] = [];
      await withRepo(cmd, gun, false, async (h) => {
        marked = await h.repo.witness(roles);
      });
      out(`The following roles were successfully marked for witnessing on the next publish:\n\t- ${marked.join('\n\t- ')}\n`);
      await maybeAutoPublish(cmd, gun, opts.publish);
    }));
}

function deleteCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('delete')
    .description('Deletes all content for a trusted collection')
    .argument('<gun>')
    .option('--remote', 'Delete remote data for GUN in addition to local cache'))
    .action(action(async (gun: string, opts: { remote?: boolean }, cmd: CommandUnknownOpts) => {
      out(`Deleting trust data for repository ${gun}\n`);
      await withRepo(cmd, gun, opts.remote === true, (h) => h.repo.deleteTrustData({ remote: opts.remote === true }));
      out(`Successfully deleted local${opts.remote === true ? ' and remote' : ''} trust data for repository ${gun}\n`);
    }));
}

export function targetCommands(): CommandUnknownOpts[] {
  return [initCommand(), addCommand(), addhashCommand(), removeCommand(), publishCommand(), statusCommand(), resetCommand(),
    listCommand(), lookupCommand(), verifyCommand(), witnessCommand(), deleteCommand()];
}

/**
 * `vouch key …`: notary's key commands (generate, list, import, export, passwd, remove) with
 * notary's flags and output, plus `backup` and `restore` of the whole key store.
 *
 * The trust dir defaults to docker's (`$DOCKER_CONFIG/trust` or `~/.docker/trust`), so the same
 * keys serve `vouch key`, `vouch trust` and `docker trust`; `-d/--trustDir` or `trust_dir` in a
 * notary config file given with `-c/--configFile` override it. Passphrases come from
 * NOTARY_*_PASSPHRASE (then DOCKER_CONTENT_TRUST_*_PASSPHRASE) or a terminal prompt. Errors are
 * printed as `* fatal: <message>` on stderr, exit status 1.
 */
import { action } from './action.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { createBackup, restoreBackup, writeBackupFile } from '../keystore/backup.ts';
import { exportKeys, importKeys } from '../keystore/bundle.ts';
import { KeyStoreError } from '../keystore/errors.ts';
import { KeyFileStore, type GeneratedKeyType } from '../keystore/file-store.ts';
import { replaceFileAtomic, readFileCapped } from '../keystore/fs-util.ts';
import { checkKeyId } from '../keystore/key-file.ts';
import { generateKeyPairFiles } from '../keystore/key-pair-files.ts';
import { formatKeyList, formatKeyListJson } from '../keystore/listing.ts';
import type { PassphraseRetriever } from '../keystore/passphrase.ts';
import { loadClientConfig } from './config.ts';
import type { KeyCommandTokens } from './key-token.ts';
import { askConfirm, cliPassphraseRetriever, namedPassphraseRetriever, sharedLineReader } from './passphrase.ts';

export const BACKUP_PASSPHRASE_VARIABLE = 'VOUCH_BACKUP_PASSPHRASE';
const MAX_IMPORT_FILE_BYTES = 4 * 1024 * 1024;
const MAX_BACKUP_FILE_BYTES = 64 * 1024 * 1024;

const KEY_HELP = `
Keys live in <trust dir>/private/<key ID>.key, encrypted, exactly as notary and docker keep them.
Trust dir: -d/--trustDir, else trust_dir from the config file given with -c/--configFile (notary's
config.json format), else docker's: $DOCKER_CONFIG/trust, or ~/.docker/trust.
Passphrases: NOTARY_ROOT_PASSPHRASE, NOTARY_TARGETS_PASSPHRASE, NOTARY_SNAPSHOT_PASSPHRASE,
NOTARY_DELEGATION_PASSPHRASE (every non-base role), then DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE and
DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE; otherwise a prompt on a terminal.
Hardware tokens (PKCS#11, see vouch --help) come first: new root keys are created on the token
(with an encrypted backup copy in the files), list shows each key's location, token keys cannot be
exported, import loads an encrypted root key file onto the token, remove asks which copy.`;

const BACKUP_ADVICE = `
Losing the root key is unrecoverable: every repository it signs would have to be re-created and
re-trusted by every consumer. Keep two backups, each on its own encrypted medium (for example two
encrypted USB drives kept in different places), and keep their passphrases in a password manager.
The archive holds the key files still encrypted with their own passphrases; with --encrypt every
key is re-encrypted with one backup passphrase (${BACKUP_PASSPHRASE_VARIABLE}, or prompted twice).
Restore with: vouch key restore FILE`;

interface StoreContext {
  readonly store: KeyFileStore;
  readonly retriever: PassphraseRetriever;
  readonly configFile: string | undefined;
}

function stringOpt(opts: Record<string, unknown>, name: string): string | undefined {
  const v = opts[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Opens the key store chosen by -d/-c (on this command or any parent) with a fresh retriever. */
function openStore(cmd: CommandUnknownOpts): StoreContext {
  const opts = cmd.optsWithGlobals();
  const config = loadClientConfig({ defaults: 'docker', trustDir: stringOpt(opts, 'trustDir'), configFile: stringOpt(opts, 'configFile') });
  const retriever = cliPassphraseRetriever({ mode: 'notary' });
  const store = KeyFileStore.open(config.trustDir, { retriever });
  for (const m of store.migration.migrated) process.stderr.write(`Migrated legacy key file ${m.from} to ${store.keyPath(m.keyId)}\n`);
  return { store, retriever, configFile: config.configFile };
}

/** The hardware-token side of a key command (key-token.ts), loaded only when a command needs it. */
async function openTokens(cmd: CommandUnknownOpts, ctx: StoreContext): Promise<KeyCommandTokens> {
  const { KeyCommandTokens: Tokens } = await import('./key-token.ts');
  return Tokens.open(cmd, ctx.store, ctx.configFile, { reader: sharedLineReader, stdout: process.stdout, stderr: process.stderr });
}

function warnProblems(problems: readonly { path: string; message: string }[]): void {
  for (const p of problems) process.stderr.write(`warning: ${p.path}: ${p.message}\n`);
}


function withStoreOptions<C extends CommandUnknownOpts>(cmd: C): C {
  cmd.option('-d, --trustDir <dir>', 'directory where the trust data is persisted to');
  cmd.option('-c, --configFile <file>', 'path to the configuration file to use (notary config.json format)');
  return cmd;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter((s) => s !== '')];
}

function generateCommand(): CommandUnknownOpts {
  return withStoreOptions(new Command('generate')
    .description('Generates a new key with a given algorithm (ecdsa, the default, or ed25519). Without --output the key is '
      + 'stored in the key store; with --output, <output>.pem and <output>-key.pem are written instead. If no --role is '
      + 'provided, "root" is assumed.')
    .argument('[algorithm]', 'ecdsa or ed25519')
    .option('-r, --role <role>', 'Role to generate key with, defaulting to "root".', 'root')
    .option('-o, --output <prefix>', 'Filepath to write export output to'))
    .action(action(async (algorithm: string | undefined, opts: { role: string; output?: string }, cmd: CommandUnknownOpts) => {
      const alg = (algorithm ?? 'ecdsa').toLowerCase();
      if (alg === 'rsa') throw new KeyStoreError('INVALID_ARGUMENT', 'rsa keys can only be imported');
      if (alg !== 'ecdsa' && alg !== 'ed25519') {
        throw new KeyStoreError('INVALID_ARGUMENT', 'Algorithm not allowed, possible values are: ECDSA, ED25519');
      }
      const keyType: GeneratedKeyType = alg;
      if (opts.output !== undefined) {
        const files = await generateKeyPairFiles(opts.output, opts.role, keyType, cliPassphraseRetriever({ mode: 'notary' }));
        process.stdout.write(`Generated new ${alg} ${opts.role} key with keyID: ${files.keyId}\n`);
        return;
      }
      const ctx = openStore(cmd);
      const onToken = keyType === 'ecdsa' ? await (await openTokens(cmd, ctx)).generate(opts.role) : undefined;
      const keyId = onToken?.keyId ?? (await ctx.store.generate(opts.role, { keyType })).info.keyId;
      process.stdout.write(`Generated new ${alg} ${opts.role} key with keyID: ${keyId}\n`);
    }));
}

function listCommand(): CommandUnknownOpts {
  return withStoreOptions(new Command('list')
    .description('Lists all keys known to vouch: table ROLE, GUN, KEY ID, LOCATION (or JSON with --json).')
    .option('--json', 'print a JSON array of {id, role, gun, location, path}'))
    .action(action(async (opts: { json?: boolean }, cmd: CommandUnknownOpts) => {
      const ctx = openStore(cmd);
      warnProblems(ctx.store.list().problems);
      const keys = await (await openTokens(cmd, ctx)).listKeys();
      process.stdout.write(opts.json === true ? formatKeyListJson(keys) : formatKeyList(keys));
    }));
}

function importCommand(): CommandUnknownOpts {
  return withStoreOptions(new Command('import')
    .description('Imports all keys from all provided .pem files. Every block is checked first (encrypted blocks are '
      + 'decrypted to prove they hold the key their path header names); if any block fails, nothing is imported. '
      + 'Unencrypted keys are encrypted with a new passphrase. Existing keys are never replaced.')
    .argument('<pemfile...>')
    .option('-r, --role <role>', 'Role to import key with, if a role is not already given in a PEM header')
    .option('-g, --gun <gun>', 'Gun to import key with, if a gun is not already given in a PEM header'))
    .action(action(async (files: string[], opts: { role?: string; gun?: string }, cmd: CommandUnknownOpts) => {
      const ctx = openStore(cmd);
      const sources = files.map((name) => ({ name, text: readFileCapped(name, MAX_IMPORT_FILE_BYTES).toString('utf8') }));
      const rest = await (await openTokens(cmd, ctx)).importRootBackups(sources, { role: opts.role, gun: opts.gun }, ctx.retriever);
      if (rest.length === 0 && sources.length > 0) return;
      const result = await importKeys(ctx.store, rest, { role: opts.role, gun: opts.gun }, ctx.retriever);
      for (const k of result.imported) process.stderr.write(`Imported ${k.role} key ${k.keyId}\n`);
      for (const s of result.skipped) process.stderr.write(`Skipped key ${s.keyId}: ${s.reason}\n`);
    }));
}

function exportCommand(): CommandUnknownOpts {
  return withStoreOptions(new Command('export')
    .description('Exports keys from the key store, still encrypted, each PEM block with a path header naming its key ID. '
      + 'Which keys are exported can be restricted by using the --key or --gun flags. By default the result is sent to '
      + 'stdout, it can be directed to a file (mode 0600) with the -o flag.')
    .option('--gun <guns>', 'GUNs for which to export keys (repeatable, or comma-separated)', collect, [] as string[])
    .option('--key <ids>', 'Key IDs to export (repeatable, or comma-separated)', collect, [] as string[])
    .option('-o, --output <file>', 'Filepath to write export output to'))
    .action(action(async (opts: { gun: string[]; key: string[]; output?: string }, cmd: CommandUnknownOpts) => {
      const ctx = openStore(cmd);
      const keyIds = opts.key.map(checkKeyId);
      if (keyIds.length > 0) await (await openTokens(cmd, ctx)).checkExportable(keyIds);
      const bundle = exportKeys(ctx.store, { keyIds, guns: opts.gun });
      if (opts.output === undefined) process.stdout.write(bundle);
      else replaceFileAtomic(opts.output, Buffer.from(bundle, 'utf8'));
    }));
}

function passwdCommand(): CommandUnknownOpts {
  return withStoreOptions(new Command('passwd')
    .description('Changes the passphrase for the key with the given keyID.  Will require validation of the old passphrase.')
    .argument('<keyID>'))
    .action(action(async (keyId: string, _opts: unknown, cmd: CommandUnknownOpts) => {
      checkKeyId(keyId);
      const { store } = openStore(cmd);
      if (!store.has(keyId)) throw new KeyStoreError('KEY_NOT_FOUND', `could not retrieve local key for key ID provided: ${keyId}`);
      // A fresh retriever, so the passphrase that unlocked the key is not reused as the new one.
      await store.changePassphrase(keyId, cliPassphraseRetriever({ mode: 'notary' }));
      process.stdout.write(`\nSuccessfully updated passphrase for key ID: ${keyId}\n`);
    }));
}

function removeCommand(): CommandUnknownOpts {
  return withStoreOptions(new Command('remove')
    .description('Removes the key with the given keyID, after a (yes/no) confirmation read from stdin.')
    .argument('<keyID>'))
    .action(action(async (keyId: string, _opts: unknown, cmd: CommandUnknownOpts) => {
      checkKeyId(keyId);
      const ctx = openStore(cmd);
      const { store } = ctx;
      process.stdout.write('\n');
      if (await (await openTokens(cmd, ctx)).remove(keyId)) return;
      if (!store.has(keyId)) throw new KeyStoreError('KEY_NOT_FOUND', `No key with ID ${keyId} found`);
      const info = store.get(keyId);
      const description = `${keyId} (role ${info.role}) from ${info.location}`;
      if (!await askConfirm(sharedLineReader(), `Are you sure you want to remove ${description}?  (yes/no)  `)) {
        process.stdout.write('\nAborting action.\n\n');
        return;
      }
      store.remove(keyId);
      process.stdout.write(`\nDeleted ${description}.\n\n`);
    }));
}

function backupFileName(now: Date): string {
  return `vouch-key-backup-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.tar.gz`;
}

function backupCommand(): CommandUnknownOpts {
  return withStoreOptions(new Command('backup')
    .description('Writes every key of the key store into one tar.gz archive (mode 0600, written under umask 077, never '
      + 'over an existing file). Default file: ./vouch-key-backup-<UTC time>.tar.gz; "-o -" writes to stdout.')
    .option('-o, --output <file>', 'archive to write')
    .option('-e, --encrypt', 're-encrypt every key with one backup passphrase (each key is unlocked first)')
    .addHelpText('after', BACKUP_ADVICE))
    .action(action(async (opts: { output?: string; encrypt?: boolean }, cmd: CommandUnknownOpts) => {
      const { store } = openStore(cmd);
      const now = new Date();
      if (store.list().keys.length === 0) throw new KeyStoreError('KEY_NOT_FOUND', `no keys to back up in ${store.privateDir}`);
      const toStdout = opts.output === '-';
      if (toStdout && process.stdout.isTTY) throw new KeyStoreError('INVALID_ARGUMENT', 'refusing to write a binary archive to a terminal');
      let backupPassphrase: string | undefined;
      if (opts.encrypt === true) {
        const r = await namedPassphraseRetriever('backup', BACKUP_PASSPHRASE_VARIABLE)({ keyName: '', alias: 'backup', createNew: true, attempt: 0 });
        backupPassphrase = r.passphrase;
      }
      const { archive, manifest } = await createBackup(store, { now, ...(backupPassphrase !== undefined ? { backupPassphrase } : {}) });
      const path = opts.output ?? join(process.cwd(), backupFileName(now));
      if (toStdout) process.stdout.write(archive);
      else writeBackupFile(path, archive);
      const roots = manifest.keys.filter((k) => k.role === 'root').length;
      const summary = `Backed up ${manifest.keys.length} key${manifest.keys.length === 1 ? '' : 's'} (${roots} root) `
        + `${manifest.reencrypted ? 're-encrypted with the backup passphrase ' : ''}to ${toStdout ? 'stdout' : path}\n`;
      (toStdout ? process.stderr : process.stdout).write(summary);
    }));
}

function restoreCommand(): CommandUnknownOpts {
  return withStoreOptions(new Command('restore')
    .description('Restores keys from an archive written by "vouch key backup". Every key is checked first (it must '
      + 'decrypt and be the key its file name says); nothing is written unless all pass. Existing key files are never '
      + 'replaced: they are reported as skipped.')
    .argument('<file>')
    .addHelpText('after', BACKUP_ADVICE))
    .action(action(async (file: string, _opts: unknown, cmd: CommandUnknownOpts) => {
      const { store, retriever } = openStore(cmd);
      const archive = file === '-' ? readFileSync(0) : readFileCapped(file, MAX_BACKUP_FILE_BYTES);
      const result = await restoreBackup(store, archive, {
        name: file, retriever, backupRetriever: namedPassphraseRetriever('backup', BACKUP_PASSPHRASE_VARIABLE),
      });
      for (const k of result.restored) process.stdout.write(`Restored ${k.role} key ${k.keyId}\n`);
      for (const s of result.skipped) process.stdout.write(`Skipped key ${s.keyId}: ${s.reason}\n`);
      process.stdout.write(`Restored ${result.restored.length}, skipped ${result.skipped.length}.\n`);
      if (result.manifest.reencrypted && result.restored.length > 0) {
        process.stdout.write('The restored keys use the backup passphrase; change it with: vouch key passwd <keyID>\n');
      }
    }));
}

/** Adds `vouch key …` to `program`. */
export function registerKeyCommands(program: CommandUnknownOpts): void {
  const key = new Command('key')
    .description('Operations on private keys.')
    .addHelpText('after', KEY_HELP);
  for (const sub of [generateCommand(), listCommand(), importCommand(), exportCommand(), passwdCommand(), removeCommand(),
    backupCommand(), restoreCommand()]) {
    key.addCommand(sub);
  }
  program.addCommand(key);
}

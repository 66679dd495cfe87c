/**
 * `vouch trust key generate|load`: docker's `docker trust key` commands (cli/command/trust/
 * key_generate.go, key_load.go) with docker's name rule, files and messages, on the same key store
 * (`$DOCKER_CONFIG/trust` or `~/.docker/trust`). Passphrases come from
 * DOCKER_CONTENT_TRUST_*_PASSPHRASE (then NOTARY_*_PASSPHRASE) or a terminal prompt; prompts say
 * "repository" for targets and snapshot keys, as docker's do.
 *
 * Differences from docker 28.2, on purpose: an encrypted key file is really loaded (docker reports
 * success and stores nothing), `--name` always names the loaded key, and a public key file that
 * cannot be written takes the just-stored private key back out. Errors are printed on stderr as
 * docker prints them, exit status 1.
 */
import { lstatSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { loadPrivateKeyFile } from '../keystore/bundle.ts';
import { KeyStoreError, describeIoError } from '../keystore/errors.ts';
import { KeyFileStore } from '../keystore/file-store.ts';
import { pathExists, readFileCapped, writeFileExclusive } from '../keystore/fs-util.ts';
import { publicKeyPemText } from '../keystore/key-pair-files.ts';
import { defaultTrustDir, loadClientConfig } from './config.ts';
import { cliPassphraseRetriever, closePrompts } from './passphrase.ts';

const VALID_KEY_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const NON_OWNER_READ_WRITE = 0o077;
const MAX_KEY_FILE_BYTES = 1024 * 1024;

function checkKeyName(name: string): void {
  if (!VALID_KEY_NAME.test(name)) {
    throw new KeyStoreError('INVALID_ROLE',
      `key name "${name}" must start with lowercase alphanumeric characters and can include "-" or "_" after the first character`);
  }
}

/** docker's trust dir, unless a parent command offers -d/--trustDir or -c/--configFile. */
function trustDirOf(cmd: CommandUnknownOpts): string {
  const opts = cmd.optsWithGlobals();
  const trustDir = typeof opts['trustDir'] === 'string' ? opts['trustDir'] : undefined;
  const configFile = typeof opts['configFile'] === 'string' ? opts['configFile'] : undefined;
  if (trustDir === undefined && configFile === undefined) return defaultTrustDir('docker');
  return loadClientConfig({ defaults: 'docker', trustDir, configFile }).trustDir;
}

function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    } finally {
      closePrompts();
    }
  };
}

function generateCommand(): CommandUnknownOpts {
  return new Command('generate')
    .description('Generate and load a signing key-pair')
    .argument('<NAME>')
    .option('--dir <dir>', 'Directory to generate key in, defaults to current directory')
    .action(action(async (name: string, opts: { dir?: string }, cmd: CommandUnknownOpts) => {
      const dir = opts.dir ?? process.cwd();
      checkKeyName(name);
      try {
        statSync(dir);
      } catch {
        throw new KeyStoreError('INVALID_ARGUMENT', `public key path does not exist: "${dir}"`);
      }
      const pubPath = join(dir, `${name}.pub`);
      if (pathExists(pubPath)) throw new KeyStoreError('FILE_EXISTS', `public key file already exists: "${pubPath}"`);
      process.stdout.write(`Generating key for ${name}...\n`);
      const store = KeyFileStore.open(trustDirOf(cmd), { retriever: cliPassphraseRetriever({ mode: 'docker' }) });
      let generated;
      try {
        generated = await store.generate(name);
      } catch (e) {
        throw new KeyStoreError('WRITE_FAILED', `failed to generate key for ${name}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      try {
        writeFileExclusive(pubPath, Buffer.from(publicKeyPemText(generated.signer.publicKey, name), 'utf8'));
      } catch (e) {
        store.remove(generated.info.keyId);
        throw new KeyStoreError('WRITE_FAILED', `failed to write public key to ${pubPath}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      process.stdout.write(`Successfully generated and loaded private key. Corresponding public key available: ${pubPath}\n`);
    }));
}

function loadCommand(): CommandUnknownOpts {
  return new Command('load')
    .description('Load a private key file for signing')
    .argument('<KEYFILE>')
    .option('--name <name>', 'Name for the loaded key', 'signer')
    .action(action(async (keyPath: string, opts: { name: string }, cmd: CommandUnknownOpts) => {
      checkKeyName(opts.name);
      const store = KeyFileStore.open(trustDirOf(cmd), { retriever: cliPassphraseRetriever({ mode: 'docker' }) });
      process.stdout.write(`Loading key from "${keyPath}"...\n`);
      let text: string;
      try {
        const st = lstatSync(resolve(keyPath));
        if ((st.mode & NON_OWNER_READ_WRITE) !== 0) {
          throw new KeyStoreError('INSECURE_KEY_FILE', `private key file ${keyPath} must not be readable or writable by others`);
        }
        text = readFileCapped(keyPath, MAX_KEY_FILE_BYTES).toString('utf8');
      } catch (e) {
        const why = e instanceof KeyStoreError ? e.message : `stat ${keyPath}: ${describeIoError(e)}`;
        throw new KeyStoreError(e instanceof KeyStoreError ? e.code : 'STORE_UNREADABLE', `refusing to load key from ${keyPath}: ${why}`, { cause: e });
      }
      try {
        await loadPrivateKeyFile(store, text, keyPath, opts.name, cliPassphraseRetriever({ mode: 'docker' }));
      } catch (e) {
        if (!(e instanceof KeyStoreError)) throw e;
        throw new KeyStoreError(e.code, `error importing key from ${keyPath}: ${e.message}`, { cause: e });
      }
      process.stdout.write(`Successfully imported key from ${keyPath}\n`);
    }));
}

/** Adds `key generate|load` under docker's `trust` command. */
export function registerTrustKeyCommands(trust: CommandUnknownOpts): void {
  const key = new Command('key').description('Manage keys for signing Docker images');
  key.addCommand(generateCommand());
  key.addCommand(loadCommand());
  trust.addCommand(key);
}

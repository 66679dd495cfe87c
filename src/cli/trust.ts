/**
 * `vouch trust …`: docker's `docker trust` commands without a Docker engine (features group K):
 * `inspect [--pretty]`, `sign`, `revoke`, `signer add|remove`, `key generate|load`, plus
 * `resolve`, which prints the signed `name@sha256:…` a trusted pull would have used, and
 * `migrate`, which moves a repository's trust data to another server.
 *
 * Contract: docker 28's arguments, output (stdout), prompts (`[y/N]` on stdout, answered `y`),
 * error texts (stderr, exit 1) and environment: `$DOCKER_CONFIG` (else `~/.docker`) for the trust
 * dir, TLS material and registry logins; `DOCKER_CONTENT_TRUST_SERVER`; passphrases from
 * `DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE` / `DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE` (then
 * the NOTARY_* ones) or a terminal prompt. Warnings from the trust client go to stderr in
 * logrus's format (`-D` adds debug lines). `--json` switches `sign` and `resolve` to one JSON
 * document on stdout (docker's messages then go to stderr).
 */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import type { Logger } from '../client/log.ts';
import { inspectJson, inspectPretty, lookupTrustInfo, trustRepo, type TrustRepo } from '../client/docker/inspect.ts';
import { migrateImageTrust } from '../client/docker/migrate.ts';
import { parseImageReference } from '../client/docker/reference.ts';
import { resolveTrustedReference } from '../client/docker/resolve.ts';
import { RevokeCancelled, revokeTrust } from '../client/docker/revoke.ts';
import { dockerConfigDir } from '../client/docker/server.ts';
import { withTrust, type DockerContext, type DockerIo } from '../client/docker/session.ts';
import { signImage } from '../client/docker/sign.ts';
import { exportSigstore, releasedDigests, revokeSigner, revokeSigstore, sigstoreSignDigest, sigstoreSigner, verifyImageSigstore } from '../client/docker/sigstore.ts';
import { ClientError } from '../client/errors.ts';
import { parseSigstorePublicKey } from '../client/sigstore.ts';
import { readFile } from 'node:fs/promises';
import { addSigner, removeSigner } from '../client/docker/signers.ts';
import { KeyFileStore } from '../keystore/file-store.ts';
import { defaultTrustDir, loadClientConfig } from './config.ts';
import { cliPassphraseRetriever, closePrompts, sharedLineReader } from './passphrase.ts';
import { loadPkcs11Section, pkcs11FlagsOf, resolvePkcs11Settings, terminalPinSource, tokenFirstKeys } from './pkcs11.ts';
import { registerTrustKeyCommands } from './trust-key.ts';
import { registerTrustEngineCommands } from './trust-engine.ts';
import { agentKeyCache } from '../agent/worker.ts';

function stderrLogger(debug: boolean): Logger {
  const at = (level: string, show: boolean) => (message: string) => {
    if (!show) return;
    process.stderr.write(`time="${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}" level=${level} msg=${JSON.stringify(message)}\n`);
  };
  return { debug: at('debug', debug), info: at('info', debug), warn: at('warning', true), error: at('error', true) };
}

function processIo(stdout: (text: string) => void): DockerIo {
  return {
    out: stdout,
    err: (text) => void process.stderr.write(text),
    confirm: async (prompt) => {
      process.stdout.write(`${prompt} [y/N] `);
      const answer = await sharedLineReader().question('');
      return (answer ?? '').trim().toLowerCase() === 'y';
    },
  };
}

/** docker's trust dir, unless a parent command offers -d/--trustDir or -c/--configFile (as `trust key` does). */
function trustDirOf(cmd: CommandUnknownOpts, env: NodeJS.ProcessEnv): { trustDir: string; configFile: string | undefined } {
  const o = cmd.optsWithGlobals();
  const trustDir = typeof o['trustDir'] === 'string' ? o['trustDir'] : undefined;
  const configFile = typeof o['configFile'] === 'string' ? o['configFile'] : undefined;
  if (trustDir === undefined && configFile === undefined) return { trustDir: defaultTrustDir('docker', env), configFile: undefined };
  const config = loadClientConfig({ defaults: 'docker', trustDir, configFile, env });
  return { trustDir: config.trustDir, configFile: config.configFile };
}

/** The docker-style context of one command run. */
export function dockerContext(cmd: CommandUnknownOpts, opts: { quietStdout?: boolean } = {}): DockerContext {
  const env = process.env;
  const configDir = dockerConfigDir(env);
  const { trustDir, configFile } = trustDirOf(cmd, env);
  const store = KeyFileStore.open(trustDir, { retriever: cliPassphraseRetriever({ mode: 'docker' }), unlockedKeys: agentKeyCache() });
  const debug = cmd.optsWithGlobals()['debug'] === true;
  const log = stderrLogger(debug);
  for (const p of store.migration.problems) log.warn(`${p.path}: ${p.message}`);
  // Hardware root keys first (PKCS#11 flags, VOUCH_PKCS11_* or the config's pkcs11 section), as
  // docker used a Yubikey for root keys when one was plugged in; everything else from files.
  const keys = tokenFirstKeys(store, resolvePkcs11Settings({ flags: pkcs11FlagsOf(cmd), env, config: loadPkcs11Section(configFile) }), {
    ...(process.stdin.isTTY ? { pinSource: terminalPinSource(sharedLineReader(), process.stderr) } : {}),
    notify: (m) => void process.stderr.write(`${m}\n`),
  });
  return {
    env, configDir, trustDir, log, keys,
    keyIdsForRole: async (role) => (role === 'root' ? [...(await keys.rootKeyIds())]
      : store.list().keys.filter((k) => k.role === role).map((k) => k.keyId as string).sort()),
    io: processIo(opts.quietStdout === true ? (t) => void process.stderr.write(t) : (t) => void process.stdout.write(t)),
    userAgent: 'vouch (docker trust)',
  };
}

function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      if (e instanceof RevokeCancelled) return; // docker: a declined question is no error
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    } finally {
      closePrompts();
    }
  };
}

function inspectCommand(): CommandUnknownOpts {
  return new Command('inspect')
    .description('Return low-level information about keys and signatures')
    .argument('<IMAGE[:TAG]...>')
    .option('--pretty', 'Print the information in a human friendly format')
    .action(action(async (remotes: string[], opts: { pretty?: boolean }, cmd: CommandUnknownOpts) => {
      const ctx = dockerContext(cmd);
      const read = async (remote: string) => {
        const ref = parseImageReference(remote);
        return withTrust(ctx, ref, (s) => lookupTrustInfo(s, remote));
      };
      if (opts.pretty === true) {
        for (const [i, remote] of remotes.entries()) {
          process.stdout.write(inspectPretty(remote, await read(remote)));
          if (i < remotes.length - 1) process.stdout.write('\n\n');
        }
        return;
      }
      const repos: TrustRepo[] = [];
      const errors: string[] = [];
      for (const remote of remotes) {
        try {
          repos.push(trustRepo(remote, await read(remote)));
        } catch (e) {
          errors.push(e instanceof Error ? e.message : String(e));
        }
      }
      process.stdout.write(inspectJson(repos));
      if (errors.length > 0) throw new Error(errors.join('\n'));
    }));
}

function signCommand(): CommandUnknownOpts {
  return new Command('sign')
    .description('Sign an image (its digest and size come from the registry, no Docker engine needed)')
    .argument('<IMAGE:TAG>')
    .option('--local', 'Sign the manifest the registry serves for the tag now, even if the tag is already signed')
    .option('--signer <name>', 'Signer to create when the repository has no trust data yet (default: your registry login name)')
    .option('--json', 'Print the result as JSON')
    .option('--sigstore', 'Also sign the digest in Sigstore\'s formats (cosign .sig tag and a bundle referrer) with the same key; always on with VOUCH_TRUST_SIGSTORE=1')
    .action(action(async (image: string, opts: { local?: boolean; signer?: string; json?: boolean; sigstore?: boolean }, cmd: CommandUnknownOpts) => {
      const ctx = dockerContext(cmd, { quietStdout: opts.json === true });
      const ref = parseImageReference(image);
      const result = await signImage(ctx, ref, {
        ...(opts.local === true ? { fromRegistry: true } : {}),
        ...(opts.signer !== undefined ? { signerName: opts.signer } : {}),
      });
      let sigstore;
      if (opts.sigstore === true || sigstoreAlways(process.env)) {
        const signer = await sigstoreSigner(ctx, result.roles, opts.signer);
        sigstore = await sigstoreSignDigest(ctx, ref, result.digest, signer);
        ctx.io.out(`Signed ${ref.name}@${result.digest} in Sigstore's formats: ${sigstore.signatureTag} and a bundle (${sigstore.bundleDiscovery})\n`);
      }
      if (opts.json === true) process.stdout.write(`${JSON.stringify(sigstore !== undefined ? { ...result, sigstore } : result, null, 2)}\n`);
    }))
    .addHelpText('after', '\nExample:\n  vouch trust sign --sigstore registry.example.com/team/app:1.0\n');
}

function revokeCommand(): CommandUnknownOpts {
  return new Command('revoke')
    .description('Remove trust for an image')
    .argument('<IMAGE[:TAG]>')
    .option('-y, --yes', 'Do not prompt for confirmation')
    .option('--sigstore', 'Also remove your Sigstore signatures of the revoked digests (always on with VOUCH_TRUST_SIGSTORE=1)')
    .option('--signer <name>', 'With --sigstore: the docker signer whose signatures go (default: the first signer whose key you hold)')
    .action(action(async (image: string, opts: { yes?: boolean; sigstore?: boolean; signer?: string }, cmd: CommandUnknownOpts) => {
      const ctx = dockerContext(cmd);
      const ref = parseImageReference(image);
      const sigstore = opts.sigstore === true || sigstoreAlways(process.env);
      const digests = sigstore ? await releasedDigests(ctx, ref, ref.digest === undefined ? ref.tag : undefined) : [];
      await revokeTrust(ctx, ref, { yes: opts.yes === true });
      if (sigstore && digests.length > 0) {
        const n = await revokeSigstore(ctx, ref, digests, await revokeSigner(ctx, ref, opts.signer));
        ctx.io.out(`Removed ${n} Sigstore signature(s) of ${ref.name}\n`);
      }
    }));
}

function signerCommand(): CommandUnknownOpts {
  const signer = new Command('signer').description('Manage entities who can sign Docker images');
  signer.addCommand(new Command('add')
    .description('Add a signer')
    .argument('<NAME>')
    .argument('<REPOSITORY...>')
    .option('--key <file>', "Path to the signer's public key file (repeatable)", (v: string, acc: string[] | undefined) => [...(acc ?? []), v])
    .action(action(async (name: string, repos: string[], opts: { key?: string[] }, cmd: CommandUnknownOpts) => {
      await addSigner(dockerContext(cmd), name, repos.map(parseImageReference), opts.key ?? []);
    })));
  signer.addCommand(new Command('remove')
    .description('Remove a signer')
    .argument('<NAME>')
    .argument('<REPOSITORY...>')
    .option('-f, --force', 'Do not prompt for confirmation before removing the most recent signer')
    .action(action(async (name: string, repos: string[], opts: { force?: boolean }, cmd: CommandUnknownOpts) => {
      await removeSigner(dockerContext(cmd), name, repos.map(parseImageReference), { force: opts.force === true });
    })));
  return signer;
}

function resolveCommand(): CommandUnknownOpts {
  return new Command('resolve')
    .description('Print the signed NAME@sha256:DIGEST a trusted pull of IMAGE:TAG would use')
    .argument('<IMAGE[:TAG]>')
    .option('--full', 'Print the fully qualified name (docker.io/library/…)')
    .option('--json', 'Print name, tag, digest, size and signing role as JSON')
    .option('--format <format>', 'Output format: text or json', 'text')
    .action(action(async (image: string, opts: { full?: boolean; json?: boolean; format: string }, cmd: CommandUnknownOpts) => {
      if (opts.format !== 'text' && opts.format !== 'json') throw new Error(`unknown --format ${JSON.stringify(opts.format)}: use text or json`);
      const resolved = await resolveTrustedReference(dockerContext(cmd), parseImageReference(image));
      if (opts.json === true || opts.format === 'json') process.stdout.write(`${JSON.stringify(resolved, null, 2)}\n`);
      else process.stdout.write(`${opts.full === true ? resolved.canonicalReference : resolved.reference}\n`);
    }));
}

function migrateCommand(): CommandUnknownOpts {
  return new Command('migrate')
    .description('Move the trust data of a repository to another trust server, e.g. off notary.docker.io (needs the root key; the CA of the new server goes in <docker config>/tls/<host:port>/ca.crt)')
    .argument('<REPOSITORY>')
    .requiredOption('--to <url>', 'The trust server to move the trust data to')
    .action(action(async (repository: string, opts: { to: string }, cmd: CommandUnknownOpts) => {
      const ref = parseImageReference(repository);
      const m = await migrateImageTrust(dockerContext(cmd), ref, opts.to);
      process.stdout.write(`Successfully migrated trust data for ${ref.name} from ${m.from} to ${m.to}\n`);
      process.stdout.write(`Point docker at it: export DOCKER_CONTENT_TRUST_SERVER=${m.to}\n`);
    }));
}

/** `VOUCH_TRUST_SIGSTORE=1|true`: every `trust sign` also signs in Sigstore's formats. */
function sigstoreAlways(env: NodeJS.ProcessEnv): boolean {
  return /^(1|true|yes)$/i.test(env['VOUCH_TRUST_SIGSTORE'] ?? '');
}

function verifySigstoreCommand(): CommandUnknownOpts {
  return new Command('verify-sigstore')
    .description('Check the Sigstore signatures (cosign .sig tag, bundle referrers) of an image against a public key; no transparency log is needed')
    .argument('<IMAGE[:TAG]>')
    .requiredOption('--key <file>', 'PEM public key (cosign.pub, or a signer key from vouch trust key generate)')
    .option('--json', 'Print the result as JSON')
    .addHelpText('after', '\nExample:\n  vouch trust verify-sigstore registry.example.com/team/app:1.0 --key alice.pub\n')
    .action(action(async (image: string, opts: { key: string; json?: boolean }, cmd: CommandUnknownOpts) => {
      const key = parseSigstorePublicKey(await readFile(opts.key, 'utf8'));
      const ref = parseImageReference(image);
      const v = await verifyImageSigstore(dockerContext(cmd), ref, key);
      if (opts.json === true) process.stdout.write(`${JSON.stringify({ name: ref.name, ...v }, null, 2)}\n`);
      else if (v.verified) process.stdout.write(`Verified ${ref.name}@${v.digest}: ${v.cosignSignatures} cosign signature(s), ${v.bundles} Sigstore bundle(s) by the key\n`);
      if (!v.verified) throw new ClientError('NO_SUCH_TARGET', `no Sigstore signature of ${ref.name}@${v.digest} verifies with ${opts.key}; sign it with vouch trust sign --sigstore or vouch trust export-sigstore`);
    }));
}

function exportSigstoreCommand(): CommandUnknownOpts {
  return new Command('export-sigstore')
    .description('Sign every tag signed in TUF again in Sigstore\'s formats, with the same key (verified through TUF first; idempotent)')
    .argument('<REPOSITORY>')
    .option('--signer <name>', 'The docker signer whose key signs (default: the first signer whose key you hold)')
    .option('--json', 'Print the exported tags as JSON')
    .addHelpText('after', '\nExample:\n  vouch trust export-sigstore registry.example.com/team/app --signer alice\n')
    .action(action(async (repository: string, opts: { signer?: string; json?: boolean }, cmd: CommandUnknownOpts) => {
      const ref = parseImageReference(repository);
      const r = await exportSigstore(dockerContext(cmd), ref, opts.signer !== undefined ? { signerName: opts.signer } : {});
      if (opts.json === true) {
        process.stdout.write(`${JSON.stringify({ name: ref.name, ...r }, null, 2)}\n`);
        return;
      }
      const added = r.tags.filter((t) => t.added).length;
      process.stdout.write(`Exported ${r.tags.length} signed tag(s) of ${ref.name} to Sigstore's formats with key ${r.keyId} (${added} new, ${r.tags.length - added} already signed)\n`);
    }));
}

/** Adds `trust` with its subcommands to `program`; returns the `trust` command. */
export function registerTrustCommands(program: CommandUnknownOpts): CommandUnknownOpts {
  const trust = new Command('trust')
    .description('Manage trust on Docker images (docker trust; push and pull through the Docker engine)')
    .option('-D, --debug', 'Enable debug output');
  trust.addCommand(inspectCommand());
  trust.addCommand(signCommand());
  trust.addCommand(revokeCommand());
  trust.addCommand(migrateCommand());
  trust.addCommand(signerCommand());
  trust.addCommand(resolveCommand());
  trust.addCommand(verifySigstoreCommand());
  trust.addCommand(exportSigstoreCommand());
  registerTrustKeyCommands(trust);
  registerTrustEngineCommands(trust, dockerContext, action);
  program.addCommand(trust);
  return trust;
}

/**
 * `vouch trust push|pull|plugin`: the parts of Docker Content Trust that need an engine — what
 * `DOCKER_CONTENT_TRUST=1 docker push|pull` did — and the docker CLI plugin that brings
 * `docker trust` back on docker CLIs without it (docs/docker-engine.md).
 *
 * Contract: docker 28's output for push and pull (progress and trust lines on stdout, `Tagging …`
 * on stderr), its error texts (stderr, exit 1). The engine is DOCKER_HOST (unix socket) or
 * /var/run/docker.sock. `pull` takes trust pinning for a first contact with a repository:
 * `--pin CERT_ID` (repeatable: the root certificate IDs to accept), `--pin-ca FILE` (a CA bundle
 * the root certificate must chain to), `--disable-tofu`; without them the first root is trusted
 * on first use, as docker did.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import type { TrustPinning } from '../tuf/root-trust.ts';
import { installPlugin, pluginMetadata, pluginScript, uninstallPlugin } from '../client/docker/plugin.ts';
import { pullTrusted } from '../client/docker/pull.ts';
import { pushTrusted } from '../client/docker/push.ts';
import { parseImageReference } from '../client/docker/reference.ts';
import { dockerConfigDir } from '../client/docker/server.ts';
import type { DockerContext } from '../client/docker/session.ts';
import { ClientError } from '../client/errors.ts';
import pkg from '../../package.json' with { type: 'json' };

type ContextOf = (cmd: CommandUnknownOpts, opts?: { quietStdout?: boolean }) => DockerContext;
type ActionOf = <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>;

const MAX_CA_BYTES = 1 << 20;

interface PinOptions {
  pin?: string[];
  pinCa?: string;
  disableTofu?: boolean;
}

/** `--pin`/`--pin-ca`/`--disable-tofu` as notary's trust_pinning for one GUN. */
export function pinningOf(gun: string, o: PinOptions): TrustPinning | undefined {
  if (o.pin === undefined && o.pinCa === undefined && o.disableTofu !== true) return undefined;
  let ca: string | undefined;
  if (o.pinCa !== undefined) {
    try {
      const text = readFileSync(o.pinCa, 'utf8');
      if (text.length > MAX_CA_BYTES) throw new ClientError('INVALID_INPUT', `${o.pinCa} is larger than 1 MiB`);
      ca = text;
    } catch (e) {
      if (e instanceof ClientError) throw e;
      throw new ClientError('INVALID_INPUT', `cannot read --pin-ca ${o.pinCa}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
  for (const id of o.pin ?? []) {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new ClientError('INVALID_INPUT', `--pin ${JSON.stringify(id)} is not a certificate ID (64 hex digits, as in root.json)`);
  }
  return {
    ...(o.pin !== undefined ? { certs: { [gun]: o.pin } } : {}),
    ...(ca !== undefined ? { ca: { [gun]: ca } } : {}),
    ...(o.disableTofu === true ? { disableTofu: true } : {}),
  };
}

function pushCommand(contextOf: ContextOf, action: ActionOf): CommandUnknownOpts {
  return new Command('push')
    .description('Push an image through the Docker engine and sign its tag (DOCKER_CONTENT_TRUST=1 docker push)')
    .argument('<IMAGE:TAG>')
    .option('--json', 'Print the signed digest, size and roles as JSON (docker\'s lines then go to stderr)')
    .addHelpText('after', '\nExample:\n  DOCKER_HOST=unix:///var/run/docker.sock vouch trust push registry.example.com/team/app:v1\n')
    .action(action(async (image: string, opts: { json?: boolean }, cmd: CommandUnknownOpts) => {
      const result = await pushTrusted(contextOf(cmd, { quietStdout: opts.json === true }), parseImageReference(image));
      if (opts.json === true) process.stdout.write(`${JSON.stringify(result ?? null, null, 2)}\n`);
    }));
}

const collect = (v: string, acc: string[] | undefined): string[] => [...(acc ?? []), v];

function pullCommand(contextOf: ContextOf, action: ActionOf): CommandUnknownOpts {
  return new Command('pull')
    .description('Pull the signed digest of a tag through the Docker engine and tag it (DOCKER_CONTENT_TRUST=1 docker pull)')
    .argument('<IMAGE[:TAG]>')
    .option('-a, --all-tags', 'Download all signed tags of the repository')
    .option('--pin <certID>', 'Root certificate ID to accept on first contact (repeatable; as trust_pinning.certs)', collect)
    .option('--pin-ca <file>', 'CA bundle the root certificate must chain to on first contact (trust_pinning.ca)')
    .option('--disable-tofu', 'Refuse a first root that no pin matches (trust_pinning.disable_tofu)')
    .addHelpText('after', '\nExample:\n  vouch trust pull registry.example.com/team/app:v1 && docker run --rm registry.example.com/team/app:v1\n')
    .action(action(async (image: string, opts: PinOptions & { allTags?: boolean }, cmd: CommandUnknownOpts) => {
      const ref = parseImageReference(image);
      const pinning = pinningOf(ref.name, opts);
      const ctx = contextOf(cmd);
      await pullTrusted(pinning !== undefined ? { ...ctx, pinning } : ctx, ref, { allTags: opts.allTags === true });
    }));
}

/** The argv that runs this vouch again: node and the entry file it was started with. */
function selfCommand(): string[] {
  const entry = process.argv[1];
  if (entry === undefined) throw new ClientError('INVALID_INPUT', 'cannot tell how vouch was started; run it as `vouch trust plugin install`');
  return [process.execPath, realpathSync(entry)];
}

function pluginCommand(action: ActionOf): CommandUnknownOpts {
  const plugin = new Command('plugin').description('Install Vouch as a docker CLI plugin (docker trust on docker CLIs without it)');
  const dirOf = (dir: string | undefined) => dir ?? join(dockerConfigDir(process.env, homedir()), 'cli-plugins');
  plugin.addCommand(new Command('install')
    .description('Write docker-<NAME> into the docker CLI plugin directory')
    .option('--dir <dir>', 'Plugin directory (default: <docker config>/cli-plugins)')
    .option('--name <name>', 'Plugin name: `docker <name> …` (docker 28 refuses `trust`, its builtin)', 'trust')
    .option('-f, --force', 'Replace a docker-<NAME> that vouch did not write')
    .addHelpText('after', '\nExample:\n  vouch trust plugin install --name vouch && docker vouch inspect --pretty alpine\n')
    .action(action((opts: { dir?: string; name: string; force?: boolean }) => {
      const path = installPlugin(dirOf(opts.dir), opts.name, pluginScript(opts.name, selfCommand(), pluginMetadata(pkg.version)), { force: opts.force === true });
      process.stdout.write(`Installed ${path}: docker ${opts.name} … runs vouch trust …\n`);
      return Promise.resolve();
    })));
  plugin.addCommand(new Command('uninstall')
    .description('Remove docker-<NAME> from the docker CLI plugin directory')
    .option('--dir <dir>', 'Plugin directory (default: <docker config>/cli-plugins)')
    .option('--name <name>', 'Plugin name', 'trust')
    .addHelpText('after', '\nExample:\n  vouch trust plugin uninstall --name vouch\n')
    .action(action((opts: { dir?: string; name: string }) => {
      const path = uninstallPlugin(dirOf(opts.dir), opts.name);
      process.stdout.write(path === undefined ? `No vouch plugin docker-${opts.name} in ${dirOf(opts.dir)}\n` : `Removed ${path}\n`);
      return Promise.resolve();
    })));
  return plugin;
}

/** Adds push, pull and plugin to `trust`. */
export function registerTrustEngineCommands(trust: CommandUnknownOpts, contextOf: ContextOf, action: ActionOf): void {
  trust.addCommand(pushCommand(contextOf, action));
  trust.addCommand(pullCommand(contextOf, action));
  trust.addCommand(pluginCommand(action));
}

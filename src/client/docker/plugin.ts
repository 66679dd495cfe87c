/**
 * Vouch as a docker CLI plugin (docs/docker-engine.md): `vouch trust plugin install` writes an
 * executable `docker-<name>` into docker's plugin directory.
 *
 * Contract (docker's CLI plugin protocol, schema 0.1.0):
 * - `docker-<name> docker-cli-plugin-metadata` prints one JSON object with SchemaVersion `0.1.0`,
 *   Vendor, Version, ShortDescription and URL and exits 0; docker calls it to list and validate
 *   plugins (`docker info`, `docker --help`).
 * - Otherwise docker runs it with its own arguments after the program name: docker's global
 *   options first, then the plugin name, then the plugin's arguments. The script applies the
 *   global options vouch understands (`--config DIR` → DOCKER_CONFIG, `-H/--host` → DOCKER_HOST,
 *   `-D/--debug`), drops the others with their values, drops the plugin name and runs
 *   `vouch trust <arguments>`.
 * - A name must be docker's plugin name form (`^[a-z][a-z0-9]*$`). Install writes atomically
 *   (temp file, 0755, rename) into a 0700-created directory; it refuses to replace a file it did
 *   not write (no Vouch marker) unless forced. Uninstall removes only a file with the marker.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClientError } from '../errors.ts';

export const PLUGIN_MARKER = '# vouch-docker-cli-plugin';
export const PLUGIN_NAME_PATTERN = /^[a-z][a-z0-9]*$/;

export interface PluginMetadata {
  readonly SchemaVersion: '0.1.0';
  readonly Vendor: string;
  readonly Version: string;
  readonly ShortDescription: string;
  readonly URL: string;
}

export function pluginMetadata(version: string): PluginMetadata {
  return {
    SchemaVersion: '0.1.0',
    Vendor: 'Vouch',
    Version: version,
    ShortDescription: 'Docker Content Trust: sign, push and pull signed images (Vouch)',
    URL: 'https://github.com/vouch-project/vouch',
  };
}

/** Single-quoted for /bin/sh. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The plugin script; `command` is the argv that runs vouch (e.g. node and its entry file). */
export function pluginScript(name: string, command: readonly string[], metadata: PluginMetadata): string {
  return `#!/bin/sh
${PLUGIN_MARKER}
# docker CLI plugin \`docker ${name}\`: runs \`vouch trust\`. Written by \`vouch trust plugin install\`;
# remove it with \`vouch trust plugin uninstall --name ${name}\`.
if [ "$1" = docker-cli-plugin-metadata ]; then
  printf '%s\\n' ${shq(JSON.stringify(metadata))}
  exit 0
fi
debug=
while [ $# -gt 0 ]; do
  case "$1" in
    ${name}) shift; break ;;
    --config) export DOCKER_CONFIG="$2"; shift 2 ;;
    --config=*) export DOCKER_CONFIG="\${1#--config=}"; shift ;;
    -H|--host) export DOCKER_HOST="$2"; shift 2 ;;
    --host=*) export DOCKER_HOST="\${1#--host=}"; shift ;;
    -D|--debug) debug=-D; shift ;;
    -c|--context|-l|--log-level|--tlscacert|--tlscert|--tlskey) shift 2 ;;
    *) shift ;;
  esac
done
exec ${command.map(shq).join(' ')} trust $debug "$@"
`;
}

export function checkPluginName(name: string): void {
  if (!PLUGIN_NAME_PATTERN.test(name)) {
    throw new ClientError('INVALID_INPUT', `invalid plugin name ${JSON.stringify(name)}: docker plugin names are lowercase letters and digits, starting with a letter`);
  }
}

function isOurs(path: string): boolean {
  try {
    return readFileSync(path, 'utf8').slice(0, 4096).includes(PLUGIN_MARKER);
  } catch {
    return false;
  }
}

export function installPlugin(dir: string, name: string, script: string, opts: { force?: boolean } = {}): string {
  checkPluginName(name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `docker-${name}`);
  if (existsSync(path) && !isOurs(path) && opts.force !== true) {
    throw new ClientError('INVALID_INPUT', `${path} exists and was not written by vouch: remove it or pass --force`);
  }
  const tmp = `${path}.vouch-${process.pid}.tmp`;
  try {
    writeFileSync(tmp, script, { mode: 0o755 });
    chmodSync(tmp, 0o755);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new ClientError('LOCAL_IO', `cannot write ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return path;
}

/** Removes the plugin; returns its path, or undefined when there was none of ours. */
export function uninstallPlugin(dir: string, name: string): string | undefined {
  checkPluginName(name);
  const path = join(dir, `docker-${name}`);
  if (!existsSync(path)) return undefined;
  if (!isOurs(path)) throw new ClientError('INVALID_INPUT', `${path} was not written by vouch; not removing it`);
  rmSync(path);
  return path;
}

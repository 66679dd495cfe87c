/**
 * Which PKCS#11 module to load (docs/formats.md §11, docs/compatibility.md F1): an explicitly configured
 * module (flag, environment variable or client config, resolved by the CLI), or else the first
 * of notary's Yubico `libykcs11` paths that exists.
 *
 * Contract: an explicitly configured module that does not exist is an error (`MODULE_NOT_FOUND`,
 * naming where the setting came from); finding no Yubico library is not an error — there is
 * simply no token store, as in notary. Windows has no default paths (notary had none).
 */
import { Pkcs11Error } from './errors.ts';

export const YUBICO_LIBRARY_PATHS: Readonly<Record<string, readonly string[]>> = {
  linux: [
    '/usr/lib/libykcs11.so',
    '/usr/lib/libykcs11.so.1',
    '/usr/lib64/libykcs11.so',
    '/usr/lib64/libykcs11.so.1',
    '/usr/lib/x86_64-linux-gnu/libykcs11.so',
    '/usr/local/lib/libykcs11.so',
  ],
  darwin: [
    '/usr/local/lib/libykcs11.dylib',
    '/usr/local/docker/lib/libykcs11.dylib',
    '/usr/local/docker-experimental/lib/libykcs11.dylib',
    '/opt/homebrew/lib/libykcs11.dylib',
  ],
};

/** Where a module setting came from; named in error messages so users know what to fix. */
export type ModuleSource = 'flag' | 'env' | 'config' | 'default';

export interface ModuleChoice {
  readonly path: string;
  readonly source: ModuleSource;
}

export const MODULE_SOURCE_NAMES: Readonly<Record<ModuleSource, string>> = {
  flag: '--pkcs11-module',
  env: 'VOUCH_PKCS11_MODULE',
  config: 'the pkcs11.module setting of the client config',
  default: "notary's Yubikey library search path",
};

/**
 * The module to use: `configured` if given (it must exist), else the first Yubico library found
 * for `platform`, else undefined.
 */
export function findModule(configured: ModuleChoice | undefined, platform: string,
  exists: (path: string) => boolean): ModuleChoice | undefined {
  if (configured !== undefined) {
    if (!exists(configured.path)) {
      throw new Pkcs11Error('MODULE_NOT_FOUND',
        `PKCS#11 module ${configured.path} (from ${MODULE_SOURCE_NAMES[configured.source]}) does not exist`);
    }
    return configured;
  }
  const candidates = YUBICO_LIBRARY_PATHS[platform] ?? [];
  const path = candidates.find(exists);
  return path === undefined ? undefined : { path, source: 'default' };
}

/** True when `path` names Yubico's PKCS#11 module (its tokens get notary's Yubikey treatment). */
export function isYubicoModule(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.startsWith('libykcs11.');
}

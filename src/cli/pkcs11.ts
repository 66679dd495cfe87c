/**
 * PKCS#11 settings for the CLI: which module, which token, which PIN, and the key stores built
 * from them (docs/compatibility.md F, docs/formats.md §11).
 *
 * Sources, highest first:
 * - module: `--pkcs11-module PATH`, `VOUCH_PKCS11_MODULE`, `pkcs11.module` in the client config
 *   (relative to the config file), else notary's Yubico `libykcs11` paths;
 * - token: `--pkcs11-token LABEL`, `VOUCH_PKCS11_TOKEN`, `pkcs11.token`; a value `serial:<S>`
 *   (or `pkcs11.serial`) selects by serial number instead; none = the first initialised token;
 * - PIN: `VOUCH_PKCS11_PIN`, else a no-echo prompt on a terminal (never the config file);
 *   `VOUCH_PKCS11_SO_PIN` for a Yubikey's management key when it is not the factory default;
 * - `pkcs11.roles`: roles whose new keys go on the token (default `["root"]`, as notary);
 * - `pkcs11.touch_timeout_seconds`: how long a signature may wait for a touch (default 30).
 *
 * Contract: a setting of the wrong type or shape is `INVALID_CONFIG` naming it; an explicitly
 * configured module that does not exist is `MODULE_NOT_FOUND`; no module at all means no token
 * store (undefined), as in notary. The config `pkcs11` member is matched case-insensitively, as
 * viper matches the rest of the file.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import type { KeyFileStore } from '../keystore/file-store.ts';
import { TokenFirstKeys } from '../keystore/pkcs11/chain.ts';
import { Pkcs11Error } from '../keystore/pkcs11/errors.ts';
import type { PinSource } from '../keystore/pkcs11/login.ts';
import { findModule } from '../keystore/pkcs11/module-path.ts';
import type { ModuleChoice } from '../keystore/pkcs11/module-path.ts';
import { isRoleLike } from '../keystore/pkcs11/objects.ts';
import type { Pkcs11Port } from '../keystore/pkcs11/port.ts';
import type { TokenSelector } from '../keystore/pkcs11/session.ts';
import { Pkcs11KeyStore } from '../keystore/pkcs11/store.ts';
import type { LineReader } from './passphrase.ts';

export const PKCS11_MODULE_VARIABLE = 'VOUCH_PKCS11_MODULE';
export const PKCS11_TOKEN_VARIABLE = 'VOUCH_PKCS11_TOKEN';
export const PKCS11_PIN_VARIABLE = 'VOUCH_PKCS11_PIN';
export const PKCS11_SO_PIN_VARIABLE = 'VOUCH_PKCS11_SO_PIN';
const MAX_CONFIG_BYTES = 1024 * 1024;
const MAX_TOUCH_TIMEOUT_SECONDS = 600;

export const PKCS11_HELP = `
Hardware keys (PKCS#11): --pkcs11-module PATH or ${PKCS11_MODULE_VARIABLE} (default: Yubico's
libykcs11 where notary looks for it), --pkcs11-token LABEL (or serial:SERIAL) or
${PKCS11_TOKEN_VARIABLE}, PIN from ${PKCS11_PIN_VARIABLE} or a prompt; the same under "pkcs11" in
the client config file: {"pkcs11": {"module": …, "token": …, "roles": ["root"], "touch_timeout_seconds": 30}}.`;

/** The `pkcs11` member of the client config file, checked. */
export interface Pkcs11ConfigSection {
  readonly module?: string;
  readonly token?: string;
  readonly serial?: string;
  readonly roles?: readonly string[];
  readonly touchTimeoutSeconds?: number;
}

export interface Pkcs11Flags {
  readonly pkcs11Module?: string | undefined;
  readonly pkcs11Token?: string | undefined;
}

export interface Pkcs11Settings {
  /** The explicitly configured module, if any (discovery happens in `openTokenStore`). */
  readonly module: ModuleChoice | undefined;
  readonly token: TokenSelector;
  readonly userPin: string | undefined;
  readonly soPin: string | undefined;
  readonly roles: readonly string[];
  readonly touchTimeoutMs: number | undefined;
}

function invalid(message: string): Pkcs11Error {
  return new Pkcs11Error('INVALID_CONFIG', message);
}

type JsonRecord = Record<string, unknown>;

function member(obj: JsonRecord, name: string): unknown {
  const key = Object.keys(obj).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : obj[key];
}

function optionalString(obj: JsonRecord, name: string, where: string): string | undefined {
  const v = member(obj, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '' || v.includes('\0')) throw invalid(`invalid config file ${where}: pkcs11.${name} must be a non-empty string`);
  return v;
}

/** Checks the `pkcs11` member (`value`) of the config file `where`; paths resolve against the file's directory. */
export function parsePkcs11Section(value: unknown, where: string): Pkcs11ConfigSection {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(`invalid config file ${where}: pkcs11 must be an object`);
  const obj = value as JsonRecord;
  const module = optionalString(obj, 'module', where);
  const token = optionalString(obj, 'token', where);
  const serial = optionalString(obj, 'serial', where);
  const roles = member(obj, 'roles');
  if (roles !== undefined && (!Array.isArray(roles) || roles.length === 0 || !roles.every((r) => typeof r === 'string' && isRoleLike(r)))) {
    throw invalid(`invalid config file ${where}: pkcs11.roles must be a non-empty list of role names`);
  }
  const timeout = member(obj, 'touch_timeout_seconds');
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > MAX_TOUCH_TIMEOUT_SECONDS)) {
    throw invalid(`invalid config file ${where}: pkcs11.touch_timeout_seconds must be a whole number from 1 to ${MAX_TOUCH_TIMEOUT_SECONDS}`);
  }
  return {
    ...(module !== undefined ? { module: resolve(dirname(where), module) } : {}),
    ...(token !== undefined ? { token } : {}),
    ...(serial !== undefined ? { serial } : {}),
    ...(roles !== undefined ? { roles: roles as string[] } : {}),
    ...(timeout !== undefined ? { touchTimeoutSeconds: timeout } : {}),
  };
}

/** Reads the `pkcs11` member of the client config file (none: `{}`). */
export function loadPkcs11Section(configFile: string | undefined): Pkcs11ConfigSection {
  if (configFile === undefined) return {};
  let raw: unknown;
  try {
    if (statSync(configFile).size > MAX_CONFIG_BYTES) throw invalid(`error opening config file: ${configFile} is larger than 1 MiB`);
    raw = JSON.parse(readFileSync(configFile, 'utf8'));
  } catch (e) {
    if (e instanceof Pkcs11Error) throw e;
    throw new Pkcs11Error('INVALID_CONFIG', `error opening config file: ${configFile}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return {};
  return parsePkcs11Section(member(raw as JsonRecord, 'pkcs11'), configFile);
}

/** `--pkcs11-token` / `VOUCH_PKCS11_TOKEN` / `pkcs11.token` value: a label, or `serial:<serial>`. */
export function parseTokenSelector(value: string | undefined, serial?: string): TokenSelector {
  if (value !== undefined && value.startsWith('serial:')) {
    const s = value.slice('serial:'.length);
    if (s === '') throw invalid('a token given as serial:… needs the serial number after the colon');
    return { serial: s };
  }
  return { ...(value !== undefined ? { label: value } : {}), ...(serial !== undefined ? { serial } : {}) };
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/** Merges flags, environment and config (highest first), relative flag paths against `cwd`. */
export function resolvePkcs11Settings(input: {
  readonly flags: Pkcs11Flags;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly config: Pkcs11ConfigSection;
  readonly cwd?: string;
}): Pkcs11Settings {
  const { flags, env, config } = input;
  const cwd = input.cwd ?? process.cwd();
  const flagModule = nonEmpty(flags.pkcs11Module);
  const envModule = nonEmpty(env[PKCS11_MODULE_VARIABLE]);
  const module: ModuleChoice | undefined = flagModule !== undefined ? { path: resolve(cwd, flagModule), source: 'flag' }
    : envModule !== undefined ? { path: resolve(cwd, envModule), source: 'env' }
      : config.module !== undefined ? { path: config.module, source: 'config' } : undefined;
  const tokenValue = nonEmpty(flags.pkcs11Token) ?? nonEmpty(env[PKCS11_TOKEN_VARIABLE]);
  const token = tokenValue !== undefined ? parseTokenSelector(tokenValue) : parseTokenSelector(config.token, config.serial);
  return {
    module, token,
    userPin: nonEmpty(env[PKCS11_PIN_VARIABLE]),
    soPin: nonEmpty(env[PKCS11_SO_PIN_VARIABLE]),
    roles: config.roles ?? ['root'],
    touchTimeoutMs: config.touchTimeoutSeconds !== undefined ? config.touchTimeoutSeconds * 1000 : undefined,
  };
}

/** Adds the global `--pkcs11-module` and `--pkcs11-token` options to `cmd`. */
export function addPkcs11Options<C extends CommandUnknownOpts>(cmd: C): C {
  cmd.option('--pkcs11-module <path>', `PKCS#11 module for hardware keys (or ${PKCS11_MODULE_VARIABLE})`);
  cmd.option('--pkcs11-token <label>', `token label, or serial:<serial> (or ${PKCS11_TOKEN_VARIABLE})`);
  return cmd;
}

/** The PKCS#11 flags given on `cmd` or any of its parents. */
export function pkcs11FlagsOf(cmd: CommandUnknownOpts): Pkcs11Flags {
  const opts = cmd.optsWithGlobals();
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return { pkcs11Module: str(opts['pkcs11Module']), pkcs11Token: str(opts['pkcs11Token']) };
}

/**
 * A PIN prompt over the CLI's line reader (no echo). Retries say so first, as notary's prompt
 * does for passphrases; end of input means "no PIN".
 */
export function terminalPinSource(reader: LineReader, output: NodeJS.WritableStream): PinSource {
  return async (request) => {
    if (request.attempt > 0) output.write('PIN incorrect. Please retry.\n');
    const line = await reader.question(request.prompt, { echo: false });
    return line === null ? undefined : line.trim();
  };
}

export interface TokenStoreDeps {
  /** The prompt; omit when there is no terminal (then VOUCH_PKCS11_PIN is required). */
  readonly pinSource?: PinSource;
  /** Where the touch prompt goes (stderr). */
  readonly notify?: (message: string) => void;
  readonly platform?: string;
  readonly exists?: (path: string) => boolean;
  readonly openPort?: (path: string) => Pkcs11Port;
}

/** The token store for `settings`, or undefined when no module is configured or found. */
export function openTokenStore(settings: Pkcs11Settings, deps: TokenStoreDeps = {}): Pkcs11KeyStore | undefined {
  const choice = findModule(settings.module, deps.platform ?? process.platform, deps.exists ?? existsSync);
  if (choice === undefined) return undefined;
  return new Pkcs11KeyStore({
    module: { path: choice.path, token: settings.token, ...(deps.openPort !== undefined ? { openPort: deps.openPort } : {}) },
    pins: {
      ...(settings.userPin !== undefined ? { userPin: settings.userPin, userPinSource: PKCS11_PIN_VARIABLE } : {}),
      ...(settings.soPin !== undefined ? { soPin: settings.soPin } : {}),
      ...(deps.pinSource !== undefined ? { source: deps.pinSource } : {}),
    },
    touch: {
      ...(settings.touchTimeoutMs !== undefined ? { timeoutMs: settings.touchTimeoutMs } : {}),
      ...(deps.notify !== undefined ? { notify: deps.notify } : {}),
    },
  });
}

/**
 * The client's key source: the token first, then the files. A module set explicitly (flag,
 * variable, config) makes the token required: if it is unusable, commands fail rather than
 * quietly putting a new root key in a file.
 */
export function tokenFirstKeys(files: KeyFileStore, settings: Pkcs11Settings, deps: TokenStoreDeps = {}): TokenFirstKeys {
  const token = openTokenStore(settings, deps);
  return new TokenFirstKeys(files, token, { tokenRoles: settings.roles, required: settings.module !== undefined });
}

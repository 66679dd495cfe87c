/**
 * Logging in to a token (docs/formats.md §11 "Logins"), with care for the token's retry
 * counter: every wrong PIN brings a real token closer to locking itself.
 *
 * Order of attempts for one login:
 * 1. a PIN this process already used successfully on this token (kept in memory only);
 * 2. an explicit PIN (`VOUCH_PKCS11_PIN`, or the SO PIN setting for SO logins) — tried once:
 *    a fixed value that was wrong once is wrong again, so it fails at once with PIN_INCORRECT
 *    instead of burning more retries;
 * 3. for Yubikeys only and only when no explicit PIN was given, notary's factory default
 *    (user PIN `123456`, SO = the default management key), as notary does;
 * 4. the PIN source (a no-echo prompt): three attempts, then ATTEMPTS_EXCEEDED.
 * A token with a PIN pad (protected authentication path) logs in without a PIN. A locked PIN is
 * reported before anything is tried.
 */
import { Pkcs11Error, ckrName, fromCkr, pinLocked } from './errors.ts';
import { CK } from './port.ts';
import type { PinUser } from './port.ts';
import type { OpenToken } from './session.ts';

/** notary's Yubikey defaults: the PIV PIN and the PIV management key (the SO "PIN"). */
export const YUBIKEY_DEFAULT_USER_PIN = '123456';
export const YUBIKEY_DEFAULT_SO_PIN = '010203040506070801020304050607080102030405060708';
export const PIN_PROMPT_ATTEMPTS = 3;

export interface PinRequest {
  readonly user: PinUser;
  /** The token's label. */
  readonly token: string;
  readonly isYubikey: boolean;
  /** 0 for the first prompt; retries after a wrong PIN count up. */
  readonly attempt: number;
  /** notary's prompt text: `Enter the User Pin for the attached Yubikey: `. */
  readonly prompt: string;
}

/** Answers a PIN, or undefined when there is nowhere to ask (no terminal). */
export type PinSource = (request: PinRequest) => Promise<string | undefined>;

export interface PinSettings {
  /** A fixed user PIN (from VOUCH_PKCS11_PIN). */
  readonly userPin?: string;
  /** A fixed SO PIN (for Yubikeys: the PIV management key). */
  readonly soPin?: string;
  /** Where the fixed PINs came from, for messages. */
  readonly userPinSource?: string;
  readonly source?: PinSource;
}

/** Successful PINs by token and user, for this process only. */
export type PinCache = Map<string, string>;

export function pinPrompt(user: PinUser, label: string, isYubikey: boolean): string {
  const who = user === 'so' ? 'SO Pin' : 'User Pin';
  return isYubikey ? `Enter the ${who} for the attached Yubikey: ` : `Enter the ${who} for token "${label}": `;
}

type Outcome = 'ok' | 'incorrect';

function tryLogin(token: OpenToken, user: PinUser, pin: string | null): Outcome {
  try {
    token.port.login(token.session, user, pin);
    return 'ok';
  } catch (e) {
    const ckr = ckrName(e);
    if (ckr === 'CKR_USER_ALREADY_LOGGED_IN') return 'ok';
    if (ckr === 'CKR_PIN_INCORRECT' || ckr === 'CKR_PIN_INVALID' || ckr === 'CKR_PIN_LEN_RANGE') return 'incorrect';
    if (ckr === 'CKR_PIN_LOCKED') throw pinLocked(token.name, e);
    throw fromCkr(e, 'log in', token.name);
  }
}

function incorrect(token: OpenToken, detail: string): Pkcs11Error {
  return new Pkcs11Error('PIN_INCORRECT', `password invalid, operation has failed. (${detail} for token ${token.name})`);
}

/** Logs `user` in on the open session of `token`, or throws a typed error. */
export async function login(token: OpenToken, user: PinUser, settings: PinSettings, cache: PinCache): Promise<void> {
  const locked = user === 'so' ? CK.CKF_SO_PIN_LOCKED : CK.CKF_USER_PIN_LOCKED;
  if ((token.info.flags & locked) !== 0) throw pinLocked(token.name);
  if ((token.info.flags & CK.CKF_PROTECTED_AUTHENTICATION_PATH) !== 0) {
    if (tryLogin(token, user, null) === 'ok') return;
    throw incorrect(token, 'the PIN entered on the reader was wrong');
  }
  const cacheKey = `${token.port.path}\0${token.info.serial}\0${token.info.label}\0${user}`;
  const cached = cache.get(cacheKey);
  if (cached !== undefined) {
    if (tryLogin(token, user, cached) === 'ok') return;
    cache.delete(cacheKey);
  }
  const succeed = (pin: string): void => {
    cache.set(cacheKey, pin);
  };
  const fixed = user === 'so' ? settings.soPin : settings.userPin;
  if (fixed !== undefined) {
    if (tryLogin(token, user, fixed) === 'ok') return succeed(fixed);
    const from = user === 'so' ? 'the configured SO PIN' : `the PIN from ${settings.userPinSource ?? 'the configuration'}`;
    throw incorrect(token, `${from} was rejected`);
  }
  if (token.isYubikey) {
    const factory = user === 'so' ? YUBIKEY_DEFAULT_SO_PIN : YUBIKEY_DEFAULT_USER_PIN;
    if (tryLogin(token, user, factory) === 'ok') return succeed(factory);
  }
  await promptForPin(token, user, settings.source, succeed);
}

async function promptForPin(token: OpenToken, user: PinUser, source: PinSource | undefined,
  succeed: (pin: string) => void): Promise<void> {
  const prompt = pinPrompt(user, token.info.label, token.isYubikey);
  for (let attempt = 0; attempt < PIN_PROMPT_ATTEMPTS; attempt++) {
    const pin = source === undefined ? undefined
      : await source({ user, token: token.info.label, isYubikey: token.isYubikey, attempt, prompt });
    if (pin === undefined) {
      if (attempt > 0) throw incorrect(token, 'no further PIN was given');
      throw new Pkcs11Error('NO_PIN_INPUT',
        `a PIN is needed for token ${token.name}: set VOUCH_PKCS11_PIN or run on a terminal to be prompted`);
    }
    if (tryLogin(token, user, pin) === 'ok') return succeed(pin);
  }
  throw new Pkcs11Error('ATTEMPTS_EXCEEDED',
    `maximum number of passphrase attempts exceeded (${PIN_PROMPT_ATTEMPTS} wrong PINs for token ${token.name})`);
}

/** Logs out, ignoring failures: the session is closed right after anyway. */
export function logout(token: OpenToken): void {
  try {
    token.port.logout(token.session);
  } catch {
    // Closing the session ends the login too.
  }
}

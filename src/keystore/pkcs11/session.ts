/**
 * One token operation at a time: load the module, pick the token, open a session, run the
 * operation, close everything — as notary does per call, so a token that was pulled out between
 * two commands is noticed at once and nothing stays logged in.
 *
 * Contract:
 * - Operations on the same module path are serialised within the process (PKCS#11 login state
 *   is shared by all sessions of an application, and C_Initialize is process-wide).
 * - Token choice: the token whose label (or serial) matches the selector; with no selector, the
 *   first initialised token (notary's "first slot with a token"). SoftHSM's spare uninitialised
 *   slot is never chosen.
 * - Every failure leaves as a `Pkcs11Error`. An operation that gives up on a native call still
 *   running (a signature waiting for a touch) registers it with `detach`: the session and the
 *   module are closed only after that call returns, while the caller already has its error.
 */
import { Pkcs11Error, fromCkr } from './errors.ts';
import { isYubicoModule } from './module-path.ts';
import { CK, loadPkcs11Module } from './port.ts';
import type { Handle, Pkcs11Port, TokenInfo } from './port.ts';

export interface TokenSelector {
  /** CKA token label (blank padding ignored). */
  readonly label?: string;
  /** Token serial number (blank padding ignored). */
  readonly serial?: string;
}

export interface ModuleTarget {
  readonly path: string;
  readonly token: TokenSelector;
  /** Opens the module; tests wrap the real port with fault injection. */
  readonly openPort?: (path: string) => Pkcs11Port;
}

export interface OpenToken {
  readonly port: Pkcs11Port;
  readonly slot: Handle;
  readonly session: Handle;
  readonly info: TokenInfo;
  /** notary's Yubikey treatment applies (Yubico module or Yubico token). */
  readonly isYubikey: boolean;
  /** How messages name the token: `Yubikey "label"` or `"label" (module)`. */
  readonly name: string;
  /** Keeps the session open until `pending` settles, even after the operation has returned. */
  detach(pending: Promise<unknown>): void;
}

const queues = new Map<string, Promise<void>>();

/** Runs `task` after every earlier task on `key`; the returned release lets the next one start. */
async function acquire(key: string): Promise<() => void> {
  const previous = queues.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => mine);
  queues.set(key, tail);
  await previous;
  return () => {
    release();
    if (queues.get(key) === tail) queues.delete(key);
  };
}

function describeToken(info: TokenInfo, isYubikey: boolean, path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return isYubikey ? `Yubikey "${info.label}"` : `"${info.label}" (${base})`;
}

export function isYubikeyToken(info: TokenInfo, path: string): boolean {
  return isYubicoModule(path) || info.manufacturer.startsWith('Yubico') || /yubikey/i.test(info.model);
}

/** Picks the slot of the selected token, or throws TOKEN_NOT_FOUND naming what is there. */
export function selectToken(port: Pkcs11Port, selector: TokenSelector): { slot: Handle; info: TokenInfo } {
  let slots: Handle[];
  try {
    slots = port.slotsWithTokens();
  } catch (e) {
    throw fromCkr(e, 'list slots', `in ${port.path}`);
  }
  const tokens: { slot: Handle; info: TokenInfo }[] = [];
  for (const slot of slots) {
    try {
      const info = port.tokenInfo(slot);
      if ((info.flags & CK.CKF_TOKEN_INITIALIZED) !== 0) tokens.push({ slot, info });
    } catch {
      // A slot whose token vanished between the two calls is simply not there.
    }
  }
  const found = tokens.find(({ info }) =>
    (selector.label === undefined || info.label === selector.label) &&
    (selector.serial === undefined || info.serial === selector.serial));
  if (found !== undefined) return found;
  const wanted = [
    selector.label !== undefined ? `labelled "${selector.label}"` : '',
    selector.serial !== undefined ? `with serial "${selector.serial}"` : '',
  ].filter((s) => s !== '').join(' ');
  const present = tokens.length === 0 ? 'no initialised token is attached'
    : `tokens present: ${tokens.map(({ info }) => `"${info.label}" (serial ${info.serial})`).join(', ')}`;
  throw new Pkcs11Error('TOKEN_NOT_FOUND',
    `no PKCS#11 token ${wanted === '' ? 'found' : wanted} in module ${port.path}: ${present}`);
}

/**
 * Runs `operation` on an open session of the selected token. `action` names the operation in
 * error messages ("sign", "store a key").
 */
export async function withToken<T>(target: ModuleTarget, readWrite: boolean, action: string,
  operation: (token: OpenToken) => Promise<T>): Promise<T> {
  const release = await acquire(target.path);
  const pending: Promise<unknown>[] = [];
  let port: Pkcs11Port | undefined;
  let session: Handle | undefined;
  try {
    port = (target.openPort ?? loadPkcs11Module)(target.path);
    const { slot, info } = selectToken(port, target.token);
    const isYubikey = isYubikeyToken(info, target.path);
    const name = describeToken(info, isYubikey, target.path);
    try {
      session = port.openSession(slot, readWrite);
    } catch (e) {
      throw fromCkr(e, `open a session (${action})`, name);
    }
    const token: OpenToken = { port, slot, session, info, isYubikey, name, detach: (p) => pending.push(p) };
    try {
      return await operation(token);
    } catch (e) {
      throw fromCkr(e, action, name);
    }
  } finally {
    const openPort = port;
    const openSession = session;
    const cleanup = (): void => {
      if (openPort !== undefined && openSession !== undefined) {
        try {
          openPort.closeSession(openSession);
        } catch {
          // The token may be gone; finalising the module below releases everything anyway.
        }
      }
      openPort?.close();
      release();
    };
    if (pending.length === 0) cleanup();
    else void Promise.allSettled(pending).then(cleanup);
  }
}

/**
 * SoftHSM2 for tests: every test gets its own `SOFTHSM2_CONF` and token directory (so tests never
 * share /var/lib/softhsm/tokens), tokens made with `softhsm2-util --init-token --free`, and
 * port wrappers that inject faults (a token pulled mid-write, a touch nobody gives) or make
 * SoftHSM look like a Yubikey.
 *
 * SoftHSM reads SOFTHSM2_CONF at C_Initialize, and the store initialises per operation, so
 * `use()` must be called before the store is used (tests in a file run one after another).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPkcs11Module } from '../../src/keystore/pkcs11/port.ts';
import type { Pkcs11Port, TokenInfo } from '../../src/keystore/pkcs11/port.ts';
import { selectToken } from '../../src/keystore/pkcs11/session.ts';
import { CK } from '../../src/keystore/pkcs11/port.ts';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const HAVE_SOFTHSM = existsSync(SOFTHSM_MODULE) && existsSync('/usr/bin/softhsm2-util');
export const SKIP_REASON = HAVE_SOFTHSM ? false : 'softhsm2 is not installed (apt-get install softhsm2)';

export interface SoftHsm {
  readonly dir: string;
  readonly conf: string;
  readonly tokenDir: string;
  /** Initialises a token (and points this process at this SoftHSM); returns its serial number. */
  initToken(label: string, pin: string, soPin?: string): string;
  /** Points this process's SoftHSM at this test's configuration. */
  use(): void;
  cleanup(): void;
}

export function createSoftHsm(): SoftHsm {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-softhsm-'));
  const tokenDir = join(dir, 'tokens');
  const conf = join(dir, 'softhsm2.conf');
  mkdirSync(tokenDir);
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  return {
    dir, conf, tokenDir,
    initToken(label, pin, soPin = '87654321') {
      const out = execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], { env, encoding: 'utf8' });
      if (!/has been initialized/.test(out)) throw new Error(`softhsm2-util: ${out}`);
      process.env['SOFTHSM2_CONF'] = conf;
      const port = loadPkcs11Module(SOFTHSM_MODULE);
      try {
        return selectToken(port, { label }).info.serial;
      } finally {
        port.close();
      }
    },
    use() {
      process.env['SOFTHSM2_CONF'] = conf;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type PortHooks = {
  [K in keyof Pkcs11Port]?: Pkcs11Port[K] extends (...args: infer A) => infer R ? (real: Pkcs11Port, ...args: A) => R : never;
};

/** Opens SoftHSM with some port methods replaced; each hook gets the real port first. */
export function hookedPort(hooks: PortHooks): (path: string) => Pkcs11Port {
  return (path) => {
    const real = loadPkcs11Module(path);
    const port: Record<string, unknown> = {};
    for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(real)) as (keyof Pkcs11Port)[]) {
      if (name === ('constructor' as keyof Pkcs11Port)) continue;
      const hook = hooks[name] as ((real: Pkcs11Port, ...args: unknown[]) => unknown) | undefined;
      const call = (...args: unknown[]): unknown => (Reflect.get(real, name) as (...a: unknown[]) => unknown).apply(real, args);
      port[name] = hook === undefined ? call : (...args: unknown[]) => hook(real, ...args);
    }
    port['path'] = real.path;
    return port as unknown as Pkcs11Port;
  };
}

/** SoftHSM dressed as a Yubikey 4: notary's Yubikey rules then apply to it. */
export function asYubikey(info: TokenInfo): TokenInfo {
  return { ...info, manufacturer: 'Yubico (www.yubico.com)', model: 'YubiKey YK4' };
}

/** A pkcs11js-style error carrying a CKR name, as the binding throws them. */
export function ckrError(name: string): Error {
  return new Error(`${name}:0`);
}

/** Every object on the token (class:CKA_ID hex, sorted), read with the user logged in. */
export function tokenObjects(label: string, pin: string): string[] {
  const port = loadPkcs11Module(SOFTHSM_MODULE);
  try {
    const { slot } = selectToken(port, { label });
    const session = port.openSession(slot, false);
    port.login(session, 'user', pin);
    return port.findObjects(session, [{ type: CK.CKA_TOKEN, value: true }]).map((h) => {
      const [cls, id] = port.getAttributes(session, h, [CK.CKA_CLASS, CK.CKA_ID]);
      return `${cls!.readUInt32LE(0)}:${id!.toString('hex')}`;
    }).sort();
  } finally {
    port.close();
  }
}

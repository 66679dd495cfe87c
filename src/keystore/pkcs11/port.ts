/**
 * The narrow PKCS#11 port the key store uses, and its one real implementation over pkcs11js.
 * Everything else in src/keystore/pkcs11 talks to `Pkcs11Port`, so tests can wrap the real port
 * to inject faults (a token pulled mid-write, a signature that never comes back) the way notary's
 * `IPKCS11Ctx` allowed.
 *
 * Contract:
 * - `loadPkcs11Module(path)` dlopens the module and calls `C_Initialize`; `close()` calls
 *   `C_Finalize` and unloads it. One loaded port per module at a time: the session layer
 *   serialises use of a module within the process.
 * - Port methods throw the binding's errors unchanged (their message holds the `CKR_…` name);
 *   callers map them with `fromCkr`. Only `loadPkcs11Module` returns typed errors itself.
 * - `CK` holds the PKCS#11 2.40 constants the store uses, as the standard fixes them.
 */
import { createRequire } from 'node:module';
import type * as Pkcs11js from 'pkcs11js';
import { Pkcs11Error, ckrName } from './errors.ts';

export type Handle = Buffer;

/** PKCS#11 constants (values from the PKCS#11 v2.40 headers). */
export const CK = {
  CKA_CLASS: 0x0, CKA_TOKEN: 0x1, CKA_PRIVATE: 0x2, CKA_LABEL: 0x3, CKA_VALUE: 0x11,
  CKA_CERTIFICATE_TYPE: 0x80, CKA_KEY_TYPE: 0x100, CKA_SUBJECT: 0x101, CKA_ID: 0x102,
  CKA_SENSITIVE: 0x103, CKA_SIGN: 0x108, CKA_VERIFY: 0x10a, CKA_EXTRACTABLE: 0x162,
  CKA_EC_PARAMS: 0x180, CKA_EC_POINT: 0x181, CKA_VENDOR_DEFINED: 0x80000000,
  CKO_DATA: 0, CKO_CERTIFICATE: 1, CKO_PUBLIC_KEY: 2, CKO_PRIVATE_KEY: 3,
  CKK_EC: 3, CKC_X_509: 0,
  CKM_EC_KEY_PAIR_GEN: 0x1040, CKM_ECDSA: 0x1041,
  CKU_SO: 0, CKU_USER: 1,
  CKF_RW_SESSION: 0x2, CKF_SERIAL_SESSION: 0x4,
  CKF_LOGIN_REQUIRED: 0x4, CKF_PROTECTED_AUTHENTICATION_PATH: 0x100, CKF_TOKEN_INITIALIZED: 0x400,
  CKF_USER_PIN_FINAL_TRY: 0x20000, CKF_USER_PIN_LOCKED: 0x40000, CKF_SO_PIN_LOCKED: 0x400000,
} as const;

export type AttributeValue = number | boolean | string | Buffer;
export interface Attribute {
  readonly type: number;
  readonly value?: AttributeValue;
}

export interface TokenInfo {
  /** Blank padding removed. */
  readonly label: string;
  readonly serial: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly flags: number;
}

export type PinUser = 'user' | 'so';

export interface Pkcs11Port {
  readonly path: string;
  /** Slots that hold a token (initialised or not). */
  slotsWithTokens(): Handle[];
  tokenInfo(slot: Handle): TokenInfo;
  openSession(slot: Handle, readWrite: boolean): Handle;
  closeSession(session: Handle): void;
  /** `pin` null: the token's protected authentication path (PIN pad). */
  login(session: Handle, user: PinUser, pin: string | null): void;
  logout(session: Handle): void;
  findObjects(session: Handle, template: readonly Attribute[]): Handle[];
  /** The values of `types`, in order; throws if one of them cannot be read. */
  getAttributes(session: Handle, object: Handle, types: readonly number[]): Buffer[];
  setAttributes(session: Handle, object: Handle, template: readonly Attribute[]): void;
  createObject(session: Handle, template: readonly Attribute[]): Handle;
  destroyObject(session: Handle, object: Handle): void;
  generateEcKeyPair(session: Handle, publicTemplate: readonly Attribute[],
    privateTemplate: readonly Attribute[]): { publicKey: Handle; privateKey: Handle };
  /** CKM_ECDSA over a digest the caller computed; resolves with the token's raw r‖s. */
  signEcdsa(session: Handle, key: Handle, digest: Uint8Array): Promise<Uint8Array>;
  /** C_Finalize and unload. Never throws. */
  close(): void;
}

/** Most objects a search returns; a token with more is not one Vouch can manage sensibly. */
const MAX_OBJECTS = 4096;
/** Large enough for an ECDSA signature on any curve a token offers. */
const SIGNATURE_BUFFER = 512;

const trimPadding = (s: string): string => s.replace(/[\s\0]+$/, '');

type Binding = InstanceType<typeof Pkcs11js.PKCS11>;

let binding: typeof Pkcs11js | undefined;

/** The native binding, loaded on first use: most commands never touch a token. */
function pkcs11js(): typeof Pkcs11js {
  binding ??= createRequire(import.meta.url)('pkcs11js') as typeof Pkcs11js;
  return binding;
}

/** Loads and initialises the module at `path`. */
export function loadPkcs11Module(path: string): Pkcs11Port {
  const p11: Binding = new (pkcs11js().PKCS11)();
  try {
    p11.load(path);
  } catch (cause) {
    throw new Pkcs11Error('MODULE_LOAD_FAILED', `failed to load library ${path}: ${describe(cause)}`, { cause });
  }
  try {
    p11.C_Initialize();
  } catch (cause) {
    safely(() => p11.close());
    throw new Pkcs11Error('MODULE_LOAD_FAILED',
      `found library ${path}, but initialize error ${describe(cause)}`, { cause });
  }
  return new BindingPort(path, p11);
}

function describe(e: unknown): string {
  return ckrName(e) ?? (e instanceof Error ? e.message : String(e));
}

function safely(f: () => void): void {
  try {
    f();
  } catch {
    // Cleanup of a module that already failed: the first error is the one to report.
  }
}

const template = (t: readonly Attribute[]): Pkcs11js.Template => t.map((a) => ({ type: a.type, value: a.value }));

class BindingPort implements Pkcs11Port {
  constructor(readonly path: string, private readonly p11: Binding) {}

  slotsWithTokens(): Handle[] {
    return this.p11.C_GetSlotList(true);
  }

  tokenInfo(slot: Handle): TokenInfo {
    const t = this.p11.C_GetTokenInfo(slot);
    return {
      label: trimPadding(t.label), serial: trimPadding(t.serialNumber), manufacturer: trimPadding(t.manufacturerID),
      model: trimPadding(t.model), flags: t.flags,
    };
  }

  openSession(slot: Handle, readWrite: boolean): Handle {
    return this.p11.C_OpenSession(slot, CK.CKF_SERIAL_SESSION | (readWrite ? CK.CKF_RW_SESSION : 0));
  }

  closeSession(session: Handle): void {
    this.p11.C_CloseSession(session);
  }

  login(session: Handle, user: PinUser, pin: string | null): void {
    const type = user === 'so' ? CK.CKU_SO : CK.CKU_USER;
    if (pin === null) this.p11.C_Login(session, type);
    else this.p11.C_Login(session, type, pin);
  }

  logout(session: Handle): void {
    this.p11.C_Logout(session);
  }

  findObjects(session: Handle, t: readonly Attribute[]): Handle[] {
    this.p11.C_FindObjectsInit(session, template(t));
    try {
      const found: Handle[] = [];
      for (;;) {
        const batch = this.p11.C_FindObjects(session, 64);
        if (batch.length === 0) return found;
        found.push(...batch);
        if (found.length > MAX_OBJECTS) throw new Pkcs11Error('PKCS11_ERROR', `more than ${MAX_OBJECTS} objects on the token`);
      }
    } finally {
      safely(() => this.p11.C_FindObjectsFinal(session));
    }
  }

  getAttributes(session: Handle, object: Handle, types: readonly number[]): Buffer[] {
    const got = this.p11.C_GetAttributeValue(session, object, types.map((type) => ({ type })));
    return types.map((type) => {
      const v = got.find((a) => a.type === type)?.value;
      if (!Buffer.isBuffer(v)) throw new Pkcs11Error('PKCS11_ERROR', `the token returned no value for attribute 0x${type.toString(16)}`);
      return v;
    });
  }

  setAttributes(session: Handle, object: Handle, t: readonly Attribute[]): void {
    this.p11.C_SetAttributeValue(session, object, template(t));
  }

  createObject(session: Handle, t: readonly Attribute[]): Handle {
    return this.p11.C_CreateObject(session, template(t));
  }

  destroyObject(session: Handle, object: Handle): void {
    this.p11.C_DestroyObject(session, object);
  }

  generateEcKeyPair(session: Handle, pub: readonly Attribute[], priv: readonly Attribute[]): { publicKey: Handle; privateKey: Handle } {
    return this.p11.C_GenerateKeyPair(session, { mechanism: CK.CKM_EC_KEY_PAIR_GEN }, template(pub), template(priv));
  }

  async signEcdsa(session: Handle, key: Handle, digest: Uint8Array): Promise<Uint8Array> {
    this.p11.C_SignInit(session, { mechanism: CK.CKM_ECDSA }, key);
    // The async form runs on the libuv pool, so a token waiting for a touch does not block the
    // event loop and the caller can time out.
    const sig = await this.p11.C_SignAsync(session, Buffer.from(digest), Buffer.alloc(SIGNATURE_BUFFER));
    return new Uint8Array(sig);
  }

  close(): void {
    safely(() => this.p11.C_Finalize());
    safely(() => this.p11.close());
  }
}

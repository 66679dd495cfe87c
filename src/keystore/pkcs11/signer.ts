/**
 * Signing with a key that stays on a token (docs/formats.md §4): PKCS#11 `CKM_ECDSA` over
 * SHA-256(message) — SoftHSM 2.6 and many tokens lack `CKM_ECDSA_SHA256` — which yields notary's
 * raw r‖s. Each signature is verified against the key's public half before it is returned, up to
 * five signing attempts, as notary does.
 *
 * Touch: when the token wants a touch (Yubikeys, as notary creates their keys, or a token the
 * settings mark so), notary's "touch" line is printed before each attempt; a signature that has
 * not come back after the timeout fails with TOUCH_TIMEOUT (the native call is left to finish in
 * the background; the session closes when it does).
 *
 * `TokenSigner` is the `Signer` the TUF core uses: it holds the public key and a way back to the
 * token, never private key bytes. For root keys, `publicKey` is the `ecdsa-x509` certificate key
 * the root role lists, and `createCertificate` makes such a certificate with the token.
 */
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ecdsaVerify, importSpki } from '../../crypto/signatures.ts';
import { encodePem } from '../../crypto/pem.ts';
import { canonicalKeyId, makePublicKey } from '../../tuf/keys.ts';
import type { PublicKey } from '../../tuf/keys.ts';
import type { SignatureValue, Signer } from '../../tuf/signer.ts';
import type { KeyId } from '../../tuf/types.ts';
import { createTokenRootCertificate } from './certificate.ts';
import { Pkcs11Error, fromCkr, keyNotFound } from './errors.ts';
import { CK } from './port.ts';
import type { Handle } from './port.ts';
import type { OpenToken } from './session.ts';

export const SIGN_ATTEMPTS = 5;
export const DEFAULT_SIGN_TIMEOUT_MS = 30_000;
export const YUBIKEY_TOUCH_PROMPT = 'Please touch the attached Yubikey to perform signing.';

export interface TouchSettings {
  /** Print the touch prompt before signing: default true for Yubikeys, false otherwise. */
  readonly required?: boolean;
  /** How long to wait for one signature (a touch); default 30 s. */
  readonly timeoutMs?: number;
  /** Where the prompt goes (the CLI writes it to stderr). */
  readonly notify?: (message: string) => void;
}

/** What a signer needs from its store: a token session with the user logged in. */
export interface SigningAccess {
  readonly touch: TouchSettings;
  /** Runs `op` on the token with the user logged in. */
  withUserSession<T>(action: string, op: (token: OpenToken) => Promise<T>): Promise<T>;
}

/** A key on a token, as listing finds it. */
export interface TokenKeyRef {
  /** The canonical (`ecdsa`) key ID: the key file name notary would use. */
  readonly keyId: KeyId;
  readonly objectId: Uint8Array;
  readonly spki: Uint8Array;
}

function findPrivateKey(token: OpenToken, ref: TokenKeyRef): Handle {
  const found = token.port.findObjects(token.session, [
    { type: CK.CKA_CLASS, value: CK.CKO_PRIVATE_KEY },
    { type: CK.CKA_ID, value: Buffer.from(ref.objectId) },
  ]);
  const key = found[0];
  if (key === undefined) throw keyNotFound(ref.keyId);
  return key;
}

function timeout(ms: number, token: OpenToken): Pkcs11Error {
  const what = token.isYubikey ? 'the attached Yubikey was not touched' : `token ${token.name} did not answer`;
  return new Pkcs11Error('TOUCH_TIMEOUT',
    `${what} within ${ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`}: signing was cancelled (touch the token when asked, or raise pkcs11.touch_timeout_seconds in the client config)`);
}

async function signOnce(token: OpenToken, key: Handle, digest: Uint8Array, ms: number): Promise<Uint8Array> {
  const op = token.port.signEcdsa(token.session, key, digest);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    const result = await Promise.race([op, expired]);
    if (result === 'timeout') {
      token.detach(op.catch(() => undefined));
      throw timeout(ms, token);
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}

function signFailure(token: OpenToken, e: unknown): Pkcs11Error {
  const mapped = fromCkr(e, 'sign', token.name);
  if (mapped.code !== 'PKCS11_ERROR') return mapped;
  const device = token.isYubikey ? 'Yubikey' : `token ${token.name}`;
  return new Pkcs11Error('SIGN_FAILED', `failed to sign using ${device}: ${mapped.message}`, { cause: e });
}

/** Raw r‖s over SHA-256(message), made and verified on the token `ref` lives on. */
export async function signOnToken(access: SigningAccess, ref: TokenKeyRef, message: Uint8Array): Promise<Uint8Array> {
  const publicKey: KeyObject = importSpki(ref.spki);
  const digest = createHash('sha256').update(message).digest();
  return access.withUserSession('sign', async (token) => {
    const key = findPrivateKey(token, ref);
    const touch = access.touch.required ?? token.isYubikey;
    const ms = access.touch.timeoutMs ?? DEFAULT_SIGN_TIMEOUT_MS;
    for (let attempt = 0; attempt < SIGN_ATTEMPTS; attempt++) {
      if (touch) {
        access.touch.notify?.(token.isYubikey ? YUBIKEY_TOUCH_PROMPT : `Please touch the token "${token.info.label}" to perform signing.`);
      }
      let sig: Uint8Array;
      try {
        sig = await signOnce(token, key, digest, ms);
      } catch (e) {
        if (e instanceof Pkcs11Error) throw e;
        throw signFailure(token, e);
      }
      if (ecdsaVerify(publicKey, message, sig)) return sig;
    }
    throw new Pkcs11Error('SIGN_FAILED', token.isYubikey ? 'Failed to generate signature on Yubikey.'
      : `Failed to generate a valid signature on token ${token.name}.`);
  });
}

export interface TokenSigner extends Signer {
  /** The canonical key ID (the `ecdsa` key), which `keyId` differs from for a root certificate key. */
  readonly canonicalKeyId: KeyId;
  /** Where the key is: `yubikey` or `pkcs11:<label>` (what `key list` shows). */
  readonly location: string;
  /** A notary root certificate (`CN=<gun>`) for this key, signed on the token, as PEM. */
  createCertificate(gun: string, now: Date, serial?: bigint): Promise<string>;
}

/**
 * The Signer for `ref`. With `listed` (the key as a root role lists it, usually `ecdsa-x509`),
 * it signs under that key's ID; `listed` must hold the same public key.
 */
export function tokenSigner(access: SigningAccess, ref: TokenKeyRef, location: string, listed?: PublicKey): TokenSigner {
  const own = makePublicKey('ecdsa', ref.spki);
  if (listed !== undefined && canonicalKeyId(listed) !== ref.keyId) {
    throw new Pkcs11Error('KEY_NOT_FOUND', `public key ${listed.id} does not belong to token key ${ref.keyId}`);
  }
  const publicKey = listed ?? own;
  const signRaw = (message: Uint8Array): Promise<Uint8Array> => signOnToken(access, ref, message);
  return {
    keyId: publicKey.id,
    publicKey,
    canonicalKeyId: ref.keyId,
    location,
    async sign(message: Uint8Array): Promise<SignatureValue> {
      return { method: 'ecdsa', sig: await signRaw(message) };
    },
    async createCertificate(gun: string, now: Date, serial?: bigint): Promise<string> {
      const der = await createTokenRootCertificate({
        commonName: gun, spki: ref.spki, now, signRaw, ...(serial !== undefined ? { serial } : {}),
      });
      return encodePem({ type: 'CERTIFICATE', bytes: der });
    },
  };
}

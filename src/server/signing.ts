/**
 * The server's view of its signing service (docs/formats.md §6.4 steps 4–5 and 8): which keys of
 * a role the signer holds, signers over them for the TUF builder, and the key endpoints'
 * get-or-create / rotate semantics.
 *
 * Contract:
 * - `SigningBackend` is the structural subset of src/signer's `SigningService` the server uses
 *   (the in-process service and the gRPC client both fit). A missing key is an error whose `code`
 *   is `KEY_NOT_FOUND`; any other failure means the signer cannot answer right now.
 * - `heldSigners` returns a `Signer` for every key listed for a role that the signer holds and
 *   whose public bytes equal the listed key; positive answers are cached (a key ID names its
 *   content, so the answer cannot change until the key is deleted).
 * - `signerFor` sends the full canonical message and returns the signer's raw signature; a reply
 *   whose method is not the one the key type implies is refused, as is any other failure.
 * - Failures other than "not found" become `ServerError('UNAVAILABLE')`.
 * - Keys held in this process only (notary's `local` trust service, `storage.backend: memory`) are
 *   the same `LocalSigningService` as `vouch signer`, over an in-memory SQLite key table
 *   (src/signer/embedded.ts `openMemorySigningService`); there is no second signing implementation.
 */
import { makePublicKey, type PublicKey } from '../tuf/keys.ts';
import type { RootSigned } from '../tuf/metadata.ts';
import type { SignatureMethod, SignatureValue, Signer } from '../tuf/signer.ts';
import { ServerError } from './errors.ts';

export interface BackendPublicKey {
  readonly keyId: string;
  readonly algorithm: string;
  readonly publicKey: Uint8Array;
}

export interface SigningBackend {
  createKey(req: { readonly algorithm: string; readonly gun: string; readonly role: string }): Promise<BackendPublicKey>;
  getKeyInfo(keyId: string): Promise<BackendPublicKey & { readonly role: string }>;
  sign(keyId: string, content: Uint8Array): Promise<{ readonly method: SignatureMethod; readonly signature: Uint8Array }>;
  close(): Promise<void>;
}

/** Key types the server may be configured to create (`trust_service.key_algorithm`). */
export type ServerKeyAlgorithm = 'ecdsa' | 'ed25519' | 'rsa';

/** The signature method each key type the signer holds implies (docs/formats.md §4). */
const METHOD_OF: Readonly<Record<string, SignatureMethod>> = { ecdsa: 'ecdsa', ed25519: 'eddsa', rsa: 'rsapss' };

function isKeyNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'KEY_NOT_FOUND';
}

function unavailable(what: string, e: unknown): ServerError {
  const reason = e instanceof Error ? e.message : String(e);
  return new ServerError('UNAVAILABLE', undefined, { cause: e, message: `signing service: ${what}: ${reason}` });
}

export class ServerKeys {
  private readonly backend: SigningBackend;
  readonly algorithm: ServerKeyAlgorithm;
  private readonly held = new Map<string, PublicKey>();

  constructor(backend: SigningBackend, algorithm: ServerKeyAlgorithm) {
    this.backend = backend;
    this.algorithm = algorithm;
  }

  /** The signer's copy of `key`, or undefined when the signer does not hold it. */
  async holds(key: PublicKey): Promise<boolean> {
    if (this.held.has(key.id)) return true;
    let info: BackendPublicKey;
    try {
      info = await this.backend.getKeyInfo(key.id);
    } catch (e) {
      if (isKeyNotFound(e)) return false;
      throw unavailable(`looking up key ${key.id}`, e);
    }
    const mine = makePublicKey(info.algorithm, info.publicKey);
    if (mine.id !== key.id) return false;
    this.held.set(key.id, mine);
    return true;
  }

  signerFor(key: PublicKey): Signer {
    const backend = this.backend;
    const expected = METHOD_OF[key.keyType];
    return {
      keyId: key.id,
      publicKey: key,
      async sign(message: Uint8Array): Promise<SignatureValue> {
        let s: { readonly method: SignatureMethod; readonly signature: Uint8Array };
        try {
          s = await backend.sign(key.id, message);
        } catch (e) {
          throw unavailable(`signing with key ${key.id}`, e);
        }
        // A signature under another scheme than the key's would publish metadata nobody can verify.
        if (s.method !== expected) {
          throw new ServerError('UNAVAILABLE', undefined, { message: `signing service: answered with method ${s.method} for ${key.keyType} key ${key.id}` });
        }
        return { method: s.method, sig: s.signature };
      },
    };
  }

  /** Signers for every key of `role` in `root` that the signer holds (possibly none). */
  async heldSigners(root: RootSigned, role: string): Promise<Signer[]> {
    const ids = root.roles.get(role)?.keyIds ?? [];
    const out: Signer[] = [];
    for (const id of ids) {
      const key = root.keys.get(id);
      if (key !== undefined && (await this.holds(key))) out.push(this.signerFor(key));
    }
    return out;
  }

  /** GET `{role}.key`: a held key the root lists for the role, else a new (or pending) key. */
  async getOrCreate(gun: string, role: 'snapshot' | 'timestamp', root: RootSigned | undefined): Promise<PublicKey> {
    if (root !== undefined) {
      for (const id of root.roles.get(role)?.keyIds ?? []) {
        const key = root.keys.get(id);
        if (key !== undefined && (await this.holds(key))) return key;
      }
    }
    return this.create(gun, role);
  }

  /** POST `{role}.key` (and the fallback of GET): CreateKey on the signer. */
  async create(gun: string, role: 'snapshot' | 'timestamp'): Promise<PublicKey> {
    let created: BackendPublicKey;
    try {
      created = await this.backend.createKey({ algorithm: this.algorithm, gun, role });
    } catch (e) {
      throw unavailable(`creating a ${role} key for ${gun}`, e);
    }
    const key = makePublicKey(created.algorithm, created.publicKey);
    this.held.set(key.id, key);
    return key;
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

/** notary's key endpoint body: Go `encoding/json` of a TUFKey, `public` before `private`. */
export function keyEndpointBody(key: PublicKey): string {
  return JSON.stringify({ keytype: key.keyType, keyval: { public: Buffer.from(key.publicBytes).toString('base64'), private: null } });
}

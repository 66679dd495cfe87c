/**
 * Key pairs for tests, safe from a Node 20 deadlock: a key made by node:crypto's key generation
 * shares a lock with its generation job, and the job takes it when the garbage collector destroys
 * it; if that happens while the key is exported as a JWK, the process hangs forever in a futex
 * wait (seen as a test file timing out after 5 minutes with nothing printed). The keys returned
 * here are re-read from their DER and share nothing with the job (as src/crypto/private-keys.ts
 * does for production keys).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync as nodeGenerateKeyPairSync, type KeyObject } from 'node:crypto';

export interface TestKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

type KeyKind = 'ec' | 'rsa' | 'ed25519' | 'x25519';

export function generateKeyPairSync(type: KeyKind, opts: { namedCurve?: string; modulusLength?: number } = {}): TestKeyPair {
  // The overloads of node:crypto want a literal type per call; the options are the same shape.
  const made = (nodeGenerateKeyPairSync as (t: string, o: object) => { privateKey: KeyObject })(type, opts);
  const privateKey = createPrivateKey({ key: made.privateKey.export({ format: 'der', type: 'pkcs8' }), format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

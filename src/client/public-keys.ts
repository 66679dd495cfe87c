/**
 * Public keys from PEM files, as `notary delegation add` and `docker trust signer add` read them
 * (notary's `ParsePEMPublicKey`): a `CERTIFICATE` (checked like any notary certificate, including
 * expiry at add time) becomes an `ecdsa-x509`/`rsa-x509` key; a `PUBLIC KEY` (ECDSA, or RSA of at
 * least 2048 bits) becomes an `ecdsa`/`rsa` key. Anything else is refused with the reason.
 */
import { decodePemBlocks } from '../crypto/pem.ts';
import { CryptoError, importSpki, keyAlgorithm, MIN_RSA_BITS, rsaModulusBits } from '../crypto/signatures.ts';
import { parseCertificate } from '../crypto/x509.ts';
import { certBundleToKey, checkCertificate } from '../tuf/certs.ts';
import { makePublicKey, type PublicKey } from '../tuf/keys.ts';
import { ClientError } from './errors.ts';

function fail(reason: string, cause?: unknown): ClientError {
  return new ClientError('INVALID_INPUT', reason, cause === undefined ? undefined : { cause });
}

export function parsePemPublicKey(text: string, now: Date): PublicKey {
  let blocks;
  try {
    blocks = decodePemBlocks(text);
  } catch (e) {
    throw fail('no valid public key found', e);
  }
  const block = blocks[0];
  if (block === undefined) throw fail('no valid public key found');
  if (block.type === 'CERTIFICATE') {
    let cert;
    try {
      cert = parseCertificate(block.bytes);
    } catch (e) {
      throw fail(`could not parse certificate: ${e instanceof Error ? e.message : String(e)}`, e);
    }
    try {
      checkCertificate(cert, { now });
      return certBundleToKey(cert, []);
    } catch (e) {
      throw fail(e instanceof Error ? e.message : String(e), e);
    }
  }
  if (block.type !== 'PUBLIC KEY') throw fail(`unsupported PEM block type ${JSON.stringify(block.type)}, expecting a CERTIFICATE or PUBLIC KEY`);
  try {
    const key = importSpki(block.bytes);
    const alg = keyAlgorithm(key);
    if (alg === 'rsa' && rsaModulusBits(key) < MIN_RSA_BITS) throw fail('RSA bit length is too short');
    if (alg !== 'ecdsa' && alg !== 'rsa') throw fail(`unsupported public key type ${alg}`);
    return makePublicKey(alg, block.bytes);
  } catch (e) {
    if (e instanceof ClientError) throw e;
    throw fail(e instanceof CryptoError ? e.message : `could not parse public key: ${String(e)}`, e);
  }
}

// Key-store unlock cost: how long one passphrase unlock of a key file takes with Vouch's PBKDF2
// iteration count (VOUCH_PBKDF2_ITERATIONS) next to notary's 2,048, through the same code paths
// the CLI uses. Run: node --import tsx bench/keys.ts [rounds]
import { cpus, loadavg, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { decodePemBlocks } from '../src/crypto/pem.ts';
import { NOTARY_PBKDF2_ITERATIONS, VOUCH_PBKDF2_ITERATIONS } from '../src/crypto/pkcs8.ts';
import { readPrivateKeyPem, writeEncryptedPrivateKeyPem } from '../src/crypto/private-key-pem.ts';
import { generateKey } from '../src/crypto/private-keys.ts';
import { KeyFileStore } from '../src/keystore/file-store.ts';
import { constantRetriever } from '../src/keystore/passphrase.ts';

const rounds = Number(process.argv[2] ?? 15);
const PASS = 'correct horse battery staple';

function stats(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return `median ${at(0.5).toFixed(1)} ms, min ${at(0).toFixed(1)} ms, p90 ${at(0.9).toFixed(1)} ms (n=${s.length})`;
}

function time(f: () => unknown): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

const key = generateKey('ecdsa');
for (const iterations of [NOTARY_PBKDF2_ITERATIONS, VOUCH_PBKDF2_ITERATIONS]) {
  const [block] = decodePemBlocks(writeEncryptedPrivateKeyPem(key, PASS, { role: 'root' }, { iterations }));
  readPrivateKeyPem(block!, PASS); // warm-up
  const unlock = Array.from({ length: rounds }, () => time(() => readPrivateKeyPem(block!, PASS)));
  const encrypt = Array.from({ length: rounds }, () => time(() => writeEncryptedPrivateKeyPem(key, PASS, { role: 'root' }, { iterations })));
  console.log(`PBKDF2-HMAC-SHA1 ${iterations} iterations: unlock ${stats(unlock)}; encrypt ${stats(encrypt)}`);
}

// The whole store path: open, read the file, decrypt, check the key ID, build a signer.
const dir = mkdtempSync(join(tmpdir(), 'vouch-bench-keys-'));
try {
  const store = KeyFileStore.open(dir, { retriever: constantRetriever(PASS) });
  const { info } = await store.generate('root');
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const fresh = KeyFileStore.open(dir, { retriever: constantRetriever(PASS) });
    const t = performance.now();
    await fresh.signer(info.keyId);
    samples.push(performance.now() - t);
  }
  console.log(`KeyFileStore.signer() with the default (${VOUCH_PBKDF2_ITERATIONS}): ${stats(samples)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

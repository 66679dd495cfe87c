// Shared helpers for key store tests: temp dirs, byte-exact directory snapshots, fixture copies,
// and the spec's vector-10 key file.
import { cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after } from 'node:test';
import { NOTARY_COMPAT } from '../helpers/fixtures.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A temp dir removed when the test file ends. */
export function tempDir(prefix = 'vouch-keystore-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export interface DirEntrySnapshot {
  readonly mode: string;
  readonly bytes?: string;
}

/** Every path under `dir` with its mode and (for files) exact bytes in base64: compare before/after. */
export function snapshotDir(dir: string): Record<string, DirEntrySnapshot> {
  const out: Record<string, DirEntrySnapshot> = {};
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      const st = lstatSync(p);
      const rel = relative(dir, p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[rel + '/'] = { mode };
        walk(p);
      } else {
        out[rel] = { mode, bytes: readFileSync(p).toString('base64') };
      }
    }
  };
  walk(dir);
  return out;
}

export const FIXTURES = NOTARY_COMPAT;

/** A private copy of a compatibility fixture trust dir (migration changes it). */
export function copyFixture(name: 'notary0.1' | 'notary0.3'): string {
  const d = join(tempDir('vouch-fixture-'), name);
  cpSync(join(FIXTURES, name), d, { recursive: true });
  return d;
}

/** docs/formats.md §13 vector 10: passphrase `rootpass123`, 2048 iterations. */
export const VECTOR10_ID = '05e79ee41c17cc28d3aa3b5c25f3fa12c60bdd0f978539432ddf988c2725915c';
export const VECTOR10_PASSPHRASE = 'rootpass123';
export const VECTOR10_PEM = `-----BEGIN ENCRYPTED PRIVATE KEY-----
role: root

MIHuMEkGCSqGSIb3DQEFDTA8MBsGCSqGSIb3DQEFDDAOBAjVykn7ahTfewICCAAw
HQYJYIZIAWUDBAEqBBDCjj/jsgOqFIRYZXjyjV0ABIGgoC6jVul3phJNhEbkUXGS
5g6SL8Al0b3LAiYzbwkXRknZWBzAZLE8qXWSMKWMkZGyxb7v8ALoxXrvQTCRmcBv
w6GHRuSRFQnl9WwmNOqDK/Hq0Z5UloSU8dmABafkC6XXfsoKosYKMhIgv2ss++fC
kPdHzjFhjdYtSKYMRlMATCendSpzZF0e/maZjRzs94UzcvOSJRljGHiLtKH+QS+v
aw==
-----END ENCRYPTED PRIVATE KEY-----
`;
export const VECTOR10_SPKI = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEcCQu8IXuOVw8GbiSlvVENjmPmddQ45FtanxDRtGenLxYWduEBvhLUeKIAB0n7gMFfUyr0Wx4ucgf7sivJ/XEng==';

/** Fast iterations for tests that only need a valid encrypted file (the default is tested separately). */
export const TEST_ITERATIONS = 2048;

/**
 * A minimal publisher for the server benchmark, over HTTPS to any notary-compatible server:
 * creates a repository (client-held snapshot key, the server's timestamp key) and publishes
 * targets, with Vouch's TUF builder. Used to seed both servers identically and to time first
 * publishes.
 */
import { randomBytes } from 'node:crypto';
import { generateKeyPairSync } from '../test/helpers/keys.ts';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';

import { encodePem } from '../src/crypto/pem.ts';
import { createRootCertificate } from '../src/crypto/x509.ts';
import { newRepository, signChanges, type Change, type RepoState } from '../src/tuf/builder.ts';
import { makePublicKey, parsePublicKey, type PublicKey } from '../src/tuf/keys.ts';
import { localSigner } from '../src/tuf/local-signer.ts';
import type { Signer } from '../src/tuf/signer.ts';
import type { RoleName } from '../src/tuf/types.ts';
import { fileMetaOf } from '../src/tuf/verify.ts';

export interface HttpResult {
  readonly status: number;
  readonly body: Buffer;
}

export function httpsCall(url: string, ca: Buffer, method: string, body?: Buffer, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) }, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timeout`)));
    req.on('error', reject);
    req.end(body);
  });
}

function multipart(files: ReadonlyMap<string, Uint8Array>): { body: Buffer; type: string } {
  const boundary = randomBytes(30).toString('hex');
  const parts: Buffer[] = [];
  for (const [name, data] of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`), Buffer.from(data), Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

const ecdsa = (): Signer => localSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);

export class BenchPublisher {
  readonly base: string;
  readonly gun: string;
  private readonly ca: Buffer;
  readonly root: Signer;
  readonly targets = ecdsa();
  readonly snapshot = ecdsa();
  state: RepoState = {};

  constructor(serverUrl: string, caFile: string, gun: string) {
    this.base = `${serverUrl}/v2/${gun}/_trust/tuf/`;
    this.gun = gun;
    this.ca = readFileSync(caFile);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cert = makePublicKey('ecdsa-x509', Buffer.from(encodePem({ type: 'CERTIFICATE', bytes: createRootCertificate({ gun, privateKey, now: new Date() }) })));
    this.root = localSigner(privateKey, cert);
  }

  async timestampKey(): Promise<PublicKey> {
    const res = await httpsCall(`${this.base}timestamp.key`, this.ca, 'GET');
    if (res.status !== 200) throw new Error(`GET timestamp.key: ${res.status} ${res.body.toString()}`);
    return parsePublicKey(JSON.parse(res.body.toString()), 'timestamp.key');
  }

  /** Signs the files of a new repository (root, targets, snapshot v1). */
  async initFiles(timestampKey: PublicKey): Promise<Map<string, Uint8Array>> {
    const repo = await newRepository({
      gun: this.gun, now: new Date(), rootKeys: [this.root], targetsKey: this.targets, snapshotKey: this.snapshot, timestampKey, snapshot: 'client',
    });
    this.state = { root: repo.root, targets: new Map([['targets', repo.targets]]), snapshot: repo.snapshot };
    return new Map([['root', repo.root.bytes], ['targets', repo.targets.bytes], ['snapshot', repo.snapshot!.bytes]]);
  }

  async post(files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    const { body, type } = multipart(files);
    const res = await httpsCall(this.base, this.ca, 'POST', body, { 'content-type': type });
    if (res.status !== 200) throw new Error(`POST ${this.gun}: ${res.status} ${res.body.toString()}`);
  }

  async addTargets(count: number, prefix = 'tag'): Promise<void> {
    const changes: Change[] = Array.from({ length: count }, (_, i) => ({
      kind: 'addTarget', role: 'targets', name: `${prefix}-${i}`, meta: fileMetaOf(Buffer.from(`${this.gun}/${prefix}/${i}`)),
    }));
    const signed = await signChanges({
      now: new Date(), current: this.state, changes, snapshot: 'client',
      signers: (role: RoleName) => (role === 'root' ? [this.root] : role === 'targets' ? [this.targets] : role === 'snapshot' ? [this.snapshot] : []),
    });
    await this.post(new Map([...signed.files].map(([r, m]) => [r, m.bytes])));
    this.state = signed.state;
  }
}

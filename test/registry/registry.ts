/**
 * The Debian docker-registry 2.8.2 (/usr/bin/docker-registry) for tests, and a minimal image
 * pusher speaking the Registry HTTP API v2.
 *
 * Contract:
 * - `startRegistry({ workDir, tls? })` writes a config (filesystem storage under the work dir,
 *   127.0.0.1 on a free port, HTTPS when `tls` is given, no auth) and starts `docker-registry serve`
 *   under spawnManaged; it resolves once `GET /v2/` answers 200, retrying another port if the
 *   chosen one was taken. `stop()` ends the process.
 * - `pushImage` uploads a config blob and `layers` random layer blobs (monolithic upload: POST, then
 *   PUT with `Content-Type: application/octet-stream`, which 2.8.2 insists on) and PUTs a manifest
 *   of the chosen media type; `pushIndex` pushes one image per platform and an index over them.
 *   Both return the exact manifest bytes with their digest and size as the registry reports them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { freePort } from '../helpers/ports.ts';
import { logTail, spawnManaged, type ManagedProcess } from '../helpers/processes.ts';
import type { CertPair } from '../helpers/tls.ts';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export const DOCKER_MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export function registryUnavailableReason(): string | undefined {
  return existsSync(REGISTRY_BIN) ? undefined : `${REGISTRY_BIN} is missing (apt-get install -y docker-registry)`;
}

export interface RegistryPeer {
  /** `127.0.0.1:<port>`: the registry part of image names. */
  readonly host: string;
  readonly url: string;
  readonly dispatcher: Dispatcher;
  readonly process: ManagedProcess;
  logs(): string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  readonly workDir: string;
  readonly tls?: CertPair & { readonly caFile: string };
}

function configYaml(dir: string, port: number, tls: RegistryOptions['tls']): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: vouch-test-registry-secret',
  ];
  if (tls !== undefined) lines.push('  tls:', `    certificate: ${tls.certFile}`, `    key: ${tls.keyFile}`);
  return `${lines.join('\n')}\n`;
}

async function waitReady(url: string, dispatcher: Dispatcher, proc: ManagedProcess): Promise<boolean> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (proc.exitInfo() !== undefined) return false;
    try {
      const res = await request(`${url}/v2/`, { dispatcher, headersTimeout: 2_000, bodyTimeout: 2_000 });
      await res.body.text();
      if (res.statusCode === 200) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export async function startRegistry(opts: RegistryOptions): Promise<RegistryPeer> {
  const dispatcher = new Agent({ connect: opts.tls !== undefined ? { ca: readFileSync(opts.tls.caFile, 'utf8') } : {} });
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dir = join(opts.workDir, `registry-${port}`);
    mkdirSync(dir, { recursive: true });
    const config = join(dir, 'config.yml');
    writeFileSync(config, configYaml(dir, port, opts.tls));
    const proc = spawnManaged(REGISTRY_BIN, ['serve', config], { cwd: dir, env: { PATH: '/usr/bin:/bin' }, logFile: join(dir, 'registry.log') });
    const url = `${opts.tls !== undefined ? 'https' : 'http'}://127.0.0.1:${port}`;
    if (await waitReady(url, dispatcher, proc)) {
      return {
        host: `127.0.0.1:${port}`, url, dispatcher, process: proc,
        logs: () => logTail(proc.logFile, 3_000),
        stop: async () => {
          await proc.stop();
          await dispatcher.close();
        },
      };
    }
    const log = proc.logs();
    await proc.stop();
    if (!/address already in use/.test(log)) throw new Error(`docker-registry did not start:\n${log}`);
  }
  throw new Error('docker-registry: no free port after 3 attempts');
}

export interface PushedManifest {
  readonly digest: string;
  readonly size: number;
  readonly bytes: Buffer;
  readonly mediaType: string;
}

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function call(reg: RegistryPeer, method: 'POST' | 'PUT' | 'HEAD' | 'GET', url: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const res = await request(url.startsWith('http') ? url : `${reg.url}${url}`, { method, headers, ...(body !== undefined ? { body } : {}), dispatcher: reg.dispatcher });
  const text = method === 'HEAD' ? '' : await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

export async function pushBlob(reg: RegistryPeer, repo: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(bytes);
  const start = await call(reg, 'POST', `/v2/${repo}/blobs/uploads/`);
  if (start.status !== 202) throw new Error(`blob upload start: HTTP ${start.status} ${start.text}`);
  const location = String(start.headers['location']);
  const sep = location.includes('?') ? '&' : '?';
  const put = await call(reg, 'PUT', `${location}${sep}digest=${encodeURIComponent(digest)}`, bytes, { 'content-type': 'application/octet-stream' });
  if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status} ${put.text}`);
  return { digest, size: bytes.length };
}

export async function pushManifest(reg: RegistryPeer, repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<PushedManifest> {
  const put = await call(reg, 'PUT', `/v2/${repo}/manifests/${reference}`, bytes, { 'content-type': mediaType });
  if (put.status !== 201) throw new Error(`manifest upload: HTTP ${put.status} ${put.text}`);
  const digest = sha256(bytes);
  if (put.headers['docker-content-digest'] !== digest) throw new Error(`registry reported digest ${String(put.headers['docker-content-digest'])}, expected ${digest}`);
  return { digest, size: bytes.length, bytes, mediaType };
}

export interface ImageSpec {
  readonly layers?: number;
  readonly mediaType?: typeof DOCKER_MANIFEST_V2 | typeof OCI_MANIFEST;
  readonly architecture?: string;
}

/** Pushes a small random image as `repo:reference` (a tag, or its own digest when `reference` is undefined). */
export async function pushImage(reg: RegistryPeer, repo: string, reference: string | undefined, spec: ImageSpec = {}): Promise<PushedManifest> {
  const oci = spec.mediaType === OCI_MANIFEST;
  const config = Buffer.from(JSON.stringify({ architecture: spec.architecture ?? 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
  const cfg = await pushBlob(reg, repo, config);
  const layers = [];
  for (let i = 0; i < (spec.layers ?? 1); i++) layers.push(await pushBlob(reg, repo, randomBytes(256)));
  const manifest = {
    schemaVersion: 2,
    mediaType: oci ? OCI_MANIFEST : DOCKER_MANIFEST_V2,
    config: { mediaType: oci ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json', size: cfg.size, digest: cfg.digest },
    layers: layers.map((l) => ({ mediaType: oci ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: l.size, digest: l.digest })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
  return pushManifest(reg, repo, reference ?? sha256(bytes), bytes, manifest.mediaType);
}

/** Pushes one image per architecture and an OCI index (or docker manifest list) over them as `repo:tag`. */
export async function pushIndex(reg: RegistryPeer, repo: string, tag: string, architectures: readonly string[], kind: 'oci' | 'docker' = 'oci'): Promise<{ index: PushedManifest; images: PushedManifest[] }> {
  const images: PushedManifest[] = [];
  for (const architecture of architectures) {
    images.push(await pushImage(reg, repo, undefined, { architecture, mediaType: kind === 'oci' ? OCI_MANIFEST : DOCKER_MANIFEST_V2 }));
  }
  const mediaType = kind === 'oci' ? OCI_INDEX : DOCKER_MANIFEST_LIST;
  const index = {
    schemaVersion: 2,
    mediaType,
    manifests: images.map((m, i) => ({ mediaType: m.mediaType, size: m.size, digest: m.digest, platform: { architecture: architectures[i], os: 'linux' } })),
  };
  return { index: await pushManifest(reg, repo, tag, Buffer.from(JSON.stringify(index)), mediaType), images };
}

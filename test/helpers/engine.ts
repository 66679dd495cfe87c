/**
 * A real container engine for tests: the Debian dockerd 20.10 (with its own containerd and runc)
 * and a standalone containerd 1.6 for `ctr`, each private to one test file.
 *
 * Contract:
 * - `startDockerd(workDir)` starts dockerd with every path under a short /tmp directory (unix
 *   socket paths are limited to 108 bytes), vfs storage and no network set-up (no iptables, no
 *   bridge: `docker run --network none` and classic `docker build --network none` work). It
 *   resolves once `docker version` answers; `env` holds DOCKER_HOST for the docker CLI, and
 *   `docker(args)` runs /usr/local/bin/docker against it. Registries on 127.0.0.0/8 are insecure
 *   registries by default in dockerd, so plain-HTTP `docker-registry` peers work with no flag.
 * - `importImage(engine, ref)` makes an image from the machine's busybox-static (no image can be
 *   pulled from Docker Hub here) and tags it `ref`; `content` ends up in /content inside it, so
 *   two images made with different content have different digests.
 * - `startContainerd(workDir)` starts a standalone containerd; `ctr(args)` runs ctr against it.
 * - `engineUnavailableReason()` names the missing binary (for `skip`), else undefined.
 * Every process is stopped by `stop()`, and by the exit hooks of spawnManaged otherwise.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { logTail, sleep, spawnManaged, type ManagedProcess } from './processes.ts';

export const DOCKERD_BIN = '/usr/sbin/dockerd';
export const DOCKER_BIN = '/usr/local/bin/docker';
export const CONTAINERD_BIN = '/usr/bin/containerd';
export const CTR_BIN = '/usr/bin/ctr';
export const BUSYBOX_BIN = '/bin/busybox';

export function engineUnavailableReason(): string | undefined {
  for (const [bin, pkg] of [[DOCKERD_BIN, 'docker.io'], [DOCKER_BIN, 'the docker CLI'], [CONTAINERD_BIN, 'containerd'],
    [BUSYBOX_BIN, 'busybox-static']] as const) {
    if (!existsSync(bin)) return `${bin} is missing (install ${pkg}; .ci/run does)`;
  }
  return undefined;
}

export interface CommandResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(bin: string, args: readonly string[], env: NodeJS.ProcessEnv, input?: string, timeoutMs = 120_000): CommandResult {
  const r: SpawnSyncReturns<string> = spawnSync(bin, args, { env, encoding: 'utf8', input, timeout: timeoutMs, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export interface DockerEngine {
  /** `unix:///tmp/…/docker.sock` */
  readonly host: string;
  readonly socketPath: string;
  /** process.env plus DOCKER_HOST and a private DOCKER_CONFIG. */
  readonly env: NodeJS.ProcessEnv;
  readonly process: ManagedProcess;
  docker(args: readonly string[], opts?: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): CommandResult;
  stop(): Promise<void>;
}

export async function startDockerd(workDir: string): Promise<DockerEngine> {
  const base = mkdtempSync('/tmp/vouch-dk-');
  const socketPath = join(base, 'docker.sock');
  const host = `unix://${socketPath}`;
  const logFile = join(workDir, 'dockerd.log');
  const proc = spawnManaged(DOCKERD_BIN, [
    '--data-root', join(base, 'root'), '--exec-root', join(base, 'exec'), '-H', host,
    '--pidfile', join(base, 'docker.pid'), '--iptables=false', '--ip-masq=false', '--bridge=none',
    '--storage-driver=vfs',
  ], { cwd: workDir, env: process.env as Record<string, string>, logFile, maxLifetimeS: 1_500 });
  const dockerConfig = join(workDir, 'docker-config');
  mkdirSync(dockerConfig, { recursive: true, mode: 0o700 });
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: dockerConfig };
  const docker: DockerEngine['docker'] = (args, opts = {}) =>
    run(DOCKER_BIN, args, { ...env, ...opts.env }, opts.input, opts.timeoutMs);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitInfo() !== undefined) throw new Error(`dockerd exited: ${logTail(logFile)}`);
    if (existsSync(socketPath) && docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 10_000 }).status === 0) break;
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`dockerd did not answer within 60 s: ${logTail(logFile)}`);
    }
    await sleep(200);
  }
  const stop = async (): Promise<void> => {
    await proc.stop(15_000);
    // vfs layers of root-owned files: removed here so /tmp does not fill over a long run.
    rmSync(base, { recursive: true, force: true, maxRetries: 3 });
  };
  return { host, socketPath, env, process: proc, docker, stop };
}

/** Imports a busybox rootfs as `ref`; `content` makes the image's digest unique. */
export function importImage(engine: DockerEngine, ref: string, content = ref): string {
  const dir = mkdtempSync('/tmp/vouch-rootfs-');
  try {
    mkdirSync(join(dir, 'bin'));
    copyFileSync(BUSYBOX_BIN, join(dir, 'bin', 'busybox'));
    chmodSync(join(dir, 'bin', 'busybox'), 0o755);
    for (const applet of ['sh', 'cat', 'echo', 'ls']) symlinkSync('busybox', join(dir, 'bin', applet));
    writeFileSync(join(dir, 'content'), content);
    const tar = spawnSync('tar', ['-C', dir, '-c', '.'], { maxBuffer: 64 << 20 });
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr.toString()}`);
    const r = spawnSync(DOCKER_BIN, ['import', '--change', 'CMD ["/bin/sh"]', '-', ref],
      { env: engine.env, input: tar.stdout, encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`docker import ${ref} failed: ${r.stderr}`);
    return r.stdout.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ContainerdPeer {
  readonly address: string;
  readonly process: ManagedProcess;
  ctr(args: readonly string[], opts?: { timeoutMs?: number }): CommandResult;
  stop(): Promise<void>;
}

export async function startContainerd(workDir: string): Promise<ContainerdPeer> {
  const base = mkdtempSync('/tmp/vouch-ctd-');
  const address = join(base, 'ctd.sock');
  const logFile = join(workDir, 'containerd.log');
  const config = join(base, 'config.toml');
  // No CRI plugin (it wants a CNI set-up this machine does not have) and a private ttrpc socket.
  writeFileSync(config, 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n');
  const proc = spawnManaged(CONTAINERD_BIN, ['--config', config, '--root', join(base, 'root'), '--state', join(base, 'state'),
    '--address', address], { cwd: workDir, env: process.env as Record<string, string>, logFile, maxLifetimeS: 1_500 });
  const ctr: ContainerdPeer['ctr'] = (args, opts = {}) => run(CTR_BIN, ['--address', address, ...args], process.env, undefined, opts.timeoutMs);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitInfo() !== undefined) throw new Error(`containerd exited: ${logTail(logFile)}`);
    if (existsSync(address) && ctr(['version'], { timeoutMs: 5_000 }).status === 0) break;
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`containerd did not answer within 30 s: ${logTail(logFile)}`);
    }
    await sleep(200);
  }
  const stop = async (): Promise<void> => {
    await proc.stop(10_000);
    rmSync(base, { recursive: true, force: true, maxRetries: 3 });
  };
  return { address, process: proc, ctr, stop };
}

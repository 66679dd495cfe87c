/**
 * Shared setup for the `vouch trust` tests: a real notary-server + notary-signer (the harness), the
 * Debian docker-registry over HTTPS with the harness CA, and docker config directories that trust
 * both (CA files under `tls/<host:port>/`, as docker reads them).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { notaryPeersUnavailableReason, startNotaryHarness, type NotaryHarness } from '../helpers/notary-harness.ts';
import { registryUnavailableReason, startRegistry, type RegistryPeer } from '../registry/registry.ts';
import { DOCKER_BIN, dockerEnv, trustCa } from './run.ts';
import { spawnSync } from 'node:child_process';

export function dockerUnavailableReason(): string | undefined {
  const r = spawnSync(DOCKER_BIN, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? undefined : `the docker CLI (${DOCKER_BIN}) is not runnable`;
}

export function trustPeersUnavailableReason(): string | undefined {
  return notaryPeersUnavailableReason() ?? registryUnavailableReason() ?? dockerUnavailableReason();
}

export interface TrustWorld {
  readonly harness: NotaryHarness;
  readonly registry: RegistryPeer;
  /** A new docker config dir that trusts the trust server's and the registry's CA. */
  configDir(name: string): string;
  /** Environment for vouch and docker with that config dir and the harness as trust server. */
  env(configDir: string, extra?: Readonly<Record<string, string>>): Record<string, string>;
  stop(): Promise<void>;
}

export async function startTrustWorld(): Promise<TrustWorld> {
  const harness = await startNotaryHarness();
  let registry: RegistryPeer;
  try {
    registry = await startRegistry({ workDir: harness.workDir, tls: { ...harness.pki.server, caFile: harness.caFile } });
  } catch (e) {
    await harness.stop();
    throw e;
  }
  return {
    harness, registry,
    configDir: (name) => {
      const dir = harness.newDir(name);
      trustCa(dir, new URL(harness.url).host, harness.caFile);
      trustCa(dir, registry.host, harness.caFile);
      return dir;
    },
    env: (configDir, extra = {}) => dockerEnv({ configDir, trustServer: harness.url, extra }),
    stop: async () => {
      await registry.stop();
      await harness.stop();
    },
  };
}

/** The key IDs in `<config>/trust/private` whose `role` header is `role`. */
export function keyIdsWithRole(configDir: string, role: string): string[] {
  const dir = join(configDir, 'trust', 'private');
  return readdirSync(dir).filter((f) => f.endsWith('.key'))
    .filter((f) => new RegExp(`^role: ${role}$`, 'm').test(readFileSync(join(dir, f), 'utf8')))
    .map((f) => f.slice(0, -'.key'.length)).sort();
}

export const hexOf = (digest: string): string => digest.replace(/^sha256:/, '');

export interface InspectedRepo {
  Name: string;
  SignedTags: { SignedTag: string; Digest: string; Signers: string[] }[];
  Signers: { Name: string; Keys?: { ID: string }[] }[];
  AdministrativeKeys: { Name: string; Keys?: { ID: string }[] }[];
}

export function parseInspect(stdout: string): InspectedRepo[] {
  return JSON.parse(stdout) as InspectedRepo[];
}

/**
 * Reusable interop scenarios driven by the real notary 0.7.0 client.
 *
 * Contract: `buildNotaryCollection(harness)` publishes, through `harness.url`, a collection that
 * exercises every role kind: init (published), a target in `targets`, snapshot key handed to the
 * server, a `targets/releases` delegation (key made with openssl, imported unencrypted as the
 * quirk requires) with a target, a targets-key rotation and a root rotation (root v4, signed by
 * old and new root keys). It returns the GUN, the client trust dir, the target payloads, the
 * `notary list` output, and the collection's exact bytes as served (by hash, see
 * fetch-collection.ts). Every notary call must exit 0, else NotaryCliError with full output.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { fetchCollection } from './fetch-collection.ts';
import type { NotaryHarness } from './notary-harness.ts';
import { runNotary } from './notary-cli.ts';
import type { NotaryCliOptions, NotaryCliResult } from './notary-cli.ts';
import { OPENSSL } from './tls.ts';

export interface ScenarioTarget {
  readonly name: string;
  readonly role: string;
  readonly content: Buffer;
  readonly size: number;
  readonly sha256: string;
}

export interface NotaryCollection {
  readonly gun: string;
  readonly trustDir: string;
  /** Exact served bytes by file name: root.json, timestamp.json, …, targets/releases.json. */
  readonly files: Map<string, Buffer>;
  readonly targets: readonly ScenarioTarget[];
  /** PEM `PUBLIC KEY` of the targets/releases delegation, and its unencrypted PKCS#8 key. */
  readonly delegationPublicKeyFile: string;
  readonly delegationPrivateKeyFile: string;
  /** stdout of the final `notary list <gun>`. */
  readonly listing: string;
  /** Runs the notary client against the harness with this collection's trust dir. */
  notary(args: readonly string[], extra?: Partial<NotaryCliOptions>): Promise<NotaryCliResult>;
}

export interface BuildNotaryCollectionOptions {
  readonly gun?: string;
}

export const DELEGATION_ROLE = 'targets/releases';

function target(name: string, role: string, text: string): ScenarioTarget {
  const content = Buffer.from(text, 'utf8');
  return { name, role, content, size: content.length,
    sha256: createHash('sha256').update(content).digest('hex') };
}

function makeDelegationKey(dir: string): { key: string; pub: string } {
  const key = join(dir, 'releases.key');
  const pub = join(dir, 'releases.pub');
  for (const args of [
    ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key],
    ['pkey', '-in', key, '-pubout', '-out', pub],
  ]) {
    const r = spawnSync(OPENSSL, args, { encoding: 'utf8', timeout: 15_000 });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr ?? r.error?.message}`);
  }
  return { key, pub };
}

export async function buildNotaryCollection(harness: NotaryHarness,
  opts: BuildNotaryCollectionOptions = {}): Promise<NotaryCollection> {
  const gun = opts.gun ?? 'example.com/vouch/interop';
  const trustDir = join(harness.newDir('client'), 'trust');
  const work = harness.newDir('scenario');
  mkdirSync(trustDir, { mode: 0o700 });
  const notary = (args: readonly string[], extra: Partial<NotaryCliOptions> = {}): Promise<NotaryCliResult> =>
    runNotary(args, { trustDir, serverUrl: harness.url, caFile: harness.caFile, expectCode: 0, ...extra });

  const v1 = target('v1', 'targets', 'vouch interop payload one\n');
  const v2 = target('v2', DELEGATION_ROLE, 'vouch interop payload two, in a delegation\n');
  for (const t of [v1, v2]) writeFileSync(join(work, t.name), t.content);
  const delegation = makeDelegationKey(work);

  await notary(['init', gun, '-p']);
  await notary(['add', gun, v1.name, join(work, v1.name), '-p']);
  // notary init has no flag for a server-managed snapshot (docs/compatibility.md §3).
  await notary(['key', 'rotate', gun, 'snapshot', '-r']);
  // A key from `notary key generate -o` is refused by `key import`; plain PKCS#8 + --role works.
  await notary(['key', 'import', delegation.key, '--role', DELEGATION_ROLE]);
  await notary(['delegation', 'add', gun, DELEGATION_ROLE, delegation.pub, '--all-paths', '-p']);
  await notary(['add', gun, v2.name, join(work, v2.name), '-r', DELEGATION_ROLE, '-p']);
  await notary(['key', 'rotate', gun, 'targets']);
  // Without `yes` on stdin this prints "Aborting action." and still exits 0 (docs/compatibility.md §3).
  const rotated = await notary(['key', 'rotate', gun, 'root'], { input: 'yes\n' });
  if (!rotated.stdout.includes('Successfully rotated root key')) {
    throw new Error(`root rotation did not happen:\n${rotated.stdout}\n${rotated.stderr}`);
  }
  const listing = (await notary(['list', gun])).stdout;
  const files = await fetchCollection(harness.url, gun, harness.caFile);
  return { gun, trustDir, files, targets: [v1, v2], listing, notary,
    delegationPublicKeyFile: delegation.pub, delegationPrivateKeyFile: delegation.key };
}

/**
 * Shared setup for client tests: a Vouch `Repository` against a notary server (the harness), with
 * a real on-disk key store whose passphrases come from a constant retriever (low PBKDF2 count).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyFileStore } from '../../src/keystore/file-store.ts';
import { constantRetriever } from '../../src/keystore/passphrase.ts';
import { fileKeySource } from '../../src/client/file-keys.ts';
import { recordingLogger } from '../../src/client/log.ts';
import { RemoteStore } from '../../src/client/remote.ts';
import { Repository } from '../../src/client/repository.ts';
import { HttpTransport } from '../../src/client/transport.ts';
import type { TrustPinning } from '../../src/tuf/root-trust.ts';
import { DEFAULT_PASSPHRASES } from '../helpers/notary-cli.ts';

export interface VouchClient {
  readonly repo: Repository;
  readonly store: KeyFileStore;
  readonly log: ReturnType<typeof recordingLogger>;
  readonly trustDir: string;
  close(): Promise<void>;
}

export interface VouchClientOptions {
  readonly url: string;
  readonly caFile?: string;
  readonly gun: string;
  readonly trustDir: string;
  readonly passphrase?: string;
  readonly pinning?: TrustPinning;
  readonly now?: () => Date;
  readonly offline?: boolean;
}

/** The passphrase the notary CLI helper uses for every role, so both clients share key files. */
export const SHARED_PASSPHRASE = DEFAULT_PASSPHRASES.root;

export function vouchClient(o: VouchClientOptions): VouchClient {
  const pass = o.passphrase;
  const retriever = pass !== undefined ? constantRetriever(pass) : (req: { alias: string }) => {
    const byRole: Record<string, string> = { root: DEFAULT_PASSPHRASES.root, targets: DEFAULT_PASSPHRASES.targets, snapshot: DEFAULT_PASSPHRASES.snapshot };
    return Promise.resolve({ passphrase: byRole[req.alias] ?? DEFAULT_PASSPHRASES.delegation, giveUp: false });
  };
  const store = KeyFileStore.open(o.trustDir, { retriever, iterations: 2048 });
  const transport = new HttpTransport({ baseUrl: o.url, tls: o.caFile !== undefined ? { ca: readFileSync(o.caFile, 'utf8') } : {} });
  const log = recordingLogger();
  const repo = new Repository({
    gun: o.gun, trustDir: o.trustDir, keys: fileKeySource(store), log,
    ...(o.offline === true ? {} : { remote: new RemoteStore(transport, o.gun) }),
    ...(o.pinning !== undefined ? { pinning: o.pinning } : {}),
    ...(o.now !== undefined ? { now: o.now } : {}),
  });
  return { repo, store, log, trustDir: o.trustDir, close: () => transport.close() };
}

export function trustDirIn(dir: string): string {
  return join(dir, 'trust');
}

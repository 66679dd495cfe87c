/**
 * Passphrase retrieval as notary defines it (docs/formats.md §10.3): a retriever is asked with
 * `(keyName, alias = role header, createNew, attempt)` and answers a passphrase, or says to give
 * up. This module holds the retriever contract, the environment-variable mapping of the notary
 * CLI (`NOTARY_*_PASSPHRASE`) and of docker (`DOCKER_CONTENT_TRUST_*_PASSPHRASE`), and the two
 * attempt loops the key store runs (unlock an existing key; choose a passphrase for a new one).
 *
 * Contract:
 * - An environment value is trusted for attempts 0 and 1 and gives up after that, as notary's
 *   retrievers do; it bypasses the 8-character minimum and the confirmation.
 * - Vouch reads both variable families: the notary names first for `vouch key …`, the docker
 *   names first for `vouch trust …` (the default trust dir is docker's, so either user's setup
 *   works). Each family keeps its own mapping exactly.
 * - With no variable and no prompt, the error names the variable to set.
 * - A wrong passphrase ends as `password invalid, operation has failed.` (notary's wording);
 *   damage or an unsupported algorithm found after decryption is reported as itself.
 */
import { hasCode } from '../errors.ts';
import { isBaseRole } from '../tuf/roles.ts';
import { KeyStoreError, attemptsExceeded, passwordInvalid } from './errors.ts';

export interface PassphraseRequest {
  /** The key ID (prompts show its first 7 characters), or '' when there is none yet. */
  readonly keyName: string;
  /** The key's role header (`root`, `targets`, `targets/releases`, a docker signer name…). */
  readonly alias: string;
  readonly createNew: boolean;
  /** 0 for the first request; a retry after a wrong or rejected passphrase has attempt + 1. */
  readonly attempt: number;
}

export interface PassphraseAnswer {
  readonly passphrase: string;
  /** True when the retriever has nothing better to offer: the caller stops asking. */
  readonly giveUp: boolean;
}

/**
 * May throw `KeyStoreError`: `NO_PASSPHRASE_INPUT` (nowhere to ask), `PASSPHRASE_REJECTED` (a
 * new passphrase that is too short or not confirmed: the caller asks again), `ATTEMPTS_EXCEEDED`.
 *
 * `quiet`, when a retriever has it, answers without asking anyone (no prompt, no side effect):
 * the passphrase a first attempt would get from the environment, or undefined. The key store uses
 * it to unlock keys ahead of time, in parallel (`KeyFileStore.prefetch`).
 */
export type PassphraseRetriever = ((request: PassphraseRequest) => Promise<PassphraseAnswer>) & {
  readonly quiet?: (request: PassphraseRequest) => string | undefined;
};

export type PassphraseEnvMode = 'notary' | 'docker';

export const NOTARY_PASSPHRASE_VARIABLES = {
  root: 'NOTARY_ROOT_PASSPHRASE',
  targets: 'NOTARY_TARGETS_PASSPHRASE',
  snapshot: 'NOTARY_SNAPSHOT_PASSPHRASE',
  delegation: 'NOTARY_DELEGATION_PASSPHRASE',
} as const;

export const DOCKER_ROOT_PASSPHRASE = 'DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE';
export const DOCKER_REPOSITORY_PASSPHRASE = 'DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE';

/** Retries notary allows after the first wrong passphrase at a prompt. */
export const PROMPT_RETRIES = 3;
/** notary's internal cap on retriever calls for one key. */
const MAX_RETRIEVER_CALLS = 11;

/** The notary CLI's variable for `alias`: any alias that is not a base role uses the delegation one. */
export function notaryPassphraseVariable(alias: string): string | undefined {
  if (Object.hasOwn(NOTARY_PASSPHRASE_VARIABLES, alias)) {
    return NOTARY_PASSPHRASE_VARIABLES[alias as keyof typeof NOTARY_PASSPHRASE_VARIABLES];
  }
  return isBaseRole(alias) ? undefined : NOTARY_PASSPHRASE_VARIABLES.delegation;
}

/** docker's variable for `alias`: root has its own, every other key uses the repository one. */
export function dockerPassphraseVariable(alias: string): string {
  return alias === 'root' ? DOCKER_ROOT_PASSPHRASE : DOCKER_REPOSITORY_PASSPHRASE;
}

/** The variables consulted for `alias`, in order. */
export function passphraseVariables(alias: string, mode: PassphraseEnvMode): string[] {
  const notary = notaryPassphraseVariable(alias);
  const docker = dockerPassphraseVariable(alias);
  const ordered = mode === 'notary' ? [notary, docker] : [docker, notary];
  return ordered.filter((v): v is string => v !== undefined);
}

/** The first non-empty variable for `alias`, if any. */
export function envPassphrase(env: Readonly<Record<string, string | undefined>>, alias: string,
  mode: PassphraseEnvMode): { variable: string; value: string } | undefined {
  for (const variable of passphraseVariables(alias, mode)) {
    const value = env[variable];
    if (value !== undefined && value !== '') return { variable, value };
  }
  return undefined;
}

/** The error for "nowhere to get this passphrase from", naming the variable that would help. */
export function noPassphraseInput(request: PassphraseRequest, mode: PassphraseEnvMode): KeyStoreError {
  const [first, ...rest] = passphraseVariables(request.alias, mode);
  const alternatives = rest.length > 0 ? ` (or ${rest.join(', ')})` : '';
  const id = request.keyName === '' ? '' : ` ${request.keyName.slice(0, 7)}`;
  const what = `${request.createNew ? 'new ' : ''}${request.alias === '' ? '' : request.alias + ' '}key${id}`;
  return new KeyStoreError('NO_PASSPHRASE_INPUT',
    'please either use environment variables or STDIN with a terminal to provide key passphrases: ' +
    `set ${first ?? DOCKER_REPOSITORY_PASSPHRASE}${alternatives} for the ${what}`);
}

/**
 * A retriever that answers from `env`, and otherwise defers to `fallback` (a prompt) or, without
 * one, fails with `NO_PASSPHRASE_INPUT`.
 */
export function envRetriever(env: Readonly<Record<string, string | undefined>>, mode: PassphraseEnvMode,
  fallback?: PassphraseRetriever): PassphraseRetriever {
  const retriever = (request: PassphraseRequest): Promise<PassphraseAnswer> => {
    const found = envPassphrase(env, request.alias, mode);
    if (found !== undefined) return Promise.resolve({ passphrase: found.value, giveUp: request.attempt > 1 });
    if (fallback !== undefined) return fallback(request);
    return Promise.reject(noPassphraseInput(request, mode));
  };
  return Object.assign(retriever, { quiet: (request: PassphraseRequest) => envPassphrase(env, request.alias, mode)?.value });
}

/** Always the same passphrase (tests, and re-encryption with a passphrase already chosen). */
export function constantRetriever(passphrase: string): PassphraseRetriever {
  return () => Promise.resolve({ passphrase, giveUp: false });
}

/**
 * notary's unlock loop: asks for passphrases until `tryPassphrase` accepts one. `tryPassphrase`
 * throws a VouchError with code `INCORRECT_PASSPHRASE` for a wrong passphrase; any other error
 * ends the loop at once.
 */
export async function unlockWithRetriever<T>(retriever: PassphraseRetriever, keyName: string, alias: string,
  tryPassphrase: (passphrase: string) => T | Promise<T>): Promise<{ value: T; passphrase: string }> {
  const wrong = new Set<string>();
  for (let attempt = 0; attempt < MAX_RETRIEVER_CALLS; attempt++) {
    let answer: PassphraseAnswer;
    try {
      answer = await retriever({ keyName, alias, createNew: false, attempt });
    } catch (e) {
      if (hasCode(e, 'NO_PASSPHRASE_INPUT')) throw e;
      throw passwordInvalid(e);
    }
    if (answer.giveUp) throw passwordInvalid();
    // An environment value comes back unchanged on the retry: deriving its key again is wasted time.
    if (wrong.has(answer.passphrase)) continue;
    try {
      return { value: await tryPassphrase(answer.passphrase), passphrase: answer.passphrase };
    } catch (e) {
      if (!hasCode(e, 'INCORRECT_PASSPHRASE')) throw e;
      wrong.add(answer.passphrase);
    }
  }
  throw attemptsExceeded();
}

/** notary's new-key loop: asks until the retriever returns an acceptable, non-empty passphrase. */
export async function chooseNewPassphrase(retriever: PassphraseRetriever, keyName: string, alias: string): Promise<string> {
  for (let attempt = 0; attempt <= PROMPT_RETRIES; attempt++) {
    let answer: PassphraseAnswer;
    try {
      answer = await retriever({ keyName, alias, createNew: true, attempt });
    } catch (e) {
      if (hasCode(e, 'PASSPHRASE_REJECTED')) continue;
      throw e;
    }
    if (answer.passphrase === '') {
      // notary would write the key unencrypted; Vouch never stores a private key in the clear.
      throw new KeyStoreError('PASSPHRASE_REJECTED', 'no password provided');
    }
    if (answer.giveUp) break;
    return answer.passphrase;
  }
  throw attemptsExceeded();
}

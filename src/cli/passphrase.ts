/**
 * Terminal input for every CLI command: passphrase prompts without echo, yes/no confirmations,
 * and the passphrase retrievers commands hand to the key store.
 *
 * Contract:
 * - One shared `node:readline` interface reads stdin for the whole process (`sharedLineReader`);
 *   lines typed ahead or piped in are queued, never lost between prompts. Commands call
 *   `closePrompts()` when done so stdin no longer holds the process open.
 * - Prompts and messages go to stderr, so stdout stays clean for output such as `key export`.
 * - `promptRetriever` reproduces notary's prompt texts and rules (passphrase/passphrase.go): a
 *   7-character key ID prefix, the root-key warning, new passphrases of at least 8 bytes entered
 *   twice, `Passphrase incorrect. Please retry.` and 3 retries, one cached passphrase per alias.
 * - `cliPassphraseRetriever` answers from the environment first (see keystore/passphrase.ts),
 *   prompts only when stdin is a terminal, and otherwise fails naming the variable to set.
 */
import type { Interface } from 'node:readline';
import { Writable } from 'node:stream';
import { KeyStoreError } from '../keystore/errors.ts';
import {
  PROMPT_RETRIES, envRetriever, type PassphraseEnvMode, type PassphraseRequest, type PassphraseRetriever,
} from '../keystore/passphrase.ts';

const ROOT_KEY_WARNING = `You are about to create a new root signing key passphrase. This passphrase
will be used to protect the most sensitive key in your signing system. Please
choose a long, complex passphrase and be careful to keep the password and the
key file itself secure and backed up. It is highly recommended that you use a
password manager to generate the passphrase and keep it safe. There will be no
way to recover this key. You can find the key in your config directory.`;

const ID_CHARS_TO_DISPLAY = 7;
export const MIN_PASSPHRASE_BYTES = 8;

/** docker's display names (cli/trust/trust.go): targets and snapshot keys are "repository" keys. */
export const DOCKER_ALIAS_NAMES: Readonly<Record<string, string>> = {
  root: 'root', snapshot: 'repository', targets: 'repository', default: 'repository',
};

export interface LineReader {
  /** Writes `prompt`, reads one line (without echo when `echo` is false); null at end of input. */
  question(prompt: string, opts?: { echo?: boolean }): Promise<string | null>;
  close(): void;
}

/** A line reader over any streams; `terminal` enables line editing and hides typed passphrases. */
export function createLineReader(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, terminal: boolean): LineReader {
  let muted = false;
  const echo = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      if (!muted) output.write(chunk);
      done();
    },
  });
  const lines: string[] = [];
  const waiting: ((line: string | null) => void)[] = [];
  let ended = false;
  let rl: Interface | undefined;
  const open = (): Interface => {
    if (rl !== undefined) return rl;
    // Loaded on first prompt: most commands never read stdin, and start-up pays for every module.
    const { createInterface } = process.getBuiltinModule('node:readline');
    rl = createInterface({ input, output: echo, terminal, crlfDelay: Infinity });
    rl.on('line', (line) => {
      const w = waiting.shift();
      if (w !== undefined) w(line);
      else lines.push(line);
      if (waiting.length === 0) rl?.pause();
    });
    rl.on('close', () => {
      ended = true;
      for (const w of waiting.splice(0)) w(null);
    });
    return rl;
  };
  return {
    async question(prompt, opts = {}) {
      const hidden = opts.echo === false;
      // Put the terminal into readline's raw mode before the prompt appears: typing that starts as
      // soon as the prompt shows must never reach the terminal's own (cooked-mode) echo.
      if (!ended) {
        muted = hidden;
        open();
      }
      output.write(prompt);
      const queued = lines.shift();
      let line: string | null;
      if (queued !== undefined) {
        line = queued;
      } else if (ended) {
        line = null;
      } else {
        const r = open();
        line = await new Promise<string | null>((resolve) => {
          waiting.push(resolve);
          r.resume();
        });
      }
      muted = false;
      if (hidden) output.write('\n');
      return line;
    },
    close() {
      rl?.close();
      rl = undefined;
    },
  };
}

let shared: LineReader | undefined;

/** The process-wide reader over stdin, prompting on stderr. */
export function sharedLineReader(): LineReader {
  shared ??= createLineReader(process.stdin, process.stderr, process.stdin.isTTY === true);
  return shared;
}

/** Releases stdin; the next prompt opens it again. */
export function closePrompts(): void {
  shared?.close();
  shared = undefined;
}

/**
 * notary's `askConfirm`: true for `y` or `yes` (any case); false for anything else or no input.
 * The prompt goes to `output` (stdout for notary's remove and rotate questions).
 */
export async function askConfirm(reader: LineReader, prompt: string, output: NodeJS.WritableStream = process.stdout): Promise<boolean> {
  output.write(prompt);
  const answer = await reader.question('');
  const word = (answer ?? '').trim().split(/\s+/)[0] ?? '';
  return word.toLowerCase() === 'y' || word.toLowerCase() === 'yes';
}

/** The ` with ID abc1234` part of notary's prompts (with `(prefix)` for `prefix/id` names). */
function withIdText(keyName: string): string {
  const sep = keyName.lastIndexOf('/');
  let short = '';
  if (sep > 0 && keyName.length > sep + ID_CHARS_TO_DISPLAY) {
    short = `${keyName.slice(sep + 1, sep + 1 + ID_CHARS_TO_DISPLAY)} (${keyName.slice(0, sep)})`;
  } else if (sep <= 0 && keyName.length > ID_CHARS_TO_DISPLAY) {
    short = keyName.slice(0, ID_CHARS_TO_DISPLAY);
  }
  return short === '' ? '' : ` with ID ${short}`;
}

export interface PromptRetrieverOptions {
  readonly reader: LineReader;
  /** Where notices (warnings, "Passphrase incorrect") go; prompts go through the reader. */
  readonly output: NodeJS.WritableStream;
  /** Display names for aliases (docker's map); unmapped aliases are shown as they are. */
  readonly aliasNames?: Readonly<Record<string, string>>;
}

/** notary's prompt retriever. */
export function promptRetriever(opts: PromptRetrieverOptions): PassphraseRetriever {
  const cache = new Map<string, string>();
  const say = (line: string): void => {
    opts.output.write(line + '\n');
  };
  return async (req: PassphraseRequest) => {
    if (req.attempt === 0) {
      if (req.alias === 'root' && req.createNew) say(ROOT_KEY_WARNING);
      const cached = cache.get(req.alias);
      if (cached !== undefined) return { passphrase: cached, giveUp: false };
    } else if (!req.createNew) {
      if (req.attempt > PROMPT_RETRIES) throw new KeyStoreError('ATTEMPTS_EXCEEDED', 'too many attempts');
      say('Passphrase incorrect. Please retry.');
    }
    const display = opts.aliasNames?.[req.alias] ?? req.alias;
    const withId = withIdText(req.keyName);
    const entered = await opts.reader.question(
      req.createNew ? `Enter passphrase for new ${display} key${withId}: ` : `Enter passphrase for ${display} key${withId}: `,
      { echo: false });
    if (entered === null) throw new KeyStoreError('NO_PASSPHRASE_INPUT', 'no passphrase entered (end of input)');
    const passphrase = entered.trim();
    if (req.createNew) {
      if (Buffer.byteLength(passphrase) < MIN_PASSPHRASE_BYTES) {
        say('Passphrase is too short. Please use a password manager to generate and store a good random passphrase.');
        throw new KeyStoreError('PASSPHRASE_REJECTED', 'passphrase too short');
      }
      const again = await opts.reader.question(`Repeat passphrase for new ${display} key${withId}: `, { echo: false });
      if ((again ?? '').trim() !== passphrase) {
        say('Passphrases do not match. Please retry.');
        throw new KeyStoreError('PASSPHRASE_REJECTED', 'the entered passphrases do not match');
      }
    }
    cache.set(req.alias, passphrase);
    return { passphrase, giveUp: false };
  };
}

export interface CliRetrieverOptions {
  readonly mode: PassphraseEnvMode;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Defaults to the shared reader when stdin is a terminal; otherwise there is no prompt. */
  readonly reader?: LineReader;
  readonly output?: NodeJS.WritableStream;
  readonly interactive?: boolean;
}

/**
 * The retriever a command uses: environment first, then a prompt on a terminal. Each call makes a
 * fresh one (its own passphrase cache), as notary does for `key passwd`.
 */
export function cliPassphraseRetriever(opts: CliRetrieverOptions): PassphraseRetriever {
  const interactive = opts.interactive ?? process.stdin.isTTY === true;
  const prompt = interactive
    ? promptRetriever({
      reader: opts.reader ?? sharedLineReader(), output: opts.output ?? process.stderr,
      ...(opts.mode === 'docker' ? { aliasNames: DOCKER_ALIAS_NAMES } : {}),
    })
    : undefined;
  return envRetriever(opts.env ?? process.env, opts.mode, prompt);
}

/**
 * A retriever for a passphrase that belongs to no key (a backup passphrase): from `variable`, or
 * a prompt on a terminal (twice, at least 8 bytes, when new).
 */
export function namedPassphraseRetriever(label: string, variable: string, opts: Omit<CliRetrieverOptions, 'mode'> = {}): PassphraseRetriever {
  const env = opts.env ?? process.env;
  const interactive = opts.interactive ?? process.stdin.isTTY === true;
  const prompt = interactive
    ? promptRetriever({ reader: opts.reader ?? sharedLineReader(), output: opts.output ?? process.stderr })
    : undefined;
  return (req) => {
    const value = env[variable];
    if (value !== undefined && value !== '') return Promise.resolve({ passphrase: value, giveUp: req.attempt > 1 });
    if (prompt !== undefined) return prompt({ ...req, alias: label, keyName: '' });
    return Promise.reject(new KeyStoreError('NO_PASSPHRASE_INPUT',
      `please either use environment variables or STDIN with a terminal to provide key passphrases: set ${variable} for the ${label} passphrase`));
  };
}

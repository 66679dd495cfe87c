/**
 * Credential sources for the trust server's token service, in the order the notary CLI and docker
 * consult them: `NOTARY_AUTH` (base64 of `user:password`), the `auths` of a docker config.json
 * (base64 `auth`, `username`/`password`, or `identitytoken`), then an interactive prompt.
 *
 * Contract: a source returns undefined when it has nothing for the host; a malformed value is
 * reported through the logger and skipped (never sent).
 */
import { readFile } from 'node:fs/promises';
import type { CredentialSource, Credentials } from './auth.ts';
import type { Logger } from './log.ts';

/** `NOTARY_AUTH`: base64 of `<username>:<password>`. */
export function notaryAuthSource(value: string | undefined, log: Logger): CredentialSource {
  return {
    get: () => {
      if (value === undefined || value === '') return Promise.resolve(undefined);
      const plain = Buffer.from(value, 'base64').toString('utf8');
      const i = plain.indexOf(':');
      if (i === 0) {
        log.error('Authentication string with zero-length username');
        return Promise.resolve(undefined);
      }
      if (i < 0) {
        log.error('Malformatted authentication string; format must be <username>:<password>');
        return Promise.resolve(undefined);
      }
      return Promise.resolve({ kind: 'basic', username: plain.slice(0, i), password: plain.slice(i + 1).trim() });
    },
  };
}

interface DockerAuthEntry {
  readonly auth?: unknown;
  readonly username?: unknown;
  readonly password?: unknown;
  readonly identitytoken?: unknown;
}

function entryCredentials(entry: DockerAuthEntry): Credentials | undefined {
  let username = typeof entry.username === 'string' ? entry.username : '';
  let password = typeof entry.password === 'string' ? entry.password : '';
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i > 0) {
      username = plain.slice(0, i);
      password = plain.slice(i + 1);
    }
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    return { kind: 'identityToken', username, token: entry.identitytoken };
  }
  return username !== '' ? { kind: 'basic', username, password } : undefined;
}

/** Keys docker may have stored a server's credentials under. */
function candidateKeys(host: string): string[] {
  return [host, `https://${host}`, `http://${host}`, `https://${host}/v1/`, `https://${host}/v2/`];
}

/** The `auths` section of a docker config.json (`$DOCKER_CONFIG/config.json`). */
export function dockerConfigSource(configFile: string, log: Logger): CredentialSource {
  return {
    get: async (host) => {
      let text: string;
      try {
        text = await readFile(configFile, 'utf8');
      } catch {
        return undefined;
      }
      let auths: Record<string, DockerAuthEntry>;
      try {
        const doc = JSON.parse(text) as { auths?: Record<string, DockerAuthEntry> };
        auths = typeof doc.auths === 'object' && doc.auths !== null ? doc.auths : {};
      } catch {
        log.warn(`ignoring ${configFile}: it is not valid JSON`);
        return undefined;
      }
      for (const key of candidateKeys(host)) {
        const entry = auths[key];
        if (entry !== undefined && typeof entry === 'object') {
          const c = entryCredentials(entry);
          if (c !== undefined) return c;
        }
      }
      return undefined;
    },
  };
}

/** Asks the user (the CLI supplies `ask`); an empty username means none. */
export function promptSource(ask: (host: string) => Promise<{ username: string; password: string } | undefined>): CredentialSource {
  return {
    get: async (host) => {
      const a = await ask(host);
      if (a === undefined || a.username.trim() === '') return undefined;
      return { kind: 'basic', username: a.username.trim(), password: a.password.trim() };
    },
  };
}

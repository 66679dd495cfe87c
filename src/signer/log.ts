/**
 * The signer's structured log: one JSON object per line (`time`, `level`, `msg`, fields), filtered
 * by notary's `logging.level` names. Callers pass key IDs, aliases and error messages only; no
 * caller ever hands it passphrases, key bytes or JWE text.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'panic';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'fatal', 'panic'];

export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export interface SignerLog {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** logrus accepts `warning` for `warn`; anything unknown is an error at config time. */
export function parseLogLevel(s: string): LogLevel | undefined {
  const l = s.toLowerCase() === 'warning' ? 'warn' : s.toLowerCase();
  return (LOG_LEVELS as readonly string[]).includes(l) ? (l as LogLevel) : undefined;
}

export function createLog(level: LogLevel, write: (line: string) => void, now: () => Date = () => new Date()): SignerLog {
  const threshold = LOG_LEVELS.indexOf(level);
  const emit = (l: LogLevel) => (msg: string, fields: LogFields = {}): void => {
    if (LOG_LEVELS.indexOf(l) < threshold) return;
    write(`${JSON.stringify({ time: now().toISOString(), level: l, msg, ...fields })}\n`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export const SILENT_LOG: SignerLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The client's logging port. Workflows report warnings (near expiry, cached timestamp, skipped
 * delegations) and debug detail through it; the CLI decides where they go and at which level
 * (notary: warn by default, `-v` info, `-D` debug, on stderr).
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** A logger that records every line; for tests and for callers that show warnings themselves. */
export function recordingLogger(): Logger & { readonly lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: string) => {
    lines.push({ level, message });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

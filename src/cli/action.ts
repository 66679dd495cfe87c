/**
 * The error style every CLI command shares: notary's `* fatal: <message>` on stderr and exit code 1;
 * stdin (the shared prompt reader) is always released so the process can exit.
 */
import { closePrompts } from './passphrase.ts';

export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      process.stderr.write(`* fatal: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    } finally {
      closePrompts();
    }
  };
}

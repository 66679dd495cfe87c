/**
 * The one base class for every error Vouch raises on purpose.
 *
 * Each error carries a stable `code` that scripts, tests and the HTTP layer can rely on, and a
 * message in notary's wording where notary users and scripts already depend on that text. This
 * module imports nothing so that every layer, including the pure core, can use it.
 */
export class VouchError<C extends string = string> extends Error {
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** True when `e` is a VouchError carrying `code`; handy in tests and in error mapping. */
export function hasCode(e: unknown, code: string): boolean {
  return e instanceof VouchError && e.code === code;
}

const IO_REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EROFS: 'read-only file system',
  EEXIST: 'file exists',
  EIO: 'input/output error',
};

/** A short description of a Node I/O error (`permission denied`, `no space left on device`). */
export function describeIoError(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && IO_REASONS[code] !== undefined) return IO_REASONS[code];
  return e instanceof Error ? e.message : String(e);
}

/** True when `e` is a Node system error with this `code` (`ENOENT`, …). */
export function isNodeError(e: unknown, code: string): boolean {
  return (e as { code?: unknown } | null)?.code === code;
}

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

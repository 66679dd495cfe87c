/**
 * Where the repository's own fixtures are: test/fixtures/ (see its README). Tests read nothing
 * outside the repository, so a fresh clone with nothing beside it runs them.
 */
import { fileURLToPath } from 'node:url';

/** The trust directories written by notary 0.1 and 0.3 (test/fixtures/notary-compat). */
export const NOTARY_COMPAT = fileURLToPath(new URL('../fixtures/notary-compat', import.meta.url));

/** `vouch trust push|pull|plugin` with a real engine against the Debian notary-server (see engine-suite.ts). */
import { notaryPeersUnavailableReason, startNotaryHarness } from '../helpers/notary-harness.ts';
import { engineSuite } from './engine-suite.ts';

engineSuite('notary-server', () => startNotaryHarness(), notaryPeersUnavailableReason());

/** `vouch trust push|pull|plugin` with a real engine against Vouch's trust server (see engine-suite.ts). */
import { startVouchHarness } from '../server/harness.ts';
import { engineSuite } from './engine-suite.ts';

engineSuite('vouch server', () => startVouchHarness(), undefined);

// Types of bin/build.mjs for the TypeScript that imports it (bench/client.ts).
export declare const BUNDLE: string;
export declare const INPUTS: string;
/** Builds dist/vouch.cjs and its input list; resolves with the script's path. */
export declare function buildCli(): Promise<string>;
export function buildFrontEnd(): string | undefined;

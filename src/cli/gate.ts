/**
 * `vouch gate`: the registry front that serves only signed images (src/gate/server.ts). This file
 * only reads flags and config, starts the gate, writes one JSON line per decision to stdout and
 * warnings to stderr, and stops on SIGINT/SIGTERM.
 */
import type { Command } from '@commander-js/extra-typings';
import type { Logger } from '../client/log.ts';
import { tokenAuthorizer } from '../gate/auth.ts';
import { loadGateConfig, type GateFlags } from '../gate/config.ts';
import { startGate } from '../gate/server.ts';

const EXAMPLE = `
Example:
  vouch gate --upstream http://127.0.0.1:5001 --listen 127.0.0.1:5000 \\
    --trust-server https://127.0.0.1:4443 --trust-ca ca.crt
  docker pull 127.0.0.1:5000/team/app:1.0      # only if 127.0.0.1:5001/team/app:1.0 is signed

Config file (--config, JSON; flags win):
  { "upstream": { "url": "https://registry.example.com", "username": "u", "password": "p" },
    "trust_server": { "url": "https://notary.example.com:4443", "ca": "ca.crt" },
    "listen": "0.0.0.0:5000", "tls": { "cert": "gate.crt", "key": "gate.key" },
    "auth": { "type": "token", "options": { "realm": "…", "service": "…", "issuer": "…", "rootcertbundle": "…" } },
    "policies": [ { "repository": "prod/*", "signers": ["alice", "bob"], "threshold": 2 },
                  { "repository": "scratch/*", "unsigned": "allow" } ],
    "gun_prefixes": [ { "prefix": "mirror/", "gun": "docker.io/library/" } ],
    "trust_pinning": { "certs": {}, "ca": {}, "disable_tofu": false },
    "cache": { "ttl_seconds": 10 }, "trust_dir": "/var/cache/vouch-gate" }
`;

const stderrLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (m) => void process.stderr.write(`vouch gate: warning: ${m}\n`),
  error: (m) => void process.stderr.write(`vouch gate: ${m}\n`),
};

async function gate(flags: GateFlags): Promise<void> {
  const c = loadGateConfig(flags, process.env, stderrLogger);
  const running = await startGate({
    upstream: { url: c.upstreamUrl, credentials: c.upstreamCredentials, ...(c.upstreamCa !== undefined ? { tls: { ca: c.upstreamCa } } : {}) },
    trust: {
      serverUrl: c.trustServer, trustDir: c.trustDir, ttlMs: c.ttlMs,
      ...(c.trustCa !== undefined ? { tls: { ca: c.trustCa } } : {}),
      ...(c.pinning !== undefined ? { pinning: c.pinning } : {}),
    },
    policies: c.policies, gunPrefixes: c.gunPrefixes, host: c.host, port: c.port,
    ...(c.tls !== undefined ? { tls: c.tls } : {}),
    ...(c.tokenAuth !== undefined ? { auth: tokenAuthorizer(c.tokenAuth) } : {}),
    allowInsecureListen: c.allowInsecureListen,
    log: (entry) => void process.stdout.write(`${JSON.stringify(entry)}\n`),
    logger: stderrLogger,
  });
  process.stderr.write(`vouch gate: serving ${c.upstreamUrl} through ${running.url} (trust server ${c.trustServer})\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      void running.close().finally(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export function registerGateCommands(program: Command): void {
  program
    .command('gate')
    .description('serve a registry through content trust: only signed tags and their content can be pulled')
    .option('--upstream <url>', 'the registry to serve (http(s)://host[:port])')
    .option('--listen <addr>', 'listen address (default 127.0.0.1:5000; plain HTTP only on loopback)')
    .option('--trust-server <url>', 'the notary/Vouch trust server')
    .option('--trust-ca <file>', 'CA bundle for the trust server')
    .option('--tls-cert <file>', 'TLS certificate of the gate')
    .option('--tls-key <file>', 'TLS key of the gate')
    .option('-c, --config <file>', 'JSON configuration (policies, credentials, pinning, auth, …)')
    .addHelpText('after', EXAMPLE)
    .action((opts) =>
      gate(opts).catch((e: unknown) => {
        process.stderr.write(`vouch gate: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
      }));
}

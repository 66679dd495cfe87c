/**
 * `vouch migrate GUN --to URL` (Vouch extension): moves a collection from the trust server it is
 * on (`-s`, or the config's) to another one, e.g. off notary.docker.io before it shuts down. The
 * work is src/client/migrate.ts; this file parses the destination's flags and prints the outcome.
 */
import { resolve } from 'node:path';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { RemoteStore } from '../../client/remote.ts';
import { action, out, serverTransport, withGlobalFlags } from './context.ts';
import { withRepo } from './targets.ts';

interface MigrateOpts { to: string; toTlscacert?: string; toTlscert?: string; toTlskey?: string }

export function migrateCommand(): CommandUnknownOpts {
  return withGlobalFlags(new Command('migrate')
    .description('Moves a trusted collection to another trust server: verified on the server it is on (-s), then published to --to with that server\'s timestamp and, if the old server held it, snapshot keys; needs the root key (Vouch extension)')
    .argument('<gun>')
    .requiredOption('--to <url>', 'The trust server to move the collection to')
    .option('--to-tlscacert <file>', 'Trust certs of the destination signed only by this CA')
    .option('--to-tlscert <file>', 'TLS certificate file for the destination')
    .option('--to-tlskey <file>', 'TLS key file for the destination'))
    .action(action(async (gun: string, opts: MigrateOpts, cmd: CommandUnknownOpts) => {
      const file = (p: string | undefined) => (p === undefined || p === '' ? undefined : resolve(p));
      await withRepo(cmd, gun, true, async (h) => {
        const from = h.config.remoteServer.url ?? '(none)';
        const destination = serverTransport(gun, {
          url: opts.to, rootCa: file(opts.toTlscacert), tlsClientCert: file(opts.toTlscert), tlsClientKey: file(opts.toTlskey), skipTlsVerify: false,
        }, h.log);
        try {
          out(`Migrating ${gun} from ${from} to ${opts.to}\n`);
          const r = await h.repo.migrateTo(new RemoteStore(destination, gun));
          out(`Successfully migrated ${gun}: ${r.uploaded.join(', ')} now on ${opts.to}\n`);
          out(`Point clients at the new server: vouch -s ${opts.to} …, notary -s ${opts.to} …, DOCKER_CONTENT_TRUST_SERVER=${opts.to}\n`);
        } finally {
          await destination.close();
        }
      });
    }));
}

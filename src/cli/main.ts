/**
 * The `vouch` command line. Subcommands are added per capability; this file only wires them.
 */
import { Command } from '@commander-js/extra-typings';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('vouch')
  .description('Docker Content Trust / Notary v1: trust client, trust server and signer, compatible with notary 0.7')
  .version(pkg.version, '--version', 'print the version and exit');

program
  .command('version')
  .description('print the version')
  .action(() => {
    process.stdout.write(`vouch\n Version:    ${pkg.version}\n`);
  });

program
  .command('server')
  .description('run the trust server (notary-server API); with no --config: the embedded default on 127.0.0.1:4443')
  .option('-c, --config <file>', 'notary-server JSON configuration file')
  .action(() => {
    process.stderr.write('vouch server: the trust server is not built yet (tracked in issue #5); nothing was started\n');
    process.exitCode = 2;
  });

await program.parseAsync(process.argv);

/**
 * `vouch trust migrate REPOSITORY --to URL`: the docker-flavoured `vouch migrate` (see
 * ../migrate.ts). The repository name is an image name as docker reads it (`team/app` is
 * `docker.io/team/app`), the old server is the one docker would use for it (§12.1:
 * DOCKER_CONTENT_TRUST_SERVER, notary.docker.io for Docker Hub, else https://<registry>), and each
 * server's CA and client certificate come from `<docker config>/tls/<host[:port]>/`, as docker
 * reads them; the registry login is offered to both servers' token services.
 */
import type { MigrateResult } from '../migrate.ts';
import { RemoteStore } from '../remote.ts';
import type { ImageReference } from './reference.ts';
import { trustTransport, withTrust, type DockerContext } from './session.ts';

export interface ImageMigration extends MigrateResult {
  readonly from: string;
  readonly to: string;
}

export async function migrateImageTrust(ctx: DockerContext, ref: ImageReference, to: string): Promise<ImageMigration> {
  const destination = trustTransport(ctx, ref, to);
  try {
    // Staged changes are not docker's to keep (K17) and a migration publishes none of them.
    return await withTrust(ctx, ref, async (s) => ({
      ...(await s.repo.migrateTo(new RemoteStore(destination, ref.name))), from: s.serverUrl, to,
    }));
  } finally {
    await destination.close();
  }
}

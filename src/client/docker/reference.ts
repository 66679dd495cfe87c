/**
 * Docker image references (`[domain/]path[:tag][@digest]`) normalised the way docker does it
 * (distribution/reference `ParseNormalizedNamed`): a first component without `.`/`:` that is not
 * `localhost` (and is lowercase) is part of the path on docker.io; `index.docker.io` is docker.io;
 * single-component docker.io names get `library/`. The GUN of a repository is `domain/path`
 * (docs/formats.md §12.1), e.g. `docker.io/library/alpine`.
 *
 * Errors keep docker's wording (`invalid reference format`, `… must be lowercase`, …).
 */
import { ClientError } from '../errors.ts';

export const DOCKER_IO = 'docker.io';
const LEGACY_DOCKER_IO = 'index.docker.io';
/** Where docker.io's Registry API lives. */
export const DOCKER_IO_REGISTRY_HOST = 'registry-1.docker.io';
const MAX_NAME_LENGTH = 255;

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const NAME = new RegExp(`^(?:(${DOMAIN})/)?(${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)$`);
const IDENTIFIER = /^[a-f0-9]{64}$/;

export interface ImageReference {
  /** The text as the user typed it (docker prints it back in messages). */
  readonly original: string;
  /** Registry index name: `docker.io`, `registry.example.com:5000`, `127.0.0.1:5000`. */
  readonly domain: string;
  /** Repository path inside the registry: `library/alpine`, `team/app`. */
  readonly path: string;
  /** The fully qualified name, which is also the GUN: `docker.io/library/alpine`. */
  readonly name: string;
  /** docker's short form: `alpine`, `user/app`, `registry:5000/team/app`. */
  readonly familiarName: string;
  readonly tag: string | undefined;
  /** `sha256:<hex>` when the reference pins a digest. */
  readonly digest: string | undefined;
  /** True for Docker Hub (trust server `https://notary.docker.io`). */
  readonly official: boolean;
}

function invalid(message: string): ClientError {
  return new ClientError('INVALID_INPUT', message);
}

/** distribution's splitDockerDomain. */
function splitDomain(text: string): { domain: string; remainder: string } {
  const slash = text.indexOf('/');
  if (slash < 0) return { domain: DOCKER_IO, remainder: `library/${text}` };
  const first = text.slice(0, slash);
  const rest = text.slice(slash + 1);
  let domain: string;
  let remainder: string;
  if (first === 'localhost' || /[.:]/.test(first) || first.toLowerCase() !== first) {
    domain = first === LEGACY_DOCKER_IO ? DOCKER_IO : first;
    remainder = rest;
  } else {
    domain = DOCKER_IO;
    remainder = text;
  }
  if (domain === DOCKER_IO && !remainder.includes('/')) remainder = `library/${remainder}`;
  return { domain, remainder };
}

function checkDigest(digest: string): void {
  const [alg, hex] = digest.split(':') as [string, string];
  if (alg !== 'sha256' && alg !== 'sha384' && alg !== 'sha512') throw invalid('unsupported digest algorithm');
  const want = alg === 'sha256' ? 64 : alg === 'sha384' ? 96 : 128;
  if (hex.length !== want) throw invalid('invalid checksum digest length');
  if (!/^[a-f0-9]+$/.test(hex)) throw invalid('invalid checksum digest format');
}

/** docker's familiar form of `domain/path`. */
export function familiarName(domain: string, path: string): string {
  if (domain !== DOCKER_IO) return `${domain}/${path}`;
  if (path.startsWith('library/') && !path.slice('library/'.length).includes('/')) return path.slice('library/'.length);
  return path;
}

/** Parses and normalises an image reference as `docker trust` commands do. */
export function parseImageReference(text: string): ImageReference {
  if (IDENTIFIER.test(text)) throw invalid(`invalid repository name (${text}), cannot specify 64-byte hexadecimal strings`);
  const { domain, remainder } = splitDomain(text);
  const colon = remainder.indexOf(':');
  const remote = colon >= 0 ? remainder.slice(0, colon) : remainder;
  if (remote.toLowerCase() !== remote) throw invalid(`invalid reference format: repository name (${remote}) must be lowercase`);
  const full = `${domain}/${remainder}`;
  const m = REFERENCE.exec(full);
  if (m === null) throw invalid('invalid reference format');
  const name = m[1] as string;
  if (name.length > MAX_NAME_LENGTH) throw invalid(`repository name must not be more than ${MAX_NAME_LENGTH} characters`);
  const nm = NAME.exec(name);
  if (nm === null) throw invalid('invalid reference format');
  const digest = m[3];
  if (digest !== undefined) checkDigest(digest);
  const path = nm[2] as string;
  return {
    original: text,
    domain,
    path,
    name,
    familiarName: familiarName(domain, path),
    tag: m[2],
    digest,
    official: domain === DOCKER_IO,
  };
}

/** The host:port that serves the Registry HTTP API for an index name. */
export function registryApiHost(domain: string): string {
  return domain === DOCKER_IO ? DOCKER_IO_REGISTRY_HOST : domain;
}

/** `<name>@<digest>` in the familiar or the fully qualified form. */
export function digestReference(ref: ImageReference, digest: string, form: 'familiar' | 'full' = 'familiar'): string {
  return `${form === 'full' ? ref.name : ref.familiarName}@${digest}`;
}

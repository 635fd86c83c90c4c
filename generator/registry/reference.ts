import { InputError } from '../model/index.js';

/** Where a bad reference comes from: the catalog's images, or a site's registry mirror. */
const HINT = 'check the image references of the catalog release and spec.artifacts.registryMirrors';

/** A parsed image reference: `registry/repository[:tag][@digest]`. */
export interface ImageRef {
  registry: string;
  repository: string;
  tag: string | null;
  digest: string | null;
}

/**
 * Parses a full reference as the catalog and the plan write them (registry host always present;
 * Docker Hub's short names are normalised: `docker.io/flannel/x` keeps its path, `docker.io/x`
 * becomes `library/x`).
 */
export function parseRef(ref: string): ImageRef {
  const at = ref.indexOf('@');
  const digest = at >= 0 ? ref.slice(at + 1) : null;
  const rest = at >= 0 ? ref.slice(0, at) : ref;
  const slash = rest.indexOf('/');
  if (slash < 0) throw new InputError(`image reference '${ref}' names no registry`, [], HINT);
  const registry = rest.slice(0, slash);
  let path = rest.slice(slash + 1);
  const colon = path.lastIndexOf(':');
  const tag = colon > path.lastIndexOf('/') && colon >= 0 ? path.slice(colon + 1) : null;
  if (tag !== null) path = path.slice(0, colon);
  if (registry === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(path))
    throw new InputError(`image reference '${ref}': '${path}' is not a repository name`, [], HINT);
  if (digest !== null && !/^sha256:[0-9a-f]{64}$/.test(digest)) throw new InputError(`image reference '${ref}': '${digest}' is not a sha256 digest`, [], HINT);
  if (tag === null && digest === null) throw new InputError(`image reference '${ref}' has neither tag nor digest`, [], HINT);
  return { registry, repository: path, tag, digest };
}

/**
 * The base URL a registry host is reached at. A mirror written with `http://` is plain HTTP
 * (a registry on the build machine or the site LAN); everything else is HTTPS. Docker Hub's API
 * lives at registry-1.docker.io.
 */
export function registryEndpoint(host: string, mirrors: Record<string, string>): string {
  for (const m of Object.values(mirrors)) {
    const u = /^(https?):\/\/([^/]+)/.exec(m);
    if (u && u[2] === host) return `${u[1]}://${host}`;
  }
  if (host === 'docker.io') return 'https://registry-1.docker.io';
  return `https://${host}`;
}

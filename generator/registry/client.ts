import { createHash } from 'node:crypto';
import { FailureError } from '../model/index.js';
import type { HttpClient, Response } from '../fetch/http.js';
import { parseChallenge, type Credentials } from './auth.js';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

export const INDEX_TYPES: ReadonlySet<string> = new Set([MEDIA.ociIndex, MEDIA.dockerList]);
const ACCEPT = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface FetchedManifest {
  bytes: Buffer;
  digest: string;
  mediaType: string;
}

/** Where one repository lives: the base URL, the host used for credentials, and the path. */
export interface Repo {
  endpoint: string;
  host: string;
  repository: string;
}

/**
 * Docker Registry HTTP API v2 / OCI distribution, pull side: anonymous, bearer-token (from the
 * WWW-Authenticate challenge) and basic auth. Tokens are kept per repository for the run.
 */
export class RegistryClient {
  private readonly auth = new Map<string, string>();

  constructor(
    private readonly http: HttpClient,
    private readonly credentials: Map<string, Credentials>,
  ) {}

  /** The Authorization header for a repository, once a challenge has been answered. */
  headers(repo: Repo): Record<string, string> {
    const a = this.auth.get(key(repo));
    return a ? { authorization: a } : {};
  }

  /** GET below /v2/ of the repository, answering one authentication challenge if asked. */
  async get(repo: Repo, path: string, headers: Record<string, string> = {}): Promise<Response> {
    const url = `${repo.endpoint}/v2/${repo.repository}/${path}`;
    let res = await this.http.get(url, { ...headers, ...this.headers(repo) }, [401, 404]);
    if (res.status === 401) {
      await this.answer(repo, String(res.headers['www-authenticate'] ?? ''), url);
      res = await this.http.get(url, { ...headers, ...this.headers(repo) }, [401, 404]);
      if (res.status === 401)
        throw new FailureError(
          `${repo.host}/${repo.repository}: the registry refused the credentials`,
          this.credentials.has(repo.host)
            ? 'check the credentials for this host (--registry-auth, ~/.docker/config.json)'
            : `no credentials for ${repo.host}: add them to ~/.docker/config.json or a file given with --registry-auth`,
        );
    }
    if (res.status === 404) throw new FailureError(`${repo.host}/${repo.repository}: ${path} not found on the registry (${url})`);
    return res;
  }

  private async answer(repo: Repo, header: string, url: string): Promise<void> {
    const ch = parseChallenge(header);
    const creds = this.credentials.get(repo.host);
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : null;
    if (ch?.scheme === 'basic') {
      if (!basic)
        throw new FailureError(
          `${repo.host} asks for a user name and password (${url})`,
          `add credentials for ${repo.host} to ~/.docker/config.json or a file given with --registry-auth`,
        );
      this.auth.set(key(repo), basic);
      return;
    }
    if (ch?.scheme !== 'bearer' || !ch.params.realm) throw new FailureError(`${url}: unsupported authentication challenge '${header}'`);
    const q = new URLSearchParams();
    if (ch.params.service) q.set('service', ch.params.service);
    q.set('scope', `repository:${repo.repository}:pull`);
    const tokenUrl = `${ch.params.realm}${ch.params.realm.includes('?') ? '&' : '?'}${q.toString()}`;
    const res = await this.http.get(tokenUrl, basic ? { authorization: basic } : {}, [401, 403]);
    if (res.status !== 200)
      throw new FailureError(`${repo.host}: the token service ${ch.params.realm} refused (HTTP ${res.status})`, 'check the credentials for this host');
    const body = JSON.parse(res.body.toString('utf8')) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new FailureError(`${repo.host}: the token service ${ch.params.realm} returned no token`);
    this.auth.set(key(repo), `Bearer ${token}`);
  }

  /** A manifest or index by tag or digest; its digest is computed from the bytes and checked. */
  async manifest(repo: Repo, reference: string): Promise<FetchedManifest> {
    const res = await this.get(repo, `manifests/${reference}`, { accept: ACCEPT });
    const digest = `sha256:${createHash('sha256').update(res.body).digest('hex')}`;
    const claimed = String(res.headers['docker-content-digest'] ?? '');
    if (reference.startsWith('sha256:') && digest !== reference)
      throw new FailureError(`${repo.host}/${repo.repository}@${reference}: the registry sent a manifest whose digest is ${digest}`);
    if (claimed.startsWith('sha256:') && claimed !== digest)
      throw new FailureError(`${repo.host}/${repo.repository}:${reference}: Docker-Content-Digest ${claimed} does not match the bytes (${digest})`);
    return { bytes: res.body, digest, mediaType: mediaTypeOf(res.body, String(res.headers['content-type'] ?? '')) };
  }

  blobUrl(repo: Repo, digest: string): string {
    return `${repo.endpoint}/v2/${repo.repository}/blobs/${digest}`;
  }
}

function key(repo: Repo): string {
  return `${repo.endpoint}/${repo.repository}`;
}

/** The manifest's own mediaType field wins; the Content-Type header is the fallback. */
export function mediaTypeOf(bytes: Buffer, contentType: string): string {
  try {
    const m = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
    if (m) return m;
  } catch {
    throw new FailureError(`manifest is not JSON (Content-Type ${contentType})`);
  }
  return contentType.split(';')[0]!.trim();
}

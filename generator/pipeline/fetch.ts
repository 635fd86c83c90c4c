import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { asFailure, fetchArtifact, LockMismatchError, MissingError, UnreachableError, type FetchedFile, type FetchEvents } from '../fetch/artifacts.js';
import { BlobCache } from '../fetch/cache.js';
import { eachLimited, HttpClient, type HttpSettings } from '../fetch/http.js';
import { emptyLock, readLock, writeLock, type Lock } from '../fetch/lock.js';
import { FailureError, isSystemError, type BundlePlan, type ResolvedOsRepo, type ResolvedSite } from '../model/index.js';
import { fetchDeb, resolveOsRepo, type ResolvedRepo } from '../ospkg/fetch.js';
import { readDockerConfig } from '../registry/auth.js';
import { RegistryClient } from '../registry/client.js';
import { pullImage, type PulledImage } from '../registry/mirror.js';

export interface FetchOptions {
  cacheDir: string;
  lockPath: string;
  offline: boolean;
  updateLock: boolean;
  parallel: number;
  http: HttpSettings;
  /** A Docker config.json with credentials; without it ~/.docker/config.json is used when present. */
  registryAuth?: string;
  events: FetchEvents;
}

export interface FetchOutcome {
  cache: BlobCache;
  /** Per artifact id. */
  files: Map<string, FetchedFile>;
  images: PulledImage[];
  /** The nodes' OS packages per repository, every `.deb` in the cache (`cache.blobPath(sha256)`). */
  osRepos: ResolvedOsRepo[];
  lock: Lock;
  lockWritten: boolean;
  /** Bytes that crossed the network. */
  transferred: number;
}

/** `<dir>/<name>.lock.json` beside the blueprint file. */
export function defaultLockPath(blueprintFile: string): string {
  return join(dirname(blueprintFile), `${basename(blueprintFile).replace(/\.ya?ml$/, '')}.lock.json`);
}

/**
 * Every artifact and image of the plan into the cache, verified, and the lock brought up to
 * date. The lock is written only when everything succeeded; the cache only ever holds verified
 * blobs, so an interrupted run leaves nothing wrong behind, just partial files to resume.
 */
export async function fetchSite(site: ResolvedSite, plan: BundlePlan, opts: FetchOptions): Promise<FetchOutcome> {
  const cache = new BlobCache(opts.cacheDir);
  const previous = await readLock(opts.lockPath);
  if (previous && previous.site !== site.name)
    throw new FailureError(`${opts.lockPath} is the lock of site '${previous.site}', not '${site.name}'`, 'give this site its own lock with --lock');
  const http = opts.offline ? null : new HttpClient(opts.http);
  const credentials = await readDockerConfig(
    opts.registryAuth ?? join(opts.http.env.HOME ?? homedir(), '.docker', 'config.json'),
    opts.registryAuth !== undefined,
  );
  const registry = http ? new RegistryClient(http, credentials) : null;
  let transferred = 0;
  const events: FetchEvents = {
    ...opts.events,
    done(id, r) {
      transferred += r.transferred;
      opts.events.done(id, r);
    },
  };
  const ctx = {
    http,
    cache,
    lock: previous,
    updateLock: opts.updateLock,
    events,
    registry,
    mirrors: site.artifacts.registryMirrors,
    inflight: new Map<string, Promise<unknown>>(),
  };

  const byRef = new Map<string, { ref: string; pullFrom: string; platforms: string[] }>();
  for (const i of plan.images) {
    const e = byRef.get(i.ref) ?? { ref: i.ref, pullFrom: i.pullFrom, platforms: [] };
    if (!e.platforms.includes(i.platform)) e.platforms.push(i.platform);
    byRef.set(i.ref, e);
  }
  const files = new Map<string, FetchedFile>();
  const images = new Map<string, PulledImage>();
  const missing: string[] = [];
  const failures: Error[] = [];
  const osRepos = new Map<string, ResolvedRepo>();
  const jobs: { id: string; run: () => Promise<void> }[] = [
    ...plan.artifacts.map((a) => ({ id: a.id, run: async () => void files.set(a.id, await fetchArtifact(a, ctx)) })),
    ...[...byRef.values()].map((img) => ({ id: img.ref, run: async () => void images.set(img.ref, await pullImage(img, ctx)) })),
    ...plan.osPackages.repos.map((repo) => ({
      id: repo.id,
      run: async () => void osRepos.set(repo.id, await resolveOsRepo(repo, ctx, site.artifacts.catalog)),
    })),
  ];
  const runAll = (list: typeof jobs) =>
    eachLimited(list, opts.parallel, async (job) => {
      try {
        await job.run();
      } catch (e) {
        if (e instanceof MissingError) missing.push(e.message);
        else failures.push(asFailure(e, job.id, 'failed') as Error);
      }
    });
  try {
    await runAll(jobs);
    // The .debs are known once their repository's index is resolved.
    const debJobs = [...osRepos.values()].flatMap((r) => r.debs.map((d) => ({ id: `${r.id}/${d.filename}`, run: () => fetchDeb(r.id, d, ctx) })));
    opts.events.more?.(debJobs.length);
    await runAll(debJobs);
  } finally {
    await http?.close();
  }
  if (failures.length) throw summarize(failures);
  if (missing.length) {
    throw new FailureError(
      `offline: ${missing.length} item(s) missing from the cache ${opts.cacheDir}:\n  ${missing.sort().join('\n  ')}`,
      'run gen fetch with network access (same --cache and lock), then carry the cache over',
    );
  }

  const lock: Lock = emptyLock(site.name);
  for (const a of plan.artifacts) lock.artifacts[a.id] = files.get(a.id)!.entry;
  for (const ref of [...byRef.keys()].sort()) lock.images[ref] = images.get(ref)!.entry;
  if (osRepos.size) lock.osPackages = Object.fromEntries([...osRepos.values()].map((r) => [r.id, r.entry]));
  if (!opts.offline && images.size) await cache.recordImages([...images.values()].map((i) => ({ name: i.ref, ...i.top })));
  const lockWritten = await writeLock(opts.lockPath, lock, previous);
  const resolved = plan.osPackages.repos.map((r) => ({ id: r.id, debs: osRepos.get(r.id)!.debs }));
  return { cache, files, images: [...byRef.keys()].sort().map((r) => images.get(r)!), osRepos: resolved, lock, lockWritten, transferred };
}

/** One message for many failures: lock mismatches first, unreachable hosts named once. */
function summarize(failures: Error[]): Error {
  if (failures.length === 1) return failures[0]!;
  // A local disk problem (full, read-only, forbidden) fails every item after it: it alone is the cause.
  const disk = failures.find((f) => isSystemError(f) && f.path !== undefined);
  if (disk) return disk;
  const lockErrors = failures.filter((f) => f instanceof LockMismatchError);
  if (lockErrors.length) return new FailureError(lockErrors.map((e) => e.message).join('\n'), (lockErrors[0] as FailureError).hint);
  const unreachable = new Set(failures.filter((f) => f instanceof UnreachableError).map((f) => `${f.host} (${f.code})`));
  const lines = failures.map((f) => `  ${f.message}`).sort();
  const hint = unreachable.size
    ? `could not reach ${[...unreachable].join(', ')}: check the network, HTTPS_PROXY/NO_PROXY, or point spec.artifacts.sources/registryMirrors at a reachable mirror`
    : failures.find((f): f is FailureError => f instanceof FailureError)?.hint;
  return new FailureError(`${failures.length} item(s) failed:\n${lines.join('\n')}`, hint);
}

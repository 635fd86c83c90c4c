import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { createHash } from 'node:crypto';
import { asFailure, downloadVerified, LockMismatchError, MissingError, type FetchContext } from '../fetch/artifacts.js';
import type { LockedOsRepo } from '../fetch/lock.js';
import { FailureError, type PlannedOsRepo, type ResolvedDeb } from '../model/index.js';
import type { IndexedPackage, ReleaseFile } from './control.js';
import { verifyInRelease, SignatureError } from './release.js';
import { baselineFromIndex, PackageIndex, resolveClosure, ResolveError } from './resolve.js';

const UPDATE_HINT = 'the archive published an update since the lock was written; refresh it on purpose with gen fetch --update-lock (the .deb set may change)';

/** Where a repository's files are: `dists/<suite>/…` below the mirror. */
function urls(repo: PlannedOsRepo) {
  const base = repo.mirror.replace(/\/+$/, '');
  return {
    base,
    inRelease: `${base}/dists/${repo.suite}/InRelease`,
    indexPath: (component: string) => `${component}/binary-${repo.arch}/Packages.gz`,
    index: (path: string) => `${base}/dists/${repo.suite}/${path}`,
  };
}

export interface ResolvedRepo {
  id: string;
  debs: ResolvedDeb[];
  /** Its lock entry (written only once every `.deb` is in the cache). */
  entry: LockedOsRepo;
}

/**
 * The repository's signed index into the cache (or straight from it: a lock that pins the index
 * makes a warm run send no request) and the closure of its request resolved against it.
 */
export async function resolveOsRepo(repo: PlannedOsRepo, ctx: FetchContext, catalogDir: string): Promise<ResolvedRepo> {
  const u = urls(repo);
  const locked = ctx.updateLock ? undefined : ctx.lock?.osPackages?.[repo.id];
  const pins = locked && locked.suite === repo.suite && locked.arch === repo.arch ? locked : undefined;
  const paths = repo.components.map(u.indexPath);
  if (!repo.keys) throw new Error(`internal: ${repo.id} names no archive keys`);
  const keysFile = join(catalogDir, repo.keys);
  const keys = await readFile(keysFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new FailureError(`${repo.id}: cannot read the archive keys ${keysFile}: ${e.code ?? e.message}`, 'the catalog ships them in keys/; restore the file');
  });

  const warm =
    pins &&
    paths.every((p) => pins.indexes[p]) &&
    (await allCached(
      ctx,
      paths.map((p) => pins.indexes[p]!),
    ));
  let release: { url: string; size: number; sha256: string };
  const indexes: Record<string, { url: string; size: number; sha256: string; unpacked?: string }> = {};
  if (warm) {
    release = { ...pins.release, url: u.inRelease };
    for (const p of paths) indexes[p] = { ...pins.indexes[p]!, url: u.index(p) };
    // The InRelease is checked again when the cache still has it (the catalog's keys may have changed).
    if (await ctx.cache.has(pins.release.sha256)) {
      const signed = await verified(repo, (await ctx.cache.read(pins.release.sha256)).toString('utf8'), keys, u.inRelease);
      for (const p of paths)
        if (signed.sha256.get(p)?.sha256 !== indexes[p]!.sha256)
          throw new LockMismatchError(`${repo.id}: the cached ${u.inRelease} does not list ${p} with the locked sha256 ${indexes[p]!.sha256}`, UPDATE_HINT);
    }
  } else {
    if (!ctx.http) throw new MissingError(`${repo.id}: package index ${u.inRelease}`);
    const http = ctx.http;
    ctx.events.more?.(1 + paths.length);
    ctx.events.start(`${repo.id} InRelease`, null);
    const res = await http.get(u.inRelease).catch((e: unknown) => {
      throw asFailure(e, repo.id, `could not get ${u.inRelease}`);
    });
    const sha256 = createHash('sha256').update(res.body).digest('hex');
    const signed = await verified(repo, res.body.toString('utf8'), keys, u.inRelease);
    // As apt: an archive that dates its InRelease refuses a stale copy (a mirror frozen or replayed).
    const validUntil = signed.fields['Valid-Until'] ? Date.parse(signed.fields['Valid-Until']) : NaN;
    if (validUntil < Date.now())
      throw new FailureError(
        `${repo.id}: ${u.inRelease} expired on ${signed.fields['Valid-Until']}`,
        'the mirror is not being updated; point spec.artifacts.sources at a current one',
      );
    ctx.events.done(`${repo.id} InRelease`, { size: res.body.length, transferred: res.body.length, cached: false });
    release = { url: u.inRelease, size: res.body.length, sha256 };
    for (const p of paths) {
      const listed = signed.sha256.get(p);
      if (!listed)
        throw new FailureError(
          `${repo.id}: ${u.inRelease} lists no ${p}`,
          `the archive has no component '${p.split('/')[0]}' for ${repo.arch}, or publishes no gzip index; check spec.artifacts.sources and ospkg.yaml`,
        );
      const pin = pins?.indexes[p];
      if (pin && pin.sha256 !== listed.sha256)
        throw new LockMismatchError(
          `${repo.id}: the archive changed: ${u.inRelease} now lists ${p} with sha256 ${listed.sha256}, the lock records ${pin.sha256}`,
          UPDATE_HINT,
        );
      indexes[p] = { url: u.index(p), size: listed.size, sha256: listed.sha256 };
    }
    await ctx.cache.put(res.body, sha256);
    for (const p of paths) {
      const want = indexes[p]!;
      if (await ctx.cache.has(want.sha256)) continue;
      const id = `${repo.id} ${p}`;
      ctx.events.start(id, want.size);
      const r = await downloadVerified(ctx, http, {
        id,
        url: want.url,
        expected: [{ algorithm: 'sha256', hex: want.sha256, from: `the signed ${u.inRelease}` }],
        size: want.size,
      });
      ctx.events.done(id, { size: r.size, transferred: r.transferred, cached: false });
    }
  }

  const buffers: Buffer[] = [];
  for (const p of paths) buffers.push(await unpacked(ctx, indexes[p]!, pins?.indexes[p]?.unpacked));
  const debs = closureOf(repo, buffers, u.base);
  const entry: LockedOsRepo = { suite: repo.suite, arch: repo.arch, release, indexes: indexes as LockedOsRepo['indexes'], debs: {} };
  for (const d of debs) {
    const pin = pins?.debs[d.name];
    if (pin && pin.version === d.version && pin.sha256 !== d.sha256)
      throw new LockMismatchError(`${repo.id}: ${d.filename}: the index says sha256 ${d.sha256}, the lock records ${pin.sha256}`, UPDATE_HINT);
    entry.debs[d.name] = { version: d.version, arch: d.arch, url: d.url, size: d.size, sha256: d.sha256 };
  }
  return { id: repo.id, debs, entry };
}

/**
 * The index uncompressed, from the cache when it holds it (gunzip of a Debian main index costs
 * more than the whole resolution). Its sha256 is recorded on `entry` for the lock.
 */
async function unpacked(ctx: FetchContext, entry: { sha256: string; unpacked?: string }, pinned: string | undefined): Promise<Buffer> {
  if (pinned && (await ctx.cache.has(pinned))) {
    entry.unpacked = pinned;
    return ctx.cache.read(pinned);
  }
  // In the thread pool: other downloads go on meanwhile.
  const buf = await promisify(gunzip)(await ctx.cache.read(entry.sha256));
  const sha256 = createHash('sha256').update(buf).digest('hex');
  // Derived from a verified blob; stored under its own digest like every other cache entry.
  if (!(await ctx.cache.has(sha256))) await ctx.cache.put(buf, sha256);
  entry.unpacked = sha256;
  return buf;
}

/** Whether the cache holds every index, compressed or not. */
async function allCached(ctx: FetchContext, pins: { sha256: string; unpacked: string }[]): Promise<boolean> {
  for (const p of pins) if (!(await ctx.cache.has(p.unpacked)) && !(await ctx.cache.has(p.sha256))) return false;
  return true;
}

async function verified(repo: PlannedOsRepo, text: string, keys: string, url: string): Promise<ReleaseFile> {
  let release: ReleaseFile;
  try {
    release = (await verifyInRelease(text, keys, url)).release;
  } catch (e) {
    if (e instanceof SignatureError)
      throw new FailureError(
        `${repo.id}: ${e.message}`,
        `nothing from this archive was trusted; check that spec.artifacts.sources points at the real archive or a faithful mirror (a mirror that re-signs needs its key in a catalog of its own, see ${repo.keys})`,
      );
    throw e;
  }
  const f = release.fields;
  if (f.Codename !== repo.suite && f.Suite !== repo.suite)
    throw new FailureError(
      `${repo.id}: ${url} is for ${f.Codename ?? f.Suite ?? 'an unnamed suite'}, not ${repo.suite}`,
      'the mirror serves another release under this name',
    );
  return release;
}

/** The request's closure against the index, beyond the release's baseline; each `.deb` with what the index says of it. */
export function closureOf(repo: PlannedOsRepo, indexes: readonly Buffer[], base: string): ResolvedDeb[] {
  const index = new PackageIndex(indexes, repo.arch);
  let closure: IndexedPackage[];
  try {
    closure = resolveClosure(index, repo.packages, baselineFromIndex(index, repo.baseline ?? []));
  } catch (e) {
    if (e instanceof ResolveError)
      throw new FailureError(
        `${repo.id}: ${e.message}`,
        'check the package names in spec.os.packages against the release (packages.debian.org, packages.ubuntu.com)',
      );
    throw e;
  }
  return closure.map((p) => {
    if (!/^[0-9a-f]{64}$/.test(p.sha256) || !(p.size >= 0) || !p.filename)
      throw new FailureError(
        `${repo.id}: the index gives ${p.name} ${p.version} no Filename, Size or SHA256`,
        'the archive index is damaged or not a Debian Packages file',
      );
    return {
      name: p.name,
      version: p.version,
      arch: p.arch,
      filename: p.filename.slice(p.filename.lastIndexOf('/') + 1),
      url: `${base}/${p.filename}`,
      size: p.size,
      sha256: p.sha256,
      stanza: p.stanza,
    };
  });
}

/** One `.deb` into the cache, verified against the signed index's SHA256 and Size before it enters. */
export async function fetchDeb(repoId: string, deb: ResolvedDeb, ctx: FetchContext): Promise<void> {
  const id = `${repoId}/${deb.filename}`;
  if (await ctx.cache.has(deb.sha256)) {
    ctx.events.done(id, { size: deb.size, transferred: 0, cached: true });
    return;
  }
  if (!ctx.http) throw new MissingError(`${id} (${deb.url})`);
  ctx.events.start(id, deb.size);
  const r = await downloadVerified(ctx, ctx.http, {
    id,
    url: deb.url,
    expected: [{ algorithm: 'sha256', hex: deb.sha256, from: `the signed index of ${repoId}` }],
    size: deb.size,
  });
  ctx.events.done(id, { size: r.size, transferred: r.transferred, cached: false });
}

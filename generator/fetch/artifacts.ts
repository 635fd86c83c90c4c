import { rm } from 'node:fs/promises';
import { FailureError, type HashAlgorithm, type PlannedArtifact } from '../model/index.js';
import type { BlobCache } from './cache.js';
import { parseHashFile, parseSumsFile } from './checksum.js';
import { HttpError, hostOf, type HttpClient } from './http.js';
import type { Lock, LockedArtifact } from './lock.js';

/** What a fetch reports while it works; the CLI turns these into progress bars or lines. */
export interface FetchEvents {
  start(id: string, total: number | null): void;
  /** The server said how large the item is (Content-Length): a first download gets a percentage and an ETA too. */
  total?(id: string, total: number): void;
  bytes(id: string, n: number): void;
  done(id: string, r: { size: number; transferred: number; cached: boolean }): void;
  retry(id: string, why: string, attempt: number): void;
  /** More items than announced at the start (the `.deb` files, known once their index is resolved). */
  more?(n: number): void;
}

export const SILENT_EVENTS: FetchEvents = { start() {}, bytes() {}, done() {}, retry() {} };

export interface FetchContext {
  /** Null in offline mode: only the cache may be used. */
  http: HttpClient | null;
  cache: BlobCache;
  /** The lock as it was before this run. */
  lock: Lock | null;
  /** Take upstream's current checksums and digests instead of the lock's. */
  updateLock: boolean;
  events: FetchEvents;
}

/** Something the cache lacks in offline mode. */
export class MissingError extends Error {
  constructor(readonly what: string) {
    super(`${what} is not in the cache`);
  }
}

/** The source could not be reached at all (no route, no name, refused). */
export class UnreachableError extends FailureError {
  constructor(
    message: string,
    readonly host: string,
    readonly code: string,
  ) {
    super(message, `could not reach ${host}: check the network, HTTPS_PROXY/NO_PROXY, or point spec.artifacts.sources/registryMirrors at a reachable mirror`);
  }
}

/** An HttpError, told as the failure of one artifact or image; anything else passes through. */
export function asFailure(e: unknown, id: string, what: string): unknown {
  if (!(e instanceof HttpError)) return e;
  return e.unreachable ? new UnreachableError(`${id}: ${what}: ${e.message}`, hostOf(e.url), e.code!) : new FailureError(`${id}: ${what}: ${e.message}`);
}

/** A checksum or digest that disagrees with what the lock or the catalog recorded. */
export class LockMismatchError extends FailureError {}

export interface FetchedFile {
  path: string;
  entry: LockedArtifact;
}

/**
 * One artifact into the cache, verified before it enters. The expected sha256 comes from the
 * lock, else the catalog's pin, else the upstream checksum file (which is then cross-checked
 * against the lock whenever the bytes have to be downloaded again).
 */
export async function fetchArtifact(a: PlannedArtifact, ctx: FetchContext): Promise<FetchedFile> {
  const locked = ctx.updateLock ? undefined : ctx.lock?.artifacts[a.id];
  const pinned = a.checksum.kind === 'pinned' ? (a.checksum.sha256 ?? null) : null;
  if (locked && pinned && locked.sha256 !== pinned) {
    throw new LockMismatchError(
      `${a.id}: the catalog pins sha256 ${pinned}, the lock records ${locked.sha256}`,
      'if the catalog change is intended, refresh the lock with gen fetch --update-lock',
    );
  }
  const known = locked?.sha256 ?? pinned;
  if (known && (await ctx.cache.has(known))) {
    const size = await ctx.cache.size(known);
    ctx.events.done(a.id, { size, transferred: 0, cached: true });
    return { path: ctx.cache.blobPath(known), entry: { url: a.url, size, sha256: known } };
  }
  if (!ctx.http) throw new MissingError(`${a.id} (${a.url})`);
  const http = ctx.http;

  // Every digest known for the file; the download must match them all.
  const expected: Expected[] = known ? [{ algorithm: 'sha256', hex: known, from: locked ? 'the lock' : 'the catalog pin' }] : [];
  if (a.checksum.kind !== 'pinned') {
    const upstream: Expected = { ...(await upstreamChecksum(a, http)), from: a.checksum.url! };
    const recorded = expected.find((e) => e.algorithm === upstream.algorithm);
    if (recorded && recorded.hex !== upstream.hex) {
      throw new LockMismatchError(
        `${a.id}: upstream's checksum changed: ${a.checksum.url} now says ${upstream.hex}, ${recorded.from} records ${recorded.hex}`,
        'a published file should never change; check the source, then refresh the lock on purpose with gen fetch --update-lock',
      );
    }
    // A sha512 upstream file is checked in addition to the lock's sha256.
    if (!recorded) expected.push(upstream);
  }
  if (!expected.length) throw new Error(`internal: ${a.id} has no checksum source`);
  return download(a, http, ctx, expected);
}

async function upstreamChecksum(a: PlannedArtifact, http: HttpClient): Promise<{ algorithm: HashAlgorithm; hex: string }> {
  const c = a.checksum;
  if (c.kind === 'pinned' || !c.url) throw new Error(`internal: ${a.id} has no checksum file`);
  const res = await http.get(c.url).catch((e: unknown) => {
    throw asFailure(e, a.id, 'could not get its checksum file');
  });
  const text = res.body.toString('utf8');
  const hex = c.kind === 'hash-file' ? parseHashFile(text, c.algorithm) : parseSumsFile(text, c.entry, c.algorithm);
  if (!hex)
    throw new FailureError(
      `${a.id}: ${c.url} holds no ${c.algorithm}${c.kind === 'sums-file' ? ` for ${c.entry}` : ''}`,
      'the catalog entry may name the wrong checksum file or format',
    );
  return { algorithm: c.algorithm, hex };
}

/**
 * Downloads into a partial file (resumable), verifies every expected digest (and the size, when
 * known), then moves the file into the cache. A mismatch after a resumed transfer gets one fresh
 * download, since the old partial bytes may come from an earlier upstream file; a second mismatch
 * is an error and leaves nothing behind.
 */
export async function downloadVerified(
  ctx: FetchContext,
  http: HttpClient,
  job: {
    id: string;
    url: string;
    headers?: Record<string, string>;
    expected: Expected[];
    size?: number;
    /** The download is the whole item (not one blob of an image): its Content-Length is the item's size. */
    whole?: boolean;
  },
): Promise<{ sha256: string; size: number; transferred: number }> {
  const part = await ctx.cache.partPath(`${job.url}\n${job.expected.map((e) => e.hex).join(',')}`);
  const algorithms = [...new Set<HashAlgorithm>(['sha256', ...job.expected.map((e) => e.algorithm)])];
  let transferred = 0;
  for (let fresh = 0; ; fresh++) {
    let r;
    try {
      r = await http.download(job.url, part, {
        algorithms,
        ...(job.headers ? { headers: job.headers } : {}),
        onBytes: (n) => ctx.events.bytes(job.id, n),
        onRetry: (e, n) => ctx.events.retry(job.id, e.message, n),
        ...(job.whole ? { onTotal: (n: number) => ctx.events.total?.(job.id, n) } : {}),
      });
    } catch (e) {
      throw asFailure(e, job.id, 'download failed');
    }
    transferred += r.transferred;
    const wrong = job.expected.find((e) => r.digests[e.algorithm] !== e.hex);
    const wrongSize = job.size !== undefined && r.size !== job.size;
    if (!wrong && !wrongSize) {
      const sha256 = r.digests.sha256!;
      await ctx.cache.adopt(part, sha256);
      return { sha256, size: r.size, transferred };
    }
    await rm(part, { force: true });
    if (!(r.resumed && fresh === 0)) {
      const what = wrong ? `${wrong.algorithm} ${r.digests[wrong.algorithm]}, ${wrong.from} says ${wrong.hex}` : `${r.size} bytes, expected ${job.size}`;
      throw new FailureError(`${job.id}: checksum mismatch: ${job.url} has ${what}`, 'nothing was cached; the source may serve a different or damaged file');
    }
  }
}

export interface Expected {
  algorithm: HashAlgorithm;
  hex: string;
  /** Who said so, for the error message: the lock, the catalog pin, a checksum file's URL. */
  from: string;
}

async function download(a: PlannedArtifact, http: HttpClient, ctx: FetchContext, expected: Expected[]): Promise<FetchedFile> {
  ctx.events.start(a.id, a.size);
  const r = await downloadVerified(ctx, http, { id: a.id, url: a.url, expected, whole: true });
  ctx.events.done(a.id, { size: r.size, transferred: r.transferred, cached: false });
  return { path: ctx.cache.blobPath(r.sha256), entry: { url: a.url, size: r.size, sha256: r.sha256 } };
}

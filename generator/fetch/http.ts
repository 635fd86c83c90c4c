import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';

type Undici = typeof import('undici');

export type HashAlgorithm = 'sha256' | 'sha512';

export interface HttpSettings {
  /** Proxy variables are read from here, never from the process (tests pass their own). */
  env: NodeJS.ProcessEnv;
  /** Milliseconds without progress (connect, headers, or between body bytes) before an attempt fails. */
  timeoutMs: number;
  /** Attempts after the first, for transient failures. */
  retries: number;
  /** First backoff; doubles per attempt, with jitter, capped at 10 s. */
  backoffMs: number;
  /** Parallel connections per origin. */
  connections?: number;
}

/** A failure that names the URL and says whether trying again could help. */
export class HttpError extends Error {
  constructor(
    message: string,
    readonly url: string,
    readonly transient: boolean,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }

  /** Connection-level failures: the host could not be reached at all. */
  get unreachable(): boolean {
    return this.code !== undefined && UNREACHABLE.has(this.code);
  }
}

const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);
const UNREACHABLE = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
/** Failures that mean "there is no network path": retried at most this often, so an offline machine fails within seconds. */
const UNREACHABLE_RETRIES = 2;

function envOf(env: NodeJS.ProcessEnv, name: string): string {
  return env[name.toLowerCase()] ?? env[name.toUpperCase()] ?? '';
}

/** Maps a thrown network error to an HttpError. Everything but "name not resolvable" may pass. */
function classify(e: unknown, url: string): HttpError {
  if (e instanceof HttpError) return e;
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = err.code ?? err.cause?.code ?? 'EUNKNOWN';
  const text = err.cause?.message ?? err.message;
  return new HttpError(`${hostOf(url)}: ${code}: ${text}`, url, code !== 'ENOTFOUND', undefined, code);
}

export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface DownloadResult {
  /** Hex digests of the whole file, one per algorithm asked for. */
  digests: Partial<Record<HashAlgorithm, string>>;
  size: number;
  /** Bytes that crossed the network in this call (resumed bytes are not counted again). */
  transferred: number;
  /** Whether the file continued a partial download left by an earlier attempt or run. */
  resumed: boolean;
}

/**
 * The one HTTP client of kubeseed: redirects followed, proxies from the environment, bounded
 * retries with backoff, stall timeouts, and downloads that resume with Range.
 */
export class HttpClient {
  private client: Promise<{ request: Undici['request']; dispatcher: Dispatcher; close: () => Promise<void> }> | null = null;

  constructor(readonly settings: HttpSettings) {}

  /** undici is loaded on the first request: a run served from the cache never pays for it. */
  private connect() {
    this.client ??= import('undici').then(({ EnvHttpProxyAgent, interceptors, request }) => {
      const timeout = this.settings.timeoutMs;
      const agent = new EnvHttpProxyAgent({
        httpProxy: envOf(this.settings.env, 'http_proxy'),
        httpsProxy: envOf(this.settings.env, 'https_proxy'),
        noProxy: envOf(this.settings.env, 'no_proxy'),
        headersTimeout: timeout,
        bodyTimeout: timeout,
        connect: { timeout },
        connections: this.settings.connections ?? 8,
      });
      return { request, dispatcher: agent.compose(interceptors.redirect({ maxRedirections: 10 })), close: () => agent.close() };
    });
    return this.client;
  }

  async close(): Promise<void> {
    if (this.client) await (await this.client).close();
  }

  /** Runs `attempt` until it succeeds or a failure is permanent or retries are used up. */
  async withRetries<T>(url: string, attempt: (n: number) => Promise<T>, onRetry?: (e: HttpError, n: number) => void): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt(n);
      } catch (e) {
        const err = classify(e, url);
        const limit = err.unreachable ? Math.min(UNREACHABLE_RETRIES, this.settings.retries) : this.settings.retries;
        if (!err.transient || n >= limit) throw err;
        onRetry?.(err, n + 1);
        await sleep(this.delay(n, err));
      }
    }
  }

  private delay(n: number, err: HttpError & { retryAfter?: number }): number {
    if (err.retryAfter !== undefined) return Math.min(err.retryAfter * 1000, 30_000);
    const base = Math.min(this.settings.backoffMs * 2 ** n, 10_000);
    return base / 2 + Math.random() * base;
  }

  /** A small GET held in memory (checksum files, manifests, tokens). Statuses in `pass` are returned, not thrown. */
  async get(url: string, headers: Record<string, string> = {}, pass: number[] = [], maxBytes = 16 << 20): Promise<Response> {
    const { request, dispatcher } = await this.connect();
    return this.withRetries(url, async () => {
      const res = await request(url, { dispatcher, method: 'GET', headers });
      if (res.statusCode >= 200 && res.statusCode < 300) {
        const chunks: Buffer[] = [];
        let total = 0;
        for await (const c of res.body) {
          total += (c as Buffer).length;
          if (total > maxBytes) {
            res.body.destroy();
            throw new HttpError(`${url}: response larger than ${maxBytes} bytes`, url, false, res.statusCode);
          }
          chunks.push(c as Buffer);
        }
        return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
      }
      const body = Buffer.from(await res.body.arrayBuffer().catch(() => new ArrayBuffer(0)));
      if (pass.includes(res.statusCode)) return { status: res.statusCode, headers: res.headers, body };
      throw statusError(url, res.statusCode, res.headers);
    });
  }

  /**
   * Downloads `url` into `part`, continuing whatever `part` already holds with a Range request.
   * The file is hashed as it arrives; the caller compares the digests and moves the file on.
   */
  async download(url: string, part: string, opts: { headers?: Record<string, string>; algorithms: HashAlgorithm[]; onBytes?: (n: number) => void; onRetry?: (e: HttpError, n: number) => void }): Promise<DownloadResult> {
    const { request, dispatcher } = await this.connect();
    let hashers: Hashers | null = null;
    let transferred = 0;
    const startSize = (await stat(part).catch(() => null))?.size ?? 0;
    let resumed = startSize > 0;
    const size = await this.withRetries(
      url,
      async () => {
        let offset = (await stat(part).catch(() => null))?.size ?? 0;
        // The digests must cover exactly the bytes on disk: rebuild them when the two disagree.
        if (!hashers || hashers.bytes !== offset) hashers = await hashPrefix(part, offset, opts.algorithms);
        const headers = { ...opts.headers, ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) };
        // A deep body buffer: fewer pause/resume cycles on the socket while a write is pending.
        const res = await request(url, { dispatcher, method: 'GET', headers, highWaterMark: 4 << 20 });
        let total: number | null = null;
        if (res.statusCode === 206) {
          const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
          if (!range || Number(range[1]) !== offset) {
            // A range we did not ask for: start over rather than stitch unknown bytes together.
            res.body.destroy();
            await rm(part, { force: true });
            hashers = null;
            throw new HttpError(`${url}: server answered Range ${offset}- with '${res.headers['content-range']}'`, url, true, 206);
          }
          total = range[3] === '*' ? null : Number(range[3]);
          resumed = true;
        } else if (res.statusCode === 200) {
          if (offset > 0) {
            offset = 0;
            resumed = false;
            hashers = await hashPrefix(part, 0, opts.algorithms);
          }
          const len = res.headers['content-length'];
          total = len === undefined ? null : Number(len);
        } else if (res.statusCode === 416 && offset > 0) {
          // The partial file already holds every byte the server has; the digest decides.
          await res.body.dump();
          return offset;
        } else {
          await res.body.dump().catch(() => undefined);
          throw statusError(url, res.statusCode, res.headers);
        }
        const fh = await open(part, offset > 0 ? 'a' : 'w', 0o644);
        const h = hashers;
        try {
          // The socket's chunks are hashed as they arrive and written in batches of 1 MiB
          // (writev, no copy) with up to 8 batches in flight, so the disk works while the next
          // bytes arrive. `offset` only counts bytes on disk; if a write fails, the digests
          // cover more than the file and are rebuilt from it before the resume.
          let pending: Buffer[] = [];
          let pendingBytes = 0;
          let chain: Promise<void> = Promise.resolve();
          const inflight: Promise<void>[] = [];
          const flush = (): void => {
            if (!pendingBytes) return;
            const batch = pending;
            const bytes = pendingBytes;
            pending = [];
            pendingBytes = 0;
            chain = chain.then(async () => {
              await fh.writev(batch);
              offset += bytes;
            });
            inflight.push(chain);
          };
          try {
            for await (const chunk of res.body) {
              const c = chunk as Buffer;
              h.update(c);
              pending.push(c);
              pendingBytes += c.length;
              transferred += c.length;
              opts.onBytes?.(c.length);
              if (pendingBytes >= 1 << 20) {
                flush();
                if (inflight.length > 8) await inflight.shift();
              }
            }
          } finally {
            // Bytes that arrived before a failure are good: keep them for the resume.
            flush();
            await chain;
          }
        } finally {
          await fh.close();
        }
        if (total !== null && offset !== total) throw new HttpError(`${url}: body ended at ${offset} of ${total} bytes`, url, true);
        return offset;
      },
      opts.onRetry,
    );
    let finalHashers: Hashers = (hashers as Hashers | null) ?? (await hashPrefix(part, size, opts.algorithms));
    if (finalHashers.bytes !== size) finalHashers = await hashPrefix(part, size, opts.algorithms);
    return { digests: finalHashers.digest(), size, transferred, resumed };
  }
}

function statusError(url: string, status: number, headers: Record<string, string | string[] | undefined>): HttpError {
  const err = new HttpError(`${url}: HTTP ${status}`, url, TRANSIENT_STATUS.has(status), status) as HttpError & { retryAfter?: number };
  const after = Number(headers['retry-after']);
  if (Number.isFinite(after) && after >= 0) err.retryAfter = after;
  return err;
}

interface Hashers {
  bytes: number;
  update(b: Buffer): void;
  digest(): Partial<Record<HashAlgorithm, string>>;
}

/** Hashers primed with the first `length` bytes of `path` (the part of a download already on disk). */
async function hashPrefix(path: string, length: number, algorithms: HashAlgorithm[]): Promise<Hashers> {
  const hs = new Map<HashAlgorithm, Hash>(algorithms.map((a) => [a, createHash(a)]));
  const state: Hashers = {
    bytes: 0,
    update(b) {
      for (const h of hs.values()) h.update(b);
      state.bytes += b.length;
    },
    digest: () => Object.fromEntries([...hs].map(([a, h]) => [a, h.digest('hex')])),
  };
  if (length > 0) {
    for await (const c of createReadStream(path, { start: 0, end: length - 1 })) state.update(c as Buffer);
  }
  return state;
}

/** Runs `tasks` with at most `limit` at a time; every task runs, the first error is thrown at the end. */
export async function eachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await task(item);
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} transfers failed`);
}

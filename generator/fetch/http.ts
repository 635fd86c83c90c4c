// Over 300 lines: HttpClient and its BodySink share the retry, resume and hashing state of one download.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { isSystemError, namingPath, type HashAlgorithm } from '../model/index.js';

type Undici = typeof import('undici');

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
        // The local disk (a full cache, a read-only directory) is no network problem: no retry, and the path is named.
        if (isSystemError(e) && e.path !== undefined) throw e;
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

  /** The size a server announces for `url` (HEAD, Content-Length), or null when it says none. */
  async size(url: string): Promise<number | null> {
    const { request, dispatcher } = await this.connect();
    return this.withRetries(url, async () => {
      const res = await request(url, { dispatcher, method: 'HEAD' });
      await res.body.dump().catch(() => undefined);
      if (res.statusCode < 200 || res.statusCode >= 300) throw statusError(url, res.statusCode, res.headers);
      const len = Number(res.headers['content-length']);
      return Number.isSafeInteger(len) && len >= 0 ? len : null;
    });
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
  async download(
    url: string,
    part: string,
    opts: {
      headers?: Record<string, string>;
      algorithms: HashAlgorithm[];
      onBytes?: (n: number) => void;
      onRetry?: (e: HttpError, n: number) => void;
      /** The file's whole size, once the server has said it (Content-Length, or Content-Range on a resume). */
      onTotal?: (total: number) => void;
    },
  ): Promise<DownloadResult> {
    const { dispatcher } = await this.connect();
    let hashers: Hashers | null = null;
    let transferred = 0;
    const startSize = (await stat(part).catch(() => null))?.size ?? 0;
    let resumed = startSize > 0;
    const size = await this.withRetries(
      url,
      async () => {
        const onDisk = (await stat(part).catch(() => null))?.size ?? 0;
        // The digests must cover exactly the bytes on disk: rebuild them when the two disagree.
        if (!hashers || hashers.bytes !== onDisk) hashers = await hashPrefix(part, onDisk, opts.algorithms);
        const fh = await open(part, 'a', 0o644);
        const body = new BodySink(
          fh,
          hashers,
          onDisk,
          (n) => {
            transferred += n;
            opts.onBytes?.(n);
          },
          opts.onTotal,
        );
        let answer: { status: number; total: number | null };
        try {
          answer = await namingPath(
            part,
            body.receive(dispatcher, url, { ...opts.headers, ...(onDisk > 0 ? { range: `bytes=${onDisk}-` } : {}) }, opts.algorithms),
          );
        } catch (e) {
          if (body.restart) {
            // A range we did not ask for: start over rather than stitch unknown bytes together.
            await rm(part, { force: true });
            hashers = null;
          }
          throw e;
        } finally {
          await namingPath(part, body.close());
        }
        hashers = body.hashers;
        if (answer.status === 206) resumed = true;
        if (answer.status === 200) resumed = false;
        if (answer.total !== null && body.offset !== answer.total)
          throw new HttpError(`${url}: body ended at ${body.offset} of ${answer.total} bytes`, url, true);
        return body.offset;
      },
      opts.onRetry,
    );
    let finalHashers: Hashers = (hashers as Hashers | null) ?? (await hashPrefix(part, size, opts.algorithms));
    if (finalHashers.bytes !== size) finalHashers = await hashPrefix(part, size, opts.algorithms);
    return { digests: finalHashers.digest(), size, transferred, resumed };
  }
}

/**
 * One response body on its way to disk, taken from undici's dispatch handler (no stream in
 * between: the bytes of a large download cost less CPU). Chunks are hashed as they arrive and
 * written in batches of 1 MiB (writev, no copy) with several batches in flight, so the disk works
 * while the next bytes arrive; the socket pauses while too many are pending. `offset` counts only
 * bytes on disk: if a write fails, the digests cover more than the file and are rebuilt before
 * the resume.
 */
class BodySink {
  offset: number;
  /** Set when the server's answer cannot continue the partial file: the caller starts over. */
  restart = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private chain: Promise<void> = Promise.resolve();
  private inflight = 0;
  private writeError: Error | null = null;
  private controller: Dispatcher.DispatchController | null = null;

  constructor(
    private readonly fh: FileHandle,
    public hashers: Hashers,
    start: number,
    private readonly counted: (n: number) => void,
    private readonly announced?: (total: number) => void,
  ) {
    this.offset = start;
  }

  receive(
    dispatcher: Dispatcher,
    url: string,
    headers: Record<string, string>,
    algorithms: HashAlgorithm[],
  ): Promise<{ status: number; total: number | null }> {
    const u = new URL(url);
    let answer = { status: 0, total: null as number | null };
    // The reason we gave when aborting; undici may report the abort in its own words.
    let failure: Error | null = null;
    const fail = (controller: Dispatcher.DispatchController, e: Error) => {
      failure = e;
      controller.abort(e);
    };
    return new Promise((resolve, reject) => {
      const handler: Dispatcher.DispatchHandler = {
        // Its presence tells undici's interceptors that this handler speaks the controller API.
        onRequestStart() {},
        onResponseStart: (controller, status, h) => {
          this.controller = controller;
          answer = { status, total: null };
          if (status === 206) {
            const contentRange = String(h['content-range'] ?? '');
            const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange);
            if (!range || Number(range[1]) !== this.offset) {
              this.restart = true;
              fail(controller, new HttpError(`${url}: server answered Range ${this.offset}- with '${contentRange}'`, url, true, 206));
              return;
            }
            answer.total = range[3] === '*' ? null : Number(range[3]);
          } else if (status === 200) {
            if (this.offset > 0) {
              // The server ignored the Range header: the whole file comes again.
              this.offset = 0;
              this.hashers = freshHashers(algorithms);
              this.enqueue(() => this.fh.truncate(0));
            }
            const len = h['content-length'];
            answer.total = len === undefined ? null : Number(len);
          } else if (status === 416 && this.offset > 0) {
            // The partial file already holds every byte the server has; the digest decides.
            answer.total = this.offset;
          } else {
            fail(controller, statusError(url, status, h));
          }
          if (answer.total !== null && Number.isSafeInteger(answer.total)) this.announced?.(answer.total);
        },
        onResponseData: (controller, chunk) => {
          if (answer.status !== 200 && answer.status !== 206) return;
          this.hashers.update(chunk);
          this.pending.push(chunk);
          this.pendingBytes += chunk.length;
          this.counted(chunk.length);
          if (this.pendingBytes >= 1 << 20) {
            this.flush();
            if (this.inflight > 8) controller.pause();
          }
        },
        onResponseEnd: () => resolve(answer),
        onResponseError: (_c, e) => reject(failure ?? this.writeError ?? e),
      };
      dispatcher.dispatch({ origin: u.origin, path: `${u.pathname}${u.search}`, method: 'GET', headers }, handler);
    });
  }

  private enqueue(step: () => Promise<void>): void {
    this.inflight++;
    this.chain = this.chain.then(async () => {
      try {
        if (this.writeError === null) await step();
      } catch (e) {
        this.writeError = e as Error;
        this.controller?.abort(e as Error);
      } finally {
        this.inflight--;
        if (this.controller?.paused && this.inflight <= 2) this.controller.resume();
      }
    });
  }

  private flush(): void {
    if (!this.pendingBytes) return;
    const batch = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.enqueue(async () => {
      await this.fh.writev(batch);
      this.offset += bytes;
    });
  }

  /** Bytes that arrived before a failure are good: they are written, kept for the resume. */
  async close(): Promise<void> {
    this.flush();
    await this.chain;
    await this.fh.close();
    if (this.writeError) throw this.writeError;
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

function freshHashers(algorithms: HashAlgorithm[]): Hashers {
  const hs = new Map<HashAlgorithm, Hash>(algorithms.map((a) => [a, createHash(a)]));
  const state: Hashers = {
    bytes: 0,
    update(b) {
      for (const h of hs.values()) h.update(b);
      state.bytes += b.length;
    },
    digest: () => Object.fromEntries([...hs].map(([a, h]) => [a, h.digest('hex')])),
  };
  return state;
}

/** Hashers primed with the first `length` bytes of `path` (the part of a download already on disk). */
async function hashPrefix(path: string, length: number, algorithms: HashAlgorithm[]): Promise<Hashers> {
  const state = freshHashers(algorithms);
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

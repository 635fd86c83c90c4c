import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { FailureError, InputError } from '../model/index.js';

/**
 * An exclusive lock on a directory kubeseed writes (the site state, a site's output): a file
 * created by link(2) of a complete temporary file, so that it appears atomically and already says
 * who holds it. Node has no flock(2); a lock left by a killed process is recognised by its pid
 * (and, on Linux, the process start time, against pid reuse) and taken over.
 */

export const LOCK_NAME = '.kubeseed-lock';
/** Default wait for a held lock before giving up with exit 1. */
export const DEFAULT_LOCK_WAIT_S = 10;
const POLL_MS = 100;
/** A breaker file older than this belongs to a process that died in the few microseconds it holds one. */
const BREAKER_STALE_MS = 10_000;

export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  since: string;
  /** Linux: the process start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
  start?: string;
}

export interface HeldLock {
  path: string;
  release(): Promise<void>;
}

export interface LockOptions {
  /** What is locked, for messages: `the state`, `the output directory`. */
  what: string;
  /** Seconds to wait for a held lock; default KUBESEED_LOCK_WAIT or 10. */
  waitSeconds?: number;
  /** Progress lines (waiting, a stale lock taken over). */
  say?: (line: string) => void;
  /** Mode of the directory when the lock creates it (default 0700). */
  dirMode?: number;
}

/** `KUBESEED_LOCK_WAIT` (seconds, 0–3600), else the default. */
export function lockWaitFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.KUBESEED_LOCK_WAIT;
  if (raw === undefined || raw === '') return DEFAULT_LOCK_WAIT_S;
  if (!/^\d{1,4}$/.test(raw) || Number(raw) > 3600) throw new InputError(`KUBESEED_LOCK_WAIT=${raw} is not a number of seconds from 0 to 3600`);
  return Number(raw);
}

function processStart(pid: number): string | undefined {
  try {
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function me(): LockHolder {
  const start = processStart(process.pid);
  const args = process.argv.slice(2).join(' ');
  return { pid: process.pid, host: hostname(), command: `gen ${args}`.trim(), since: new Date().toISOString(), ...(start ? { start } : {}) };
}

/** Whether the holder is certainly gone: same host, and its pid is dead or now another process. */
function holderGone(h: LockHolder): boolean {
  if (h.host !== hostname()) return false;
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  const start = processStart(h.pid);
  return Boolean(h.start && start && start !== h.start);
}

function describe(h: LockHolder): string {
  return `pid ${h.pid} on ${h.host} (${h.command}, since ${h.since})`;
}

async function readHolder(path: string): Promise<{ text: string; holder: LockHolder | null } | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    if (typeof h.pid === 'number' && typeof h.host === 'string') return { text, holder: h };
  } catch {
    // fall through: not a lock we wrote
  }
  return { text, holder: null };
}

/** Creates `path` holding `content`, atomically; false when it exists. */
async function createWith(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, content, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Removes a lock whose holder is gone. Removal happens under a short-lived breaker file, and only
 * if the lock still says what we judged stale: two processes that both see the same dead holder
 * cannot remove each other's fresh lock.
 */
async function breakStale(path: string, staleText: string): Promise<void> {
  const breaker = `${path}.break`;
  if (!(await createWith(breaker, `${process.pid}\n`))) {
    const st = await stat(breaker).catch(() => null);
    if (st && Date.now() - st.mtimeMs > BREAKER_STALE_MS) await unlink(breaker).catch(() => undefined);
    return;
  }
  try {
    const now = await readHolder(path);
    if (now && now.text === staleText) await unlink(path);
  } finally {
    await unlink(breaker).catch(() => undefined);
  }
}

/** Takes the lock in `dir` (created 0700 if missing), waiting up to the wait time for a holder. */
export async function acquireLock(dir: string, opts: LockOptions): Promise<HeldLock> {
  await mkdir(dir, { recursive: true, mode: opts.dirMode ?? 0o700 });
  const path = join(dir, LOCK_NAME);
  const mine = me();
  const text = `${JSON.stringify(mine)}\n`;
  const waitMs = (opts.waitSeconds ?? lockWaitFromEnv()) * 1000;
  const deadline = Date.now() + waitMs;
  let announced = false;
  for (;;) {
    if (await createWith(path, text)) break;
    const cur = await readHolder(path);
    if (!cur) continue;
    if (cur.holder && holderGone(cur.holder)) {
      opts.say?.(`  ${opts.what}: removing the lock of ${describe(cur.holder)}, which is no longer running`);
      await breakStale(path, cur.text);
      continue;
    }
    if (!cur.holder) {
      // Not ours to judge by content (hand-made, or truncated by a full disk): stale once old.
      const st = await stat(path).catch(() => null);
      if (st && Date.now() - st.mtimeMs > BREAKER_STALE_MS) {
        opts.say?.(`  ${opts.what}: removing an unreadable lock file ${path}`);
        await breakStale(path, cur.text);
        continue;
      }
    }
    const who = cur.holder ? describe(cur.holder) : `an unreadable lock file`;
    if (Date.now() >= deadline) {
      throw new FailureError(
        `${opts.what} ${dir} is locked by ${who}`,
        `wait for that run to finish and try again (KUBESEED_LOCK_WAIT=SECONDS waits longer); if that process is gone for good, remove ${path}`,
      );
    }
    if (!announced) {
      opts.say?.(`  waiting up to ${Math.round(waitMs / 1000)} s for ${opts.what}, locked by ${who}`);
      announced = true;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      const cur = await readHolder(path);
      if (cur && cur.text === text) await unlink(path).catch(() => undefined);
    },
  };
}

/** Runs `fn` holding the lock on `dir`; the lock is released however `fn` ends. */
export async function withLock<T>(dir: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(dir, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/** Names that belong to the lock and are never part of the directory's content. */
export function isLockFile(name: string): boolean {
  const b = basename(name);
  return b === LOCK_NAME || b.startsWith(`${LOCK_NAME}.`);
}

import { resolve } from 'node:path';
import { SILENT_EVENTS } from '../fetch/artifacts.js';
import { BlobCache, defaultCacheDir } from '../fetch/cache.js';
import { InputError, type BundlePlan, type ResolvedSite } from '../model/index.js';
import { defaultLockPath, fetchSite, type FetchOptions, type FetchOutcome } from '../pipeline/fetch.js';
import { buildPlan } from '../plan/index.js';
import { EXIT, SITE_HELP, SITE_OPTIONS, type Command, type CommandContext, type Conflict, type NumberOption } from './commands.js';
import { paint } from './output.js';
import { formatBytes, progressReporter } from './progress.js';
import { loadValidSite } from './site-input.js';

type Values = Record<string, string | boolean | undefined>;

/** Options shared by `gen fetch` and `gen bundle` (which fetches first). */
export const FETCH_OPTIONS = {
  cache: { type: 'string' },
  lock: { type: 'string' },
  offline: { type: 'boolean' },
  'update-lock': { type: 'boolean' },
  parallel: { type: 'string' },
  timeout: { type: 'string' },
  retries: { type: 'string' },
  'registry-auth': { type: 'string' },
} as const;

export const FETCH_CONFLICT: Conflict = {
  option: 'offline',
  with: ['update-lock'],
  because: '--update-lock asks upstream for current checksums, which --offline does not reach',
};

export const FETCH_HELP = [
  '--cache DIR           download cache (default: $XDG_CACHE_HOME/kubeseed, else ~/.cache/kubeseed)',
  '--lock FILE           lock file (default: <site>.lock.json beside the blueprint)',
  '--offline             use only the cache; list everything missing and exit 1',
  "--update-lock         take upstream's current checksums and image digests, and rewrite the lock",
  '--parallel N          transfers at a time (default: 4)',
  '--timeout SECONDS     give up on a connection that makes no progress for this long (default: 30)',
  '--retries N           retries per transfer after resets, stalls and 5xx answers (default: 5)',
  '--registry-auth FILE  registry credentials in Docker config.json format (default: ~/.docker/config.json if present)',
];

/**
 * The numeric fetch options and their ranges; the command line is checked against them before any
 * command runs. The timeout's ceiling keeps it (in milliseconds) inside what a Node timer can hold.
 */
export const FETCH_NUMBERS = {
  parallel: { min: 1, max: 64 },
  timeout: { min: 1, max: 86400 },
  retries: { min: 0, max: 100 },
} as const satisfies Record<string, NumberOption>;

/** The value of a numeric option (already checked against its range by the command line), or its default. */
function numberOption(values: Values, name: keyof typeof FETCH_NUMBERS, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  const { min, max } = FETCH_NUMBERS[name];
  if (!Number.isInteger(n) || n < min || n > max) throw new InputError(`--${name} ${String(raw)}: expected a whole number from ${min} to ${max}`);
  return n;
}

export function fetchOptionsFrom(values: Values, ctx: CommandContext, blueprintFile: string, events: FetchOptions['events']): FetchOptions {
  const cwd = ctx.streams.cwd;
  return {
    cacheDir: defaultCacheDir(ctx.env, cwd, values.cache as string | undefined),
    lockPath: values.lock ? resolve(cwd, values.lock as string) : defaultLockPath(blueprintFile),
    offline: Boolean(values.offline),
    updateLock: Boolean(values['update-lock']),
    parallel: numberOption(values, 'parallel', 4),
    http: { env: ctx.env, timeoutMs: numberOption(values, 'timeout', 30) * 1000, retries: numberOption(values, 'retries', 5), backoffMs: 250 },
    ...(values['registry-auth'] ? { registryAuth: resolve(cwd, values['registry-auth'] as string) } : {}),
    events,
  };
}

/** Fetch with progress on standard error; returns the outcome and prints nothing else. */
export async function fetchWithProgress(
  site: ResolvedSite,
  plan: BundlePlan,
  values: Values,
  ctx: CommandContext,
  blueprintFile: string,
): Promise<{ outcome: FetchOutcome; opts: FetchOptions }> {
  // The .debs are counted in once their index is resolved.
  const count = plan.artifacts.length + new Set(plan.images.map((i) => i.ref)).size;
  const progress = values.json ? { ...SILENT_EVENTS, finish() {} } : progressReporter(ctx.streams, count);
  const opts = fetchOptionsFrom(values, ctx, blueprintFile, progress);
  try {
    return { outcome: await fetchSite(site, plan, opts), opts };
  } finally {
    progress.finish();
  }
}

export const fetchCommand: Command = {
  name: 'fetch',
  usage: 'gen fetch [--site NAME|PATH] [--cache DIR] [--lock FILE] [--offline] [--update-lock] [--parallel N] [--registry-auth FILE] [--verify-cache]',
  help: [...SITE_HELP, ...FETCH_HELP, '--verify-cache        re-hash every blob in the cache first and drop damaged ones'],
  options: { ...SITE_OPTIONS, ...FETCH_OPTIONS, 'verify-cache': { type: 'boolean' } },
  numbers: FETCH_NUMBERS,
  conflicts: [FETCH_CONFLICT],
  async run(values, _pos, ctx) {
    const s = ctx.streams;
    const loaded = await loadValidSite(values, ctx);
    const plan = buildPlan(loaded.site, loaded.catalog);
    const started = Date.now();
    if (values['verify-cache']) {
      const r = await new BlobCache(defaultCacheDir(ctx.env, s.cwd, values.cache as string | undefined)).verifyAll();
      s.err(`cache: ${r.checked} blob(s) re-hashed, ${r.bad.length} damaged and removed${r.bad.length ? `: ${r.bad.join(', ')}` : ''}`);
    }
    const { outcome, opts } = await fetchWithProgress(loaded.site, plan, values, ctx, loaded.file);
    const secs = ((Date.now() - started) / 1000).toFixed(2);
    const debs = outcome.osRepos.reduce((n, r) => n + r.debs.length, 0);
    if (values.json) {
      s.out(
        JSON.stringify(
          {
            site: plan.site,
            cache: opts.cacheDir,
            lock: opts.lockPath,
            lockWritten: outcome.lockWritten,
            transferred: outcome.transferred,
            seconds: Number(secs),
            artifacts: outcome.lock.artifacts,
            images: outcome.lock.images,
            osPackages: outcome.lock.osPackages ?? {},
          },
          null,
          2,
        ),
      );
    } else {
      s.out(
        `${paint(s, 'green', 'fetched')}: ${outcome.files.size} artifact(s), ${outcome.images.length} image(s)${debs ? `, ${debs} OS package(s) for ${outcome.osRepos.map((r) => r.id).join(', ')}` : ''}; ${formatBytes(outcome.transferred)} transferred in ${secs} s\n` +
          `  cache ${opts.cacheDir}\n  lock  ${opts.lockPath} (${outcome.lockWritten ? 'written' : 'unchanged'})`,
      );
    }
    return EXIT.ok;
  },
};

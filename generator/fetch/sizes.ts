import type { BundlePlan } from '../model/index.js';
import type { HttpClient } from './http.js';
import type { Lock } from './lock.js';

/** Where a download's size came from. */
export type SizeSource = 'lock' | 'server';

export interface DownloadSizes {
  /** Artifact id → size and its source; an artifact absent here has no known size. */
  artifacts: Map<string, { size: number; from: SizeSource }>;
  /** Artifact id → why the server gave no size (with --sizes). */
  unknown: Map<string, string>;
  /** The OS packages the lock records for the plan's repositories, or null when it records none. */
  osPackages: { debs: number; bytes: number } | null;
  /** Every known size added up. */
  total: number;
}

/**
 * The sizes the lock records for the plan's downloads: an artifact's only when the lock has it at
 * the same URL (a changed source is a different file), and each planned repository's `.deb`s.
 */
export function sizesFromLock(plan: BundlePlan, lock: Lock | null): DownloadSizes {
  const artifacts = new Map<string, { size: number; from: SizeSource }>();
  for (const a of plan.artifacts) {
    const locked = lock?.artifacts[a.id];
    if (locked && locked.url === a.url) artifacts.set(a.id, { size: locked.size, from: 'lock' });
    else if (a.size !== null) artifacts.set(a.id, { size: a.size, from: 'lock' });
  }
  const repos = plan.osPackages.repos.map((r) => lock?.osPackages?.[r.id]).filter((r) => r !== undefined);
  const debs = repos.flatMap((r) => Object.values(r.debs));
  const osPackages = repos.length ? { debs: debs.length, bytes: debs.reduce((n, d) => n + d.size, 0) } : null;
  return { artifacts, unknown: new Map(), osPackages, total: total(artifacts, osPackages) };
}

/** Asks the servers (HEAD, `parallel` at a time) for every artifact whose size is still unknown. */
export async function sizesByHead(plan: BundlePlan, known: DownloadSizes, http: HttpClient, parallel: number): Promise<DownloadSizes> {
  const artifacts = new Map(known.artifacts);
  const unknown = new Map<string, string>();
  const queue = plan.artifacts.filter((a) => !artifacts.has(a.id));
  const worker = async () => {
    for (let a = queue.shift(); a; a = queue.shift()) {
      try {
        const size = await http.size(a.url);
        if (size === null) unknown.set(a.id, `${a.url} announced no Content-Length`);
        else artifacts.set(a.id, { size, from: 'server' });
      } catch (e) {
        unknown.set(a.id, (e as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  return { artifacts, unknown, osPackages: known.osPackages, total: total(artifacts, known.osPackages) };
}

function total(artifacts: DownloadSizes['artifacts'], os: DownloadSizes['osPackages']): number {
  return [...artifacts.values()].reduce((n, a) => n + a.size, 0) + (os?.bytes ?? 0);
}

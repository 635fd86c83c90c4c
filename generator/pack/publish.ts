import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { crashPoint } from '../io/crash.js';

/**
 * The new dist takes the old one's place; the old one is removed only after the swap. Two renames:
 * a crash between them leaves the old bundle as `dist.old-<pid>`, which the next run puts back
 * (recoverDist) before anything else.
 */
export async function publishDist(staging: string, dist: string): Promise<void> {
  const old = `${dist}.old-${process.pid}`;
  const hadOld = await stat(dist)
    .then(() => true)
    .catch(() => false);
  if (hadOld) {
    await rename(dist, old);
    crashPoint('dist-old-renamed');
  }
  try {
    await rename(staging, dist);
    crashPoint('dist-new-renamed');
  } catch (e) {
    if (hadOld) await rename(old, dist);
    throw e;
  }
  await fsyncDir(dirname(dist));
  if (hadOld) {
    await rm(old, { recursive: true, force: true });
    crashPoint('dist-old-removed');
  }
}

/**
 * What a run that stopped left in the output directory: a dist moved aside but not replaced is
 * put back (the newest, if several), then old dists, staging directories and half-written payload
 * files are removed. Runs under the output lock, before anything is written.
 */
export async function recoverDist(outRoot: string): Promise<string[]> {
  const said: string[] = [];
  const names = await readdir(outRoot).catch(() => [] as string[]);
  const dist = join(outRoot, 'dist');
  const olds = names.filter((n) => /^dist\.old-\d+$/.test(n));
  if (olds.length && !(await stat(dist).catch(() => null))) {
    const newest = (await Promise.all(olds.map(async (n) => ({ n, t: (await stat(join(outRoot, n))).mtimeMs })))).sort((a, b) => b.t - a.t)[0]!.n;
    await rename(join(outRoot, newest), dist);
    said.push(`restored ${dist} from ${newest}: a previous run stopped while publishing`);
  }
  for (const n of names.filter((x) => /^dist\.old-\d+$/.test(x) || /^\.dist-staging-\d+$/.test(x))) {
    if (!(await stat(join(outRoot, n)).catch(() => null))) continue;
    await rm(join(outRoot, n), { recursive: true, force: true });
    said.push(`removed ${n}, left by a run that stopped`);
  }
  const cache = join(outRoot, 'payload-cache');
  for (const n of (await readdir(cache).catch(() => [] as string[])).filter((x) => /\.tmp-\d+$/.test(x))) {
    await rm(join(cache, n), { force: true });
    said.push(`removed payload-cache/${n}, left by a run that stopped`);
  }
  return said;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

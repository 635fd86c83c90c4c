import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, open, readdir, readlink, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { namingPath } from '../model/index.js';
import { crashPoint } from './crash.js';
import { isLockFile } from './lock.js';
import {
  CURRENT,
  fsyncDir,
  LEGACY,
  lstatOrNull,
  revOf,
  SAFE_PATH,
  sha256,
  STAGING_PREFIX,
  STATE_MANIFEST,
  stateFileMode,
  switchCurrent,
} from './state-layout.js';

/** Writing the site state: a new revision committed in one step (see state-layout.ts), and copies. */

async function writeMember(root: string, path: string, content: string, mode: number): Promise<void> {
  const abs = join(root, path);
  await mkdir(dirname(abs), { recursive: true, mode: 0o700 });
  const fh = await open(abs, 'wx', mode);
  try {
    await namingPath(abs, fh.writeFile(content));
    await namingPath(abs, fh.sync());
  } finally {
    await fh.close();
  }
  // The umask may have narrowed the mode at creation; state it exactly.
  await chmod(abs, mode);
  crashPoint('state-member-written');
}

/**
 * Commits `files` as the state's next revision (see the module comment) and removes the one it
 * replaces, and the loose files of an adopted state. Returns the new revision's number.
 */
export async function commitState(dir: string, files: Map<string, string>): Promise<number> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const names = await readdir(dir);
  const previous = (await lstatOrNull(join(dir, CURRENT))) ? await readlink(join(dir, CURRENT)) : null;
  const next = Math.max(0, ...names.map(revOf).filter((r): r is number => r !== null)) + 1;
  const staging = join(dir, `${STAGING_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { mode: 0o700 });
  await chmod(staging, 0o700);
  const paths = [...files.keys()].sort();
  for (const p of paths) {
    if (!SAFE_PATH.test(p) || p === STATE_MANIFEST) throw new Error(`internal: ${p} is not a state member name`);
    await writeMember(staging, p, files.get(p)!, stateFileMode(p));
  }
  const manifest = {
    apiVersion: 'kubeseed/v1alpha1',
    kind: 'StateManifest',
    revision: next,
    files: paths.map((p) => ({ path: p, sha256: sha256(files.get(p)!) })),
  };
  await writeMember(staging, STATE_MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
  for (const d of new Set(paths.map((p) => dirname(p)).filter((d) => d !== '.'))) {
    await chmod(join(staging, d), 0o700);
    await fsyncDir(join(staging, d));
  }
  await fsyncDir(staging);
  await rename(staging, join(dir, `rev-${next}`));
  crashPoint('state-revision-renamed');
  await fsyncDir(dir);
  await switchCurrent(dir, `rev-${next}`);
  if (previous && previous !== `rev-${next}`) {
    await rm(join(dir, previous), { recursive: true, force: true });
    crashPoint('state-previous-removed');
  }
  for (const x of LEGACY) {
    if (await lstatOrNull(join(dir, x))) {
      await rm(join(dir, x), { recursive: true, force: true });
      crashPoint('state-legacy-removed');
    }
  }
  return next;
}

/**
 * Copies the whole state directory (every revision, the link, as they are, damaged or not) to
 * `target`, under a temporary name first so that a crash leaves no half copy under that name.
 */
export async function copyState(dir: string, target: string): Promise<void> {
  const tmp = `${target}.partial-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await cp(dir, tmp, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, filter: (src) => !isLockFile(src) });
  await chmod(tmp, 0o700);
  crashPoint('state-copy-made');
  await rename(tmp, target);
  crashPoint('state-copy-renamed');
}

/** Removes half copies of `copyState` beside the state (`<dir>.prev-<time>.partial-<pid>`). */
export async function removePartialCopies(dir: string): Promise<string[]> {
  const parent = dirname(dir);
  const prefix = `${basename(dir)}.prev-`;
  const gone: string[] = [];
  for (const x of await readdir(parent).catch(() => [] as string[])) {
    if (x.startsWith(prefix) && /\.partial-\d+$/.test(x)) {
      await rm(join(parent, x), { recursive: true, force: true });
      gone.push(join(parent, x));
    }
  }
  return gone;
}

import { createHash, randomBytes } from 'node:crypto';
import { lstat, open, rename, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crashPoint } from './crash.js';

/**
 * The site state on disk, in revisions:
 *
 *   state/current -> rev-7        the one committed revision
 *   state/rev-7/manifest.json     every member with its sha256, written last
 *   state/rev-7/state.json, pki/…, secrets/…
 *
 * A new revision is written complete under a staging name, renamed to `rev-N`, and committed by
 * replacing the `current` symlink with rename(2), one atomic step. Whatever a crash interrupts, the
 * next run finds `current` on the old revision or the new one; staging and uncommitted revisions
 * are removed then. Callers hold the state's lock (io/lock).
 */

export const CURRENT = 'current';
export const STATE_MANIFEST = 'manifest.json';
export const REV = /^rev-(\d{1,9})$/;
export const STAGING_PREFIX = '.staging-';
export const LINK_PREFIX = '.current-';
/** Top-level names of a state written before revisions existed. */
export const LEGACY = ['state.json', 'pki', 'secrets'];
export const SAFE_PATH = /^(?!\/)(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._/-]+$/;

export interface StateDamage {
  path: string;
  what: string;
}

/** Keys and secrets 0600; certificates, public keys and metadata 0644; every directory 0700. */
export function stateFileMode(path: string): number {
  return path.endsWith('.key') || path.startsWith('secrets/') ? 0o600 : 0o644;
}

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
export const mode8 = (m: number) => (m & 0o777).toString(8).padStart(4, '0');

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function revOf(name: string): number | null {
  const m = REV.exec(name);
  return m ? Number(m[1]) : null;
}

export async function lstatOrNull(p: string) {
  return lstat(p).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
}

/** Points `current` at `target` with one rename(2) of a new symlink over it. */
export async function switchCurrent(dir: string, target: string): Promise<void> {
  const tmp = join(dir, `${LINK_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  await symlink(target, tmp);
  crashPoint('state-link-made');
  await rename(tmp, join(dir, CURRENT));
  crashPoint('state-link-switched');
  await fsyncDir(dir);
}

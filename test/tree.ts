import { lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export interface TreeEntry {
  /** Relative to the root, with "/" separators. */
  path: string;
  abs: string;
  stat: Stats;
}

/**
 * Every regular file and symlink under `root` (links not followed), sorted by path. Stays on the
 * root's file system, so a chroot with /proc mounted lists only its own files.
 */
export function listTree(root: string): TreeEntry[] {
  const dev = lstatSync(root).dev;
  const out: TreeEntry[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const abs = join(root, path);
      const stat = lstatSync(abs);
      if (stat.isDirectory()) {
        if (stat.dev === dev) walk(path);
      } else if (stat.isFile() || stat.isSymbolicLink()) out.push({ path, abs, stat });
    }
  };
  walk('');
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** path → what `describe` says of it, for every regular file (and, with `links`, symlink) under `root`. */
export function describeTree(root: string, describe: (e: TreeEntry) => string, { links = false } = {}): Record<string, string> {
  return Object.fromEntries(
    listTree(root)
      .filter((e) => links || e.stat.isFile())
      .map((e) => [e.path, describe(e)]),
  );
}

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Mode (octal permission bits) and sha256 of a regular file; a symlink as its target. */
export const modeAndHash = (e: TreeEntry) =>
  e.stat.isSymbolicLink() ? `link ${readlinkSync(e.abs)}` : `${(e.stat.mode & 0o777).toString(8)} ${sha256(readFileSync(e.abs))}`;

/**
 * `/path` → `0mode sha256` of every regular file and `link target` of every symlink under `root`:
 * what a test compares before and after a step run on a node's root.
 */
export function modeHashTree(root: string): Map<string, string> {
  return new Map(
    listTree(root).map((e) => [
      `/${e.path}`,
      e.stat.isSymbolicLink()
        ? `link ${readlinkSync(e.abs)}`
        : `0${(e.stat.mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(e.abs)).digest('hex')}`,
    ]),
  );
}

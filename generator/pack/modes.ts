import { chmod, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { DIST, isNodeSecret, nodeOwning } from './dist-layout.js';

/**
 * The mode of every entry of a bundle (dist/), by path (the paths are dist-layout's): the one
 * table both `gen bundle` and `gen verify` read. Whatever carries a private key or a token (a
 * node's node-files archive, seed ISO, tarball and kickstart; the admin kubeconfig) is 0600 in a
 * 0700 directory. Modes are set explicitly after writing, so the umask changes nothing, and
 * manifest.json records them.
 */
const FILE_RULES: { match: (path: string) => boolean; mode: number; secret: boolean }[] = [
  { match: (p) => p.startsWith(`${DIST.adminDir}/`) && /^[^/]+\.(?:kubeconfig|key)$/.test(p.slice(DIST.adminDir.length + 1)), mode: 0o600, secret: true },
  { match: isNodeSecret, mode: 0o600, secret: true },
  { match: (p) => p.endsWith('.sh'), mode: 0o755, secret: false },
];
const isSecretDir = (path: string) => path === DIST.adminDir || (nodeOwning(`${path}/`) !== null && !path.slice(DIST.nodesDir.length + 1).includes('/'));

export function distFileMode(path: string): number {
  return FILE_RULES.find((r) => r.match(path))?.mode ?? 0o644;
}

/** Whether a bundle file carries a private key or a token. */
export function isSecretDistFile(path: string): boolean {
  return FILE_RULES.some((r) => r.secret && r.match(path));
}

export function distDirMode(path: string): number {
  return isSecretDir(path) ? 0o700 : 0o755;
}

/** Sets every file and directory below `root` to its mode from the table (and `root` to 0755). */
export async function applyDistModes(root: string): Promise<void> {
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    const abs = join(e.parentPath, e.name);
    const rel = relative(root, abs);
    if (e.isDirectory()) await chmod(abs, distDirMode(rel));
    else if (e.isFile()) await chmod(abs, distFileMode(rel));
  }
  await chmod(root, 0o755);
}

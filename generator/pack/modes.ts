import { chmod, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * The mode of every entry of a bundle (dist/), by path: the one table both `gen bundle` and
 * `gen verify` read. Whatever carries a private key or a token (a node's seed ISO, tarballs and
 * kickstart, which hold its node files; the admin kubeconfig) is 0600 in a 0700 directory. Modes
 * are set explicitly after writing, so the umask changes nothing, and manifest.json records them.
 */
const FILE_RULES: { match: RegExp; mode: number; secret: boolean }[] = [
  { match: /^admin\/[^/]+\.(?:kubeconfig|key)$/, mode: 0o600, secret: true },
  { match: /^nodes\/[^/]+\/(?:seed\.iso|[^/]+\.tar\.gz|ks\.cfg)$/, mode: 0o600, secret: true },
  { match: /\.sh$/, mode: 0o755, secret: false },
];
const SECRET_DIRS = [/^admin$/, /^nodes\/[^/]+$/];

export function distFileMode(path: string): number {
  return FILE_RULES.find((r) => r.match.test(path))?.mode ?? 0o644;
}

/** Whether a bundle file carries a private key or a token. */
export function isSecretDistFile(path: string): boolean {
  return FILE_RULES.some((r) => r.secret && r.match.test(path));
}

export function distDirMode(path: string): number {
  return SECRET_DIRS.some((r) => r.test(path)) ? 0o700 : 0o755;
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

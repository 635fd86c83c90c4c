import { chmod, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { writeFileAtomic } from './atomic.js';

/** Files of the site state, by path relative to the state directory; null when there is no state yet. */
export async function readState(dir: string): Promise<Map<string, string> | null> {
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error(`${dir} is not a directory`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = new Map<string, string>();
  for (const e of entries.filter((x) => x.isFile())) {
    const abs = join(e.parentPath, e.name);
    if (e.name.includes('.tmp-')) continue;
    files.set(relative(dir, abs), await readFile(abs, 'utf8'));
  }
  return files.size ? files : null;
}

/** Keys and secrets 0600; certificates, public keys and metadata 0644; every directory 0700. */
export function stateFileMode(path: string): number {
  return path.endsWith('.key') || path.startsWith('secrets/') ? 0o600 : 0o644;
}

async function writeInto(dir: string, files: Map<string, string>, paths: string[]): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  for (const p of paths) {
    const abs = join(dir, p);
    await writeFileAtomic(abs, files.get(p)!, stateFileMode(p), 0o700);
  }
}

/** Writes the changed files in place; existing files that did not change are not touched. */
export async function writeStateChanges(dir: string, files: Map<string, string>, changed: string[]): Promise<void> {
  await writeInto(dir, files, changed);
}

/**
 * Replaces the whole state (CA rotation): the new state is written beside the old one, the old
 * one is kept as `<dir>.prev-<time>`, then the new one takes its name.
 */
export async function replaceState(dir: string, files: Map<string, string>, stamp: number): Promise<string | null> {
  const next = `${dir}.new-${process.pid}`;
  await rm(next, { recursive: true, force: true });
  await writeInto(next, files, [...files.keys()].sort());
  let previous: string | null = null;
  try {
    await stat(dir);
    previous = `${dir}.prev-${stamp}`;
    await rename(dir, previous);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await rename(next, dir);
  return previous;
}

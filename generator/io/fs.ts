import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FsPort } from '../model/index.js';

export const realFs: FsPort = {
  readText: (path) => readFile(path, 'utf8'),
  async listFiles(dir) {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => relative(dir, join(e.parentPath, e.name)))
      .sort();
  },
  async exists(path) {
    try {
      await stat(path);
      return true;
    } catch {
      return false;
    }
  },
};

/** The installed package's root (holds `blueprints/`), whatever the working directory. */
export function packageRoot(): string {
  // dist/generator/io/fs.js → three levels up.
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Makes directories for one test file; `adopt` takes over one made elsewhere (e.g. by makeState). */
export interface TempDirs {
  (prefix?: string): string;
  adopt(dir: string): string;
}

/**
 * Temporary directories of one test file, all removed after its last test. Call it at the top
 * of the file (it registers an AVA hook).
 */
export function tempDirs(defaultPrefix = 'kubeseed-'): TempDirs {
  const made: string[] = [];
  test.after.always(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });
  const make = (prefix = defaultPrefix) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    made.push(d);
    return d;
  };
  return Object.assign(make, {
    adopt: (dir: string) => {
      made.push(dir);
      return dir;
    },
  });
}

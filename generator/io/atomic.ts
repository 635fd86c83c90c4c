import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { namingPath } from '../model/index.js';

/** Write to a temporary name in the same directory, flush, then rename: readers see old or new, never half. */
export async function writeFileAtomic(path: string, content: string | Uint8Array, mode: number, dirMode = 0o755): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: dirMode });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await namingPath(path, fh.writeFile(content));
    await namingPath(path, fh.sync());
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  // The umask may have narrowed the mode at creation; state it exactly.
  await chmod(tmp, mode);
  await rename(tmp, path);
}

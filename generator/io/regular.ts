import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';

/**
 * Reading files a user or an attacker may have replaced: a symlink is never followed and a FIFO,
 * socket or device never opened (lstat first), and the open itself refuses symlinks and does not
 * block, so a file swapped between the two checks is still caught by fstat.
 */

export type NotRegular = 'missing' | 'a symlink' | 'a directory' | 'a FIFO' | 'a socket' | 'a device' | 'not a regular file';

export function kindOf(st: {
  isSymbolicLink(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isBlockDevice(): boolean;
  isCharacterDevice(): boolean;
  isFile(): boolean;
}): NotRegular | null {
  if (st.isFile()) return null;
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isBlockDevice() || st.isCharacterDevice()) return 'a device';
  return 'not a regular file';
}

/** What `path` is, if not a regular file (without following a symlink); null for a regular file. */
export async function notRegular(path: string): Promise<NotRegular | null> {
  try {
    return kindOf(await lstat(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return 'missing';
    throw e;
  }
}

async function openRegular(path: string): Promise<FileHandle | NotRegular> {
  const pre = await notRegular(path);
  if (pre) return pre;
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'a symlink';
    if (code === 'ENOENT') return 'missing';
    throw e;
  }
  const kind = kindOf(await fh.stat());
  if (kind) {
    await fh.close();
    return kind;
  }
  return fh;
}

/** The bytes of a regular file, or what the path is instead. */
export async function readRegular(path: string): Promise<Buffer | NotRegular> {
  const fh = await openRegular(path);
  if (typeof fh === 'string') return fh;
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** SHA-256 of a regular file, streamed, or what the path is instead. */
export async function sha256Regular(path: string): Promise<{ sha256: string } | NotRegular> {
  const fh = await openRegular(path);
  if (typeof fh === 'string') return fh;
  const h = createHash('sha256');
  // The stream closes the handle when it ends or fails.
  for await (const chunk of createReadStream('', { fd: fh, highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return { sha256: h.digest('hex') };
}

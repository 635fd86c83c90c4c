import { constants, type Stats } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, type FsPort } from '../model/index.js';

/** Input files (blueprints, catalog files) larger than this are refused before they are read. */
export const MAX_INPUT_FILE_BYTES = 1024 * 1024;

function describeFileType(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * A small input file as UTF-8 text. Its type is checked with stat before it is opened: opening a
 * FIFO for reading blocks until a writer comes, and `/dev/zero` or `/dev/urandom` never end. The
 * open itself does not block (O_NONBLOCK) and the handle is checked again, in case the path was
 * replaced in between; at most the limit plus one byte is read.
 */
export async function readInputText(path: string, limit = MAX_INPUT_FILE_BYTES): Promise<string> {
  const refuse = (st: Stats) => {
    if (!st.isFile()) throw new InputError(`${path} is ${describeFileType(st)}, not a regular file`, [], 'give the path of a YAML file');
    if (st.size > limit) throw new InputError(`${path} is ${st.size} bytes, more than the ${limit} an input file may have`, [], 'is this the right file?');
  };
  refuse(await stat(path));
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    refuse(await fh.stat());
    const buf = Buffer.alloc(limit + 1);
    let used = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, used, buf.length - used, null);
      if (bytesRead === 0) break;
      used += bytesRead;
      if (used > limit) throw new InputError(`${path} grew past ${limit} bytes while it was read`, [], 'is this the right file?');
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, used));
    } catch {
      throw new InputError(`${path} is not UTF-8 text`, [], 'a blueprint is a YAML text file');
    }
  } finally {
    await fh.close();
  }
}

export const realFs: FsPort = {
  readText: (path) => readInputText(path),
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

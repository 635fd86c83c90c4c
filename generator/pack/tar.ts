import { createGzip } from 'node:zlib';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LATEST_ARCHIVE_TIME } from './epoch.js';

export interface TarFile {
  /** Path inside the archive, no leading slash. */
  path: string;
  mode: number;
  size: number;
  /** Streams the file's bytes; called once, in path order. */
  open: () => Readable | AsyncIterable<Uint8Array>;
}

export interface TarOptions {
  /** Every entry's mtime (seconds since the epoch). */
  mtime: number;
  gzip?: boolean;
}

const BLOCK = 512;
/** The largest number an ustar numeric field of 11 octal digits holds. */
const MAX_OCTAL_11 = 8 ** 11 - 1;

/**
 * Deterministic tar: entries sorted by path, one fixed mtime, owner root (0/0), modes exactly as
 * given (keys 0600), file data streamed (never the whole archive in memory). gzip from node:zlib
 * writes no name and a zero mtime in its header, so compressed output is deterministic too.
 */
export async function writeTar(files: TarFile[], out: Writable, opts: TarOptions): Promise<void> {
  if (!Number.isInteger(opts.mtime) || opts.mtime < 0 || opts.mtime > LATEST_ARCHIVE_TIME)
    throw new Error(`tar mtime ${opts.mtime} is outside 0…${LATEST_ARCHIVE_TIME}`);
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const seen = new Set<string>();
  for (const f of sorted) {
    if (seen.has(f.path)) throw new Error(`${f.path} is listed twice`);
    seen.add(f.path);
  }
  const headers = sorted.map((f) => ustarHeader(f.path, f.mode, f.size, opts.mtime));
  async function* archive(): AsyncGenerator<Uint8Array> {
    for (const [i, f] of sorted.entries()) {
      yield headers[i]!;
      let written = 0;
      for await (const chunk of f.open() as AsyncIterable<Uint8Array>) {
        written += chunk.length;
        if (written > f.size) throw new Error(`${f.path}: more than the ${f.size} bytes announced`);
        yield chunk;
      }
      if (written !== f.size) throw new Error(`${f.path}: ${written} bytes, ${f.size} announced`);
      const pad = (BLOCK - (f.size % BLOCK)) % BLOCK;
      if (pad) yield Buffer.alloc(pad);
    }
    // Two zero blocks end the archive.
    yield Buffer.alloc(2 * BLOCK);
  }
  const sink = opts.gzip ? [createGzip({ level: 9 }), out] : [out];
  await pipeline(Readable.from(archive(), { objectMode: false }), ...(sink as [Writable]));
}

/**
 * One ustar header block (POSIX.1-1988) for a regular file owned by root. Numeric fields are
 * zero-padded octal followed by a space, as GNU tar and bsdtar read them; a name longer than 100
 * bytes is split at a '/' into prefix (155) and name (100), taking as little into the prefix as fits.
 */
export function ustarHeader(path: string, mode: number, size: number, mtime: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  const { name, prefix } = splitName(path);
  b.write(name, 0, 'ascii');
  octal(b, 100, 6, mode & 0o7777);
  octal(b, 108, 6, 0);
  octal(b, 116, 6, 0);
  if (size > MAX_OCTAL_11) throw new Error(`${path}: ${size} bytes do not fit an ustar header`);
  octal(b, 124, 11, size);
  octal(b, 136, 11, mtime);
  b[156] = 0x30; // '0': regular file
  b.write('ustar\0', 257, 'ascii');
  b.write('00', 263, 'ascii');
  b.write('root', 265, 'ascii');
  b.write('root', 297, 'ascii');
  octal(b, 329, 6, 0);
  octal(b, 337, 6, 0);
  if (prefix) b.write(prefix, 345, 'ascii');
  // The checksum counts its own field as eight spaces.
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += b[i]!;
  octal(b, 148, 6, sum);
  return b;
}

function octal(b: Buffer, offset: number, digits: number, value: number): void {
  const text = value.toString(8);
  if (text.length > digits) throw new Error(`${value} does not fit ${digits} octal digits`);
  b.write(`${text.padStart(digits, '0')} `, offset, 'ascii');
}

function splitName(path: string): { name: string; prefix: string } {
  if (!/^[\x20-\x7e]+$/.test(path)) throw new Error(`${JSON.stringify(path)}: tar entry names are printable ASCII`);
  // Path components move to the prefix, from the front, until the name fits.
  let name = path;
  let prefix = '';
  while (name.length > 100) {
    const i = name.indexOf('/');
    if (i < 0) break;
    prefix = prefix ? `${prefix}/${name.slice(0, i)}` : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (name.length <= 100 && prefix.length <= 155) return { name, prefix };
  throw new Error(`${path}: too long for an ustar header`);
}

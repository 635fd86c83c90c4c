import { createGzip } from 'node:zlib';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';

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

/**
 * Deterministic tar: entries sorted by path, one fixed mtime, owner root (0/0), modes exactly as
 * given (keys 0600), file data streamed (never the whole archive in memory). gzip from node:zlib
 * writes no name and a zero mtime in its header, so compressed output is deterministic too.
 */
export async function writeTar(files: TarFile[], out: Writable, opts: TarOptions): Promise<void> {
  const pack = tarStream.pack();
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const seen = new Set<string>();
  for (const f of sorted) {
    if (seen.has(f.path)) throw new Error(`${f.path} is listed twice`);
    seen.add(f.path);
  }
  const feeding = (async () => {
    for (const f of sorted) {
      const entry = pack.entry({ name: f.path, size: f.size, mode: f.mode, mtime: new Date(opts.mtime * 1000), uid: 0, gid: 0, uname: 'root', gname: 'root', type: 'file' });
      await pipeline(f.open() as Readable, entry);
    }
    pack.finalize();
  })();
  const sink = opts.gzip ? [createGzip({ level: 9 }), out] : [out];
  await Promise.all([feeding, pipeline(pack, ...(sink as [Writable]))]);
}

import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { namingPath } from '../model/index.js';
import { buildIso, type IsoFile, type IsoOptions } from './iso9660.js';
import { writeTar, type TarFile } from './tar.js';

/** An in-memory file for the tar and ISO writers. */
export function memFile(path: string, content: string | Uint8Array, mode: number): IsoFile & TarFile {
  const bytes = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content);
  return {
    path,
    mode,
    size: bytes.length,
    open: () => Readable.from([bytes]),
  };
}

/** A file on disk, streamed when the archive is written. */
export async function diskFile(path: string, source: string, mode: number): Promise<IsoFile & TarFile> {
  const st = await stat(source);
  return { path, mode, size: st.size, open: () => createReadStream(source, { highWaterMark: 1 << 20 }) };
}

export async function writeIsoTo(target: string, files: IsoFile[], opts: IsoOptions): Promise<number> {
  const iso = buildIso(files, opts);
  await namingPath(target, pipeline(Readable.from(iso.stream()), createWriteStream(target, { mode: 0o644 })));
  return iso.size;
}

export async function writeTarTo(target: string, files: TarFile[], mtime: number, gzip: boolean): Promise<void> {
  await namingPath(target, writeTar(files, createWriteStream(target, { mode: 0o644 }), { mtime, gzip }));
}

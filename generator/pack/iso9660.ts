// Over 300 lines: one on-disk format; the ISO 9660, Rock Ridge and Joliet trees come from one layout pass over the same sectors.
/**
 * ISO 9660 image writer with Rock Ridge (RRIP 1991A: POSIX names, modes, owners, times)
 * and Joliet (UCS-2 names), in TypeScript: the build machine needs no xorriso. Deterministic: the
 * same entries and time give the same bytes. File data is streamed from its source; only the
 * directory structures are held in memory.
 */

import { FailureError } from '../model/index.js';
import { LATEST_ARCHIVE_TIME } from './epoch.js';

const SECTOR = 2048;
/** A single ISO 9660 extent holds at most this many bytes (4 GiB − 1 sector, sector-aligned). */
export const MAX_FILE_SIZE = 0xffffffff - (SECTOR - 1);

export interface IsoFile {
  /** Path inside the image, `/`-separated, no leading slash. */
  path: string;
  mode: number;
  size: number;
  /** Streams the file's bytes; called once, in path order, while the image is written. */
  open: () => AsyncIterable<Uint8Array>;
}

export interface IsoOptions {
  volumeId: string;
  /** Every timestamp in the image (seconds since the epoch). */
  mtime: number;
  uid?: number;
  gid?: number;
  applicationId?: string;
}

export class IsoError extends FailureError {}

interface Node {
  name: string;
  kind: 'dir' | 'file';
  mode: number;
  children: Map<string, Node>;
  file?: IsoFile;
  parent?: Node;
  // Layout, filled in by buildIso:
  isoName?: string;
  jolietName?: string;
  extent?: number;
  jolietExtent?: number;
  dirSize?: number;
  jolietDirSize?: number;
  number?: number;
  continuation?: { sector: number; offset: number; length: number };
}

function both16(b: Buffer, off: number, v: number): void {
  b.writeUInt16LE(v, off);
  b.writeUInt16BE(v, off + 2);
}
function both32(b: Buffer, off: number, v: number): void {
  b.writeUInt32LE(v, off);
  b.writeUInt32BE(v, off + 4);
}
function padText(text: string, len: number): Buffer {
  const b = Buffer.alloc(len, 0x20);
  b.write(text.slice(0, len), 'ascii');
  return b;
}
function ucs2(text: string): Buffer {
  const le = Buffer.from(text, 'utf16le');
  for (let i = 0; i < le.length; i += 2) {
    const x = le[i]!;
    le[i] = le[i + 1]!;
    le[i + 1] = x;
  }
  return le;
}
function padUcs2(text: string, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i + 1 < len; i += 2) b.writeUInt16BE(0x20, i);
  ucs2(text).copy(b, 0, 0, Math.min(len, text.length * 2));
  return b;
}

/** 7-byte directory-record date, UTC. */
function dirDate(mtime: number): Buffer {
  const d = new Date(mtime * 1000);
  return Buffer.from([d.getUTCFullYear() - 1900, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), 0]);
}
/** 17-byte volume-descriptor date, UTC. */
function volDate(mtime: number | null): Buffer {
  if (mtime === null) return Buffer.concat([Buffer.from('0000000000000000', 'ascii'), Buffer.from([0])]);
  const d = new Date(mtime * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return Buffer.concat([
    Buffer.from(
      `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}00`,
      'ascii',
    ),
    Buffer.from([0]),
  ]);
}

const sectorsFor = (bytes: number) => Math.ceil(bytes / SECTOR);

// ---- Rock Ridge (SUSP) entries ----
function susp(sig: string, data: Buffer): Buffer {
  const h = Buffer.from([sig.charCodeAt(0), sig.charCodeAt(1), 4 + data.length, 1]);
  return Buffer.concat([h, data]);
}
function rrPX(mode: number, links: number, uid: number, gid: number): Buffer {
  const b = Buffer.alloc(32);
  both32(b, 0, mode);
  both32(b, 8, links);
  both32(b, 16, uid);
  both32(b, 24, gid);
  return susp('PX', b);
}
function rrTF(mtime: number): Buffer {
  const d = dirDate(mtime);
  // modify, access and attribute-change times.
  return susp('TF', Buffer.concat([Buffer.from([0x0e]), d, d, d]));
}
function rrNM(name: string): Buffer {
  return susp('NM', Buffer.concat([Buffer.from([0]), Buffer.from(name, 'utf8')]));
}
function rrCE(c: { sector: number; offset: number; length: number }): Buffer {
  const b = Buffer.alloc(24);
  both32(b, 0, c.sector);
  both32(b, 8, c.offset);
  both32(b, 16, c.length);
  return susp('CE', b);
}
const RR_ID = 'RRIP_1991A';
const RR_DES = 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
const RR_SRC = 'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';
function rrER(): Buffer {
  return susp('ER', Buffer.concat([Buffer.from([RR_ID.length, RR_DES.length, RR_SRC.length, 1]), Buffer.from(RR_ID + RR_DES + RR_SRC, 'ascii')]));
}

/** ISO 9660 level-2 name: d-characters only, unique in its directory; files get `;1`. */
function isoNames(dir: Node): void {
  const used = new Set<string>();
  for (const child of sortedChildren(dir)) {
    const isDir = child.kind === 'dir';
    const clean = child.name.toUpperCase().replace(/[^A-Z0-9_.]/g, '_');
    // A file's extension is after its last dot; a directory has none.
    const dot = isDir ? -1 : clean.lastIndexOf('.');
    const stem = (dot > 0 ? clean.slice(0, dot) : clean).replaceAll('.', '_');
    const ext =
      dot > 0
        ? clean
            .slice(dot + 1)
            .replaceAll('.', '_')
            .slice(0, 8)
        : '';
    const max = isDir ? 31 : 30 - ext.length - 1;
    let candidate: string;
    for (let n = 0; ; n++) {
      const suffix = n === 0 ? '' : `_${n}`;
      const base = stem.slice(0, Math.max(1, max - suffix.length)) + suffix;
      candidate = isDir ? base : `${base}.${ext}`;
      if (!used.has(candidate)) break;
    }
    used.add(candidate);
    child.isoName = isDir ? candidate : `${candidate};1`;
  }
}

function sortedChildren(dir: Node): Node[] {
  return [...dir.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Every directory, in path-table order: by depth, then parent number, then name. */
function directoriesInOrder(root: Node): Node[] {
  const out: Node[] = [root];
  root.number = 1;
  for (let i = 0; i < out.length; i++) {
    for (const c of sortedChildren(out[i]!).filter((x) => x.kind === 'dir')) {
      c.number = out.length + 1;
      out.push(c);
    }
  }
  return out;
}

export interface IsoImage {
  /** Total size in bytes. */
  size: number;
  /** The image, chunk by chunk. */
  stream(): AsyncGenerator<Uint8Array>;
}

/** Lays out an image of `files`; nothing is read until `stream()` runs. */
export function buildIso(files: IsoFile[], opts: IsoOptions): IsoImage {
  // A directory record's year is one byte from 1900: a later time would wrap, not fail.
  if (!Number.isInteger(opts.mtime) || opts.mtime < 0 || opts.mtime > LATEST_ARCHIVE_TIME)
    throw new IsoError(`ISO time ${opts.mtime} is outside 0…${LATEST_ARCHIVE_TIME}`);
  const uid = opts.uid ?? 0;
  const gid = opts.gid ?? 0;
  const root: Node = { name: '', kind: 'dir', mode: 0o40755, children: new Map() };
  const place = (path: string): { dir: Node; name: string } => {
    const parts = path.split('/').filter(Boolean);
    if (!parts.length) throw new IsoError(`empty path in ISO entries`);
    let dir = root;
    for (const p of parts.slice(0, -1)) {
      let next = dir.children.get(p);
      if (!next) {
        next = { name: p, kind: 'dir', mode: 0o40755, children: new Map(), parent: dir };
        dir.children.set(p, next);
      }
      if (next.kind !== 'dir') throw new IsoError(`${path}: ${p} is not a directory`);
      dir = next;
    }
    const name = parts.at(-1)!;
    if (dir.children.has(name)) throw new IsoError(`${path} is listed twice`);
    if (Buffer.byteLength(name) > 180) throw new IsoError(`${path}: names longer than 180 bytes are not supported`);
    return { dir, name };
  };
  for (const f of files) {
    if (f.size > MAX_FILE_SIZE) {
      throw new IsoError(
        `${f.path} is ${f.size} bytes; this ISO writer stores a file in one extent of at most ${MAX_FILE_SIZE} bytes (4 GiB). Split the file, or carry it in the payload tarball instead of the ISO.`,
      );
    }
    const { dir, name } = place(f.path);
    dir.children.set(name, { name, kind: 'file', mode: 0o100000 | (f.mode & 0o7777), children: new Map(), file: f, parent: dir });
  }

  const dirs = directoriesInOrder(root);
  for (const d of dirs) {
    isoNames(d);
    for (const c of d.children.values()) c.jolietName = c.name.slice(0, 64);
  }

  // Rock Ridge system-use fields per record (the root's "." also carries SP and the CE to ER).
  const rrFor = (n: Node, self: boolean): Buffer => {
    const parts = [rrPX(n.mode, n.kind === 'dir' ? 2 + sortedChildren(n).filter((c) => c.kind === 'dir').length : 1, uid, gid), rrTF(opts.mtime)];
    if (!self) parts.push(rrNM(n.name));
    return Buffer.concat(parts);
  };
  const rootSelfPrefix = (ce: { sector: number; offset: number; length: number }) => Buffer.concat([susp('SP', Buffer.from([0xbe, 0xef, 0])), rrCE(ce)]);
  const erEntry = rrER();

  const recordLen = (nameLen: number, suLen: number) => {
    const base = 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0);
    return base + suLen + ((base + suLen) % 2);
  };
  /** Bytes of a directory's extent: records may not straddle sectors. */
  const dirBytes = (lens: number[]) => {
    let used = 0;
    for (const l of lens) {
      if ((used % SECTOR) + l > SECTOR) used += SECTOR - (used % SECTOR);
      used += l;
    }
    return sectorsFor(used) * SECTOR;
  };
  const dummyCe = { sector: 0, offset: 0, length: 0 };
  for (const d of dirs) {
    const kids = sortedChildren(d);
    const selfSu = (d === root ? rootSelfPrefix(dummyCe).length : 0) + rrFor(d, true).length;
    const parentSu = rrFor(d.parent ?? root, true).length;
    d.dirSize = dirBytes([recordLen(1, selfSu), recordLen(1, parentSu), ...kids.map((c) => recordLen(Buffer.byteLength(c.isoName!), rrFor(c, false).length))]);
    d.jolietDirSize = dirBytes([recordLen(1, 0), recordLen(1, 0), ...kids.map((c) => recordLen(ucs2(c.jolietName!).length, 0))]);
  }

  // Path tables.
  const pathTable = (joliet: boolean, bigEndian: boolean, extentOf: (d: Node) => number): Buffer => {
    const recs = dirs.map((d) => {
      const id = d === root ? Buffer.from([0]) : joliet ? ucs2(d.jolietName!) : Buffer.from(d.isoName!, 'ascii');
      const b = Buffer.alloc(8 + id.length + (id.length % 2));
      b[0] = id.length;
      if (bigEndian) {
        b.writeUInt32BE(extentOf(d), 2);
        b.writeUInt16BE((d.parent ?? root).number!, 6);
      } else {
        b.writeUInt32LE(extentOf(d), 2);
        b.writeUInt16LE((d.parent ?? root).number!, 6);
      }
      id.copy(b, 8);
      return b;
    });
    return Buffer.concat(recs);
  };
  const ptSize = pathTable(false, false, () => 0).length;
  const jptSize = pathTable(true, false, () => 0).length;
  const ptSectors = sectorsFor(ptSize);
  const jptSectors = sectorsFor(jptSize);

  // Sector map: 0-15 system area, 16 PVD, 17 Joliet SVD, 18 terminator, then path tables,
  // the ER continuation sector, directories, Joliet directories, file data.
  let next = 19;
  const lPt = next;
  next += ptSectors;
  const mPt = next;
  next += ptSectors;
  const jlPt = next;
  next += jptSectors;
  const jmPt = next;
  next += jptSectors;
  const ceSector = next++;
  root.continuation = { sector: ceSector, offset: 0, length: erEntry.length };
  for (const d of dirs) {
    d.extent = next;
    next += d.dirSize! / SECTOR;
  }
  for (const d of dirs) {
    d.jolietExtent = next;
    next += d.jolietDirSize! / SECTOR;
  }
  const filesInOrder: Node[] = [];
  const walk = (d: Node) => {
    for (const c of sortedChildren(d)) {
      if (c.kind === 'file') filesInOrder.push(c);
      else if (c.kind === 'dir') walk(c);
    }
  };
  walk(root);
  for (const f of filesInOrder) {
    f.extent = f.file!.size === 0 ? 0 : next;
    next += sectorsFor(f.file!.size);
  }
  const totalSectors = next;

  const record = (extent: number, size: number, flags: number, id: Buffer, su: Buffer): Buffer => {
    const len = recordLen(id.length, su.length);
    const b = Buffer.alloc(len);
    b[0] = len;
    both32(b, 2, extent);
    both32(b, 10, size);
    dirDate(opts.mtime).copy(b, 18);
    b[25] = flags;
    both16(b, 28, 1);
    b[32] = id.length;
    id.copy(b, 33);
    su.copy(b, 33 + id.length + (id.length % 2 === 0 ? 1 : 0));
    return b;
  };
  const layoutDir = (recs: Buffer[], size: number): Buffer => {
    const out = Buffer.alloc(size);
    let at = 0;
    for (const r of recs) {
      if ((at % SECTOR) + r.length > SECTOR) at += SECTOR - (at % SECTOR);
      r.copy(out, at);
      at += r.length;
    }
    return out;
  };
  const dataOf = (n: Node) => (n.kind === 'file' ? n.file!.size : n.dirSize!);
  const isoDir = (d: Node): Buffer => {
    const parent = d.parent ?? root;
    const selfSu = Buffer.concat([...(d === root ? [rootSelfPrefix(root.continuation!)] : []), rrFor(d, true)]);
    const recs = [
      record(d.extent!, d.dirSize!, 2, Buffer.from([0]), selfSu),
      record(parent.extent!, parent.dirSize!, 2, Buffer.from([1]), rrFor(parent, true)),
    ];
    for (const c of sortedChildren(d))
      recs.push(record(c.kind === 'dir' ? c.extent! : (c.extent ?? 0), dataOf(c), c.kind === 'dir' ? 2 : 0, Buffer.from(c.isoName!, 'ascii'), rrFor(c, false)));
    return layoutDir(recs, d.dirSize!);
  };
  const jolietDir = (d: Node): Buffer => {
    const parent = d.parent ?? root;
    const recs = [
      record(d.jolietExtent!, d.jolietDirSize!, 2, Buffer.from([0]), Buffer.alloc(0)),
      record(parent.jolietExtent!, parent.jolietDirSize!, 2, Buffer.from([1]), Buffer.alloc(0)),
    ];
    for (const c of sortedChildren(d)) {
      // No ';1' version suffix, as genisoimage writes Joliet names.
      const id = ucs2(c.jolietName!);
      recs.push(
        record(
          c.kind === 'dir' ? c.jolietExtent! : (c.extent ?? 0),
          c.kind === 'dir' ? c.jolietDirSize! : dataOf(c),
          c.kind === 'dir' ? 2 : 0,
          id,
          Buffer.alloc(0),
        ),
      );
    }
    return layoutDir(recs, d.jolietDirSize!);
  };

  const descriptor = (joliet: boolean): Buffer => {
    const b = Buffer.alloc(SECTOR);
    b[0] = joliet ? 2 : 1;
    b.write('CD001', 1, 'ascii');
    b[6] = 1;
    if (joliet) {
      padUcs2('LINUX', 32).copy(b, 8);
      padUcs2(opts.volumeId, 32).copy(b, 40);
      b.write('%/E', 88, 'ascii');
    } else {
      padText('LINUX', 32).copy(b, 8);
      padText(opts.volumeId, 32).copy(b, 40);
    }
    both32(b, 80, totalSectors);
    both16(b, 120, 1);
    both16(b, 124, 1);
    both16(b, 128, SECTOR);
    both32(b, 132, joliet ? jptSize : ptSize);
    b.writeUInt32LE(joliet ? jlPt : lPt, 140);
    b.writeUInt32BE(joliet ? jmPt : mPt, 148);
    record(joliet ? root.jolietExtent! : root.extent!, joliet ? root.jolietDirSize! : root.dirSize!, 2, Buffer.from([0]), Buffer.alloc(0)).copy(b, 156);
    const text = (s: string, len: number) => (joliet ? padUcs2(s, len) : padText(s, len));
    text('', 128).copy(b, 190);
    text('', 128).copy(b, 318);
    text('', 128).copy(b, 446);
    text(opts.applicationId ?? 'KUBESEED', 128).copy(b, 574);
    text('', 37).copy(b, 702);
    text('', 37).copy(b, 739);
    text('', 37).copy(b, 776);
    volDate(opts.mtime).copy(b, 813);
    volDate(opts.mtime).copy(b, 830);
    volDate(null).copy(b, 847);
    volDate(opts.mtime).copy(b, 864);
    b[881] = 1;
    return b;
  };
  const terminator = () => {
    const b = Buffer.alloc(SECTOR);
    b[0] = 255;
    b.write('CD001', 1, 'ascii');
    b[6] = 1;
    return b;
  };
  const sectorPad = (bytes: number) => Buffer.alloc((SECTOR - (bytes % SECTOR)) % SECTOR);
  const padded = (b: Buffer, sectors: number) => Buffer.concat([b, Buffer.alloc(sectors * SECTOR - b.length)]);

  return {
    size: totalSectors * SECTOR,
    async *stream() {
      yield Buffer.alloc(16 * SECTOR);
      yield descriptor(false);
      yield descriptor(true);
      yield terminator();
      yield padded(
        pathTable(false, false, (d) => d.extent!),
        ptSectors,
      );
      yield padded(
        pathTable(false, true, (d) => d.extent!),
        ptSectors,
      );
      yield padded(
        pathTable(true, false, (d) => d.jolietExtent!),
        jptSectors,
      );
      yield padded(
        pathTable(true, true, (d) => d.jolietExtent!),
        jptSectors,
      );
      yield padded(erEntry, 1);
      for (const d of dirs) yield isoDir(d);
      for (const d of dirs) yield jolietDir(d);
      for (const f of filesInOrder) {
        let written = 0;
        for await (const chunk of f.file!.open()) {
          written += chunk.length;
          if (written > f.file!.size) throw new IsoError(`${f.file!.path} grew while the image was written`);
          yield chunk;
        }
        if (written !== f.file!.size) throw new IsoError(`${f.file!.path} changed size while the image was written (${written} of ${f.file!.size} bytes)`);
        yield sectorPad(written);
      }
    },
  };
}

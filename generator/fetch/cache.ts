import { createHash, randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { namingPath } from '../model/index.js';
import { sha256File } from '../io/hash.js';

/** `--cache`, else `$XDG_CACHE_HOME/kubeseed`, else `~/.cache/kubeseed`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv, cwd: string, flag?: string): string {
  if (flag) return resolve(cwd, flag);
  if (env.XDG_CACHE_HOME) return join(resolve(cwd, env.XDG_CACHE_HOME), 'kubeseed');
  return join(env.HOME ?? homedir(), '.cache', 'kubeseed');
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The content-addressed store: `blobs/sha256/<hex>` holds files and image blobs alike, so the
 * root is also an OCI image layout. A blob enters only by `adopt`, after its digest was checked.
 *
 * A blob is re-hashed when its size, mtime or inode differ from the stamp written when it was
 * verified; `verifyAll` re-hashes everything regardless.
 */
export class BlobCache {
  constructor(readonly root: string) {}

  blobPath(hex: string): string {
    if (!HEX64.test(hex)) throw new Error(`internal: '${hex}' is not a sha256 hex digest`);
    return join(this.root, 'blobs', 'sha256', hex);
  }

  /** Where a download of `key` collects its bytes until verified; kept across runs for resuming. */
  async partPath(key: string): Promise<string> {
    await mkdir(join(this.root, 'partial'), { recursive: true });
    return join(this.root, 'partial', createHash('sha256').update(key).digest('hex').slice(0, 40));
  }

  async tempPath(): Promise<string> {
    await mkdir(join(this.root, 'tmp'), { recursive: true });
    return join(this.root, 'tmp', `${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  private stampPath(hex: string): string {
    return join(this.root, 'stamps', hex);
  }

  /** Whether the blob is present and intact; a damaged entry is removed so it is fetched again. */
  async has(hex: string): Promise<boolean> {
    const path = this.blobPath(hex);
    const st = await stat(path).catch(() => null);
    if (!st?.isFile()) return false;
    const stamp = `${st.size} ${st.mtimeMs} ${st.ino}`;
    if ((await readFile(this.stampPath(hex), 'utf8').catch(() => '')) === stamp) return true;
    if ((await sha256File(path)) !== hex) {
      await this.evict(hex);
      return false;
    }
    await this.writeStamp(hex);
    return true;
  }

  async size(hex: string): Promise<number> {
    return (await stat(this.blobPath(hex))).size;
  }

  async read(hex: string): Promise<Buffer> {
    return readFile(this.blobPath(hex));
  }

  /** Moves a verified file into the store under its digest. */
  async adopt(file: string, hex: string): Promise<void> {
    const target = this.blobPath(hex);
    await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
    await rename(file, target);
    await this.writeStamp(hex);
  }

  /** Stores bytes already held in memory whose digest the caller verified. */
  async put(bytes: Uint8Array, hex: string): Promise<void> {
    const tmp = await this.tempPath();
    await namingPath(tmp, writeFile(tmp, bytes, { mode: 0o644 }));
    await this.adopt(tmp, hex);
  }

  private async writeStamp(hex: string): Promise<void> {
    const st = await stat(this.blobPath(hex));
    await mkdir(join(this.root, 'stamps'), { recursive: true });
    const tmp = `${this.stampPath(hex)}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
    await namingPath(tmp, writeFile(tmp, `${st.size} ${st.mtimeMs} ${st.ino}`));
    await rename(tmp, this.stampPath(hex));
  }

  async evict(hex: string): Promise<void> {
    await rm(this.blobPath(hex), { force: true });
    await rm(this.stampPath(hex), { force: true });
  }

  /**
   * Names images in the layout's `index.json` (merged with what other sites' fetches recorded;
   * an entry of the same name is replaced), so OCI tools can read the cache directly.
   */
  async recordImages(entries: { name: string; mediaType: string; digest: string; size: number }[]): Promise<void> {
    const path = join(this.root, 'index.json');
    type Entry = { mediaType: string; digest: string; size: number; annotations?: Record<string, string> };
    const current = JSON.parse(await readFile(path, 'utf8').catch(() => '{"manifests":[]}')) as { manifests?: Entry[] };
    const names = new Set(entries.map((e) => e.name));
    const kept = (current.manifests ?? []).filter((m) => !names.has(m.annotations?.['io.containerd.image.name'] ?? ''));
    const added = entries.map((e) => ({ mediaType: e.mediaType, digest: e.digest, size: e.size, annotations: { 'io.containerd.image.name': e.name } }));
    const manifests = [...kept, ...added].sort((a, b) =>
      (a.annotations?.['io.containerd.image.name'] ?? '').localeCompare(b.annotations?.['io.containerd.image.name'] ?? ''),
    );
    await writeFileAtomic(join(this.root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}\n', 0o644);
    await writeFileAtomic(path, `${JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }, null, 2)}\n`, 0o644);
  }

  /** Re-hashes every blob; returns (and removes) those whose content no longer matches their name. */
  async verifyAll(): Promise<{ checked: number; bad: string[] }> {
    const dir = join(this.root, 'blobs', 'sha256');
    const names = await readdir(dir).catch(() => [] as string[]);
    const bad: string[] = [];
    for (const name of names.sort()) {
      const path = join(dir, name);
      if (!HEX64.test(name) || (await sha256File(path)) !== name) {
        bad.push(name);
        await rm(path, { force: true });
        await rm(this.stampPath(name), { force: true });
      }
    }
    return { checked: names.length, bad };
  }
}

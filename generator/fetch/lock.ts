import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../io/atomic.js';
import { InputError } from '../model/index.js';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);

const lockedFile = z.strictObject({ url: z.string(), size: z.number().int().nonnegative(), sha256: hex64 });

/** One resolved OS package repository (issue #18): the signed index it came from and every `.deb`. */
const lockedOsRepo = z.strictObject({
  suite: z.string(),
  arch: z.string(),
  /** The `InRelease` the index was verified with, as last downloaded. */
  release: lockedFile,
  /**
   * `<component>/binary-<arch>/Packages.gz` → the index, pinned, and the sha256 of its
   * uncompressed form, which the cache keeps too: a warm run resolves from it offline.
   */
  indexes: z.record(z.string(), lockedFile.extend({ unpacked: hex64 })),
  /** The closure, by package name. */
  debs: z.record(z.string(), z.strictObject({ version: z.string(), arch: z.string(), url: z.string(), size: z.number().int().nonnegative(), sha256: hex64 })),
});

const lockSchema = z.strictObject({
  apiVersion: z.literal('kubeseed/v1alpha1'),
  kind: z.literal('Lock'),
  site: z.string(),
  artifacts: z.record(z.string(), z.strictObject({ url: z.string(), size: z.number().int().nonnegative(), sha256: hex64 })),
  images: z.record(
    z.string(),
    z.strictObject({
      pullFrom: z.string(),
      /** What the tag resolved to: an index (multi-arch) or a single manifest. */
      digest,
      mediaType: z.string(),
      size: z.number().int().nonnegative(),
      /** The manifest chosen for each platform, e.g. `linux/amd64`. */
      platforms: z.record(z.string(), z.strictObject({ digest, size: z.number().int().nonnegative() })),
    }),
  ),
  /** Absent in locks written before issue #18, and for sites without OS packages. */
  osPackages: z.record(z.string(), lockedOsRepo).optional(),
});

export type Lock = z.infer<typeof lockSchema>;
export type LockedOsRepo = z.infer<typeof lockedOsRepo>;
export type LockedArtifact = Lock['artifacts'][string];
export type LockedImage = Lock['images'][string];

export function emptyLock(site: string): Lock {
  return { apiVersion: 'kubeseed/v1alpha1', kind: 'Lock', site, artifacts: {}, images: {} };
}

/** Keys sorted at every level, so the file diffs cleanly and a no-change run rewrites nothing. */
export function serializeLock(lock: Lock): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
          )
        : v;
  return `${JSON.stringify(sort(lock), null, 2)}\n`;
}

/** The lock at `path`, or null when there is none yet. A damaged lock is bad input, never ignored. */
export async function readLock(path: string): Promise<Lock | null> {
  let text: string;
  try {
    // Checked before it is opened: a FIFO would block the read, a device never end it.
    if (!(await stat(path)).isFile())
      throw new InputError(`lock file ${path} is not a regular file`, [], 'give --lock the path of a JSON file (or of one to create)');
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new InputError(
      `${path}: not JSON: ${(e as Error).message}`,
      [],
      'restore the lock from version control, or refresh it on purpose with gen fetch --update-lock',
    );
  }
  const r = lockSchema.safeParse(data);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new InputError(
      `${path}: ${first.path.join('.') || '(root)'}: ${first.message}`,
      [],
      'restore the lock from version control, or refresh it on purpose with gen fetch --update-lock',
    );
  }
  return r.data;
}

/** Writes the lock when its content changed; returns whether it did. */
export async function writeLock(path: string, lock: Lock, previous: Lock | null): Promise<boolean> {
  const text = serializeLock(lock);
  if (previous && serializeLock(previous) === text) return false;
  await writeFileAtomic(path, text, 0o644);
  return true;
}

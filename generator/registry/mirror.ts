import { createHash } from 'node:crypto';
import { downloadVerified, LockMismatchError, MissingError, type FetchContext } from '../fetch/artifacts.js';
import type { LockedImage } from '../fetch/lock.js';
import { FailureError } from '../model/index.js';
import { INDEX_TYPES, type Descriptor, type RegistryClient, type Repo } from './client.js';
import { parseRef, registryEndpoint } from './reference.js';

export interface ImageContext extends FetchContext {
  /** Null in offline mode. */
  registry: RegistryClient | null;
  mirrors: Record<string, string>;
  /** Blobs being downloaded right now, so two images sharing a layer fetch it once. */
  inflight: Map<string, Promise<unknown>>;
}

export interface PulledPlatform {
  manifest: Descriptor;
  /** Hex digests of the manifest, its config and its layers. */
  blobs: string[];
}

export interface PulledImage {
  ref: string;
  /** What the reference resolved to: an index (multi-arch) or one manifest. */
  top: Descriptor;
  platforms: Map<string, PulledPlatform>;
  entry: LockedImage;
}

/**
 * One image into the cache for the given platforms: the index (if any), each platform's manifest,
 * config and layers, every blob verified by digest. With a lock entry the image is pulled by
 * the locked digest, so a moved tag upstream changes nothing.
 */
export async function pullImage(img: { ref: string; pullFrom: string; platforms: string[] }, ctx: ImageContext): Promise<PulledImage> {
  const id = img.ref;
  const source = parseRef(img.pullFrom);
  const repo: Repo = { endpoint: registryEndpoint(source.registry, ctx.mirrors), host: source.registry, repository: source.repository };
  const locked = ctx.updateLock ? undefined : ctx.lock?.images[img.ref];
  const wanted = locked?.digest ?? source.digest ?? null;

  let total = 0;
  let transferred = 0;
  let started = false;
  const start = () => {
    // The size is known once a manifest is: a first pull gets a percentage too.
    if (!started) ctx.events.start(id, total || null);
    started = true;
  };
  const manifestOf = async (reference: string): Promise<{ bytes: Buffer; digest: string }> => {
    if (reference.startsWith('sha256:') && (await ctx.cache.has(reference.slice(7))))
      return { bytes: await ctx.cache.read(reference.slice(7)), digest: reference };
    if (!ctx.registry) throw new MissingError(`${img.ref}: manifest ${reference}`);
    start();
    const m = await ctx.registry.manifest(repo, reference);
    transferred += m.bytes.length;
    await ctx.cache.put(m.bytes, m.digest.slice(7));
    return m;
  };

  if (!wanted && !ctx.registry) throw new MissingError(`${img.ref} (no digest in the lock)`);
  const top = await manifestOf(wanted ?? source.tag!);
  if (source.digest && top.digest !== source.digest) throw new FailureError(`${img.ref}: resolved to ${top.digest}, the reference pins ${source.digest}`);
  const topDoc = JSON.parse(top.bytes.toString('utf8')) as { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
  const topType = topDoc.mediaType ?? (topDoc.manifests ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json');
  const topDesc: Descriptor = { mediaType: topType, digest: top.digest, size: top.bytes.length };

  const platforms = new Map<string, PulledPlatform>();
  for (const platform of img.platforms) {
    let manifestDesc: Descriptor;
    let manifestBytes: Buffer;
    if (INDEX_TYPES.has(topType)) {
      const chosen = selectPlatform(topDoc.manifests ?? [], platform);
      if (!chosen)
        throw new FailureError(
          `${img.ref}: the index ${top.digest} has no ${platform} image`,
          `it offers: ${(topDoc.manifests ?? []).map((m) => platformName(m)).join(', ')}`,
        );
      const lockedPlatform = locked?.platforms[platform];
      if (lockedPlatform && lockedPlatform.digest !== chosen.digest)
        throw new LockMismatchError(
          `${img.ref}: ${platform} resolves to ${chosen.digest}, the lock records ${lockedPlatform.digest}`,
          'refresh the lock on purpose with gen fetch --update-lock',
        );
      manifestBytes = (await manifestOf(chosen.digest)).bytes;
      manifestDesc = { mediaType: chosen.mediaType, digest: chosen.digest, size: chosen.size };
    } else {
      manifestBytes = top.bytes;
      manifestDesc = topDesc;
    }
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as { config?: Descriptor; layers?: Descriptor[] };
    if (!manifest.config || !Array.isArray(manifest.layers))
      throw new FailureError(`${img.ref}: ${manifestDesc.digest} is not an image manifest (mediaType ${manifestDesc.mediaType})`);
    const blobs = [manifest.config, ...manifest.layers];
    for (const b of blobs) total += b.size;
    if (started) ctx.events.total?.(id, total);
    await Promise.all(blobs.map((b) => ensureBlob(repo, b, img.ref, ctx, start, (n) => (transferred += n))));
    if (!INDEX_TYPES.has(topType)) {
      // A single-platform image must be the platform asked for.
      const config = JSON.parse((await ctx.cache.read(manifest.config.digest.slice(7))).toString('utf8')) as { os?: string; architecture?: string };
      const have = `${config.os}/${config.architecture}`;
      if (have !== platform) throw new FailureError(`${img.ref}: a single-platform image for ${have}, the site needs ${platform}`);
    }
    platforms.set(platform, { manifest: manifestDesc, blobs: [manifestDesc.digest, ...blobs.map((b) => b.digest)].map((d) => d.slice(7)) });
  }
  if (INDEX_TYPES.has(topType)) for (const p of platforms.values()) p.blobs.unshift(top.digest.slice(7));

  ctx.events.done(id, { size: total, transferred, cached: !started });
  const entry: LockedImage = {
    pullFrom: img.pullFrom,
    digest: top.digest,
    mediaType: topType,
    size: top.bytes.length,
    platforms: Object.fromEntries([...platforms].map(([p, v]) => [p, { digest: v.manifest.digest, size: v.manifest.size }])),
  };
  return { ref: img.ref, top: topDesc, platforms, entry };
}

async function ensureBlob(repo: Repo, desc: Descriptor, ref: string, ctx: ImageContext, start: () => void, count: (n: number) => void): Promise<void> {
  if (!/^sha256:[0-9a-f]{64}$/.test(desc.digest)) throw new FailureError(`${ref}: blob digest '${desc.digest}' is not sha256`);
  const hex = desc.digest.slice(7);
  // Claimed before the first await, so a layer two images share is looked up and fetched once.
  let job = ctx.inflight.get(hex);
  if (!job) {
    job = (async () => {
      if (await ctx.cache.has(hex)) return;
      if (!ctx.registry) throw new MissingError(`${ref}: blob ${desc.digest}`);
      start();
      const registry = ctx.registry;
      const r = await downloadVerified(ctx, ctx.http!, {
        id: ref,
        url: registry.blobUrl(repo, desc.digest),
        headers: registry.headers(repo),
        expected: [{ algorithm: 'sha256', hex, from: 'the manifest' }],
        size: desc.size,
      });
      count(r.transferred);
    })();
    ctx.inflight.set(hex, job);
  }
  await job;
}

function platformName(d: Descriptor): string {
  return d.platform ? [d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join('/') : 'unknown';
}

/** The index entry for `os/arch`; arm64 accepts variant v8 or none. Attestation entries (unknown/unknown) never match. */
export function selectPlatform(manifests: Descriptor[], platform: string): Descriptor | null {
  const [os, arch, variant] = platform.split('/');
  const matches = manifests.filter((m) => {
    const p = m.platform;
    if (!p || p.os !== os || p.architecture !== arch) return false;
    if (variant) return p.variant === variant;
    return !p.variant || (arch === 'arm64' && p.variant === 'v8');
  });
  return matches[0] ?? null;
}

/** sha256 of bytes as an OCI digest string. */
export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

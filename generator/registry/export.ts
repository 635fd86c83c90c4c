import type { BundlePlan } from '../model/index.js';
import type { Descriptor } from './client.js';
import type { PulledImage } from './mirror.js';

export interface ExportImage {
  /** Every name the image is imported under: the catalog reference and its aliases. */
  names: string[];
  /** What the names point at: the index the registry served, or the single manifest. */
  top: Descriptor;
  /** Hex digests of the blobs this architecture needs (index, manifest, config, layers). */
  blobs: string[];
}

/**
 * The layout of one architecture's OCI archive: `oci-layout`, `index.json` with one entry per
 * name, and the blobs, each once. An index keeps its original digest (the registry's), although
 * only this architecture's manifests travel with it: the image-layout spec allows referenced
 * blobs to be absent, and containerd resolves only the platform it runs.
 */
export function ociArchiveLayout(images: ExportImage[]): { indexJson: string; ociLayout: string; blobs: string[] } {
  const manifests = images
    .flatMap((img) => img.names.map((name) => ({ name, top: img.top })))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map(({ name, top }) => ({
      mediaType: top.mediaType,
      digest: top.digest,
      size: top.size,
      annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': tagOf(name) },
    }));
  const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests };
  const blobs = [...new Set(images.flatMap((i) => i.blobs))].sort();
  return { indexJson: `${JSON.stringify(index, null, 2)}\n`, ociLayout: '{"imageLayoutVersion":"1.0.0"}\n', blobs };
}

function tagOf(name: string): string {
  const at = name.indexOf('@');
  const base = at >= 0 ? name.slice(0, at) : name;
  const colon = base.lastIndexOf(':');
  return colon > base.lastIndexOf('/') ? base.slice(colon + 1) : name.slice(at + 1);
}

/** What goes into one architecture's image archive: the pulled images of that platform under their names and aliases, blobs read from the cache. */
export function imageArchive(pulled: PulledImage[], plan: BundlePlan, arch: string, blobPath: (hex: string) => string) {
  const platform = `linux/${arch}`;
  const layout = ociArchiveLayout(
    pulled
      .filter((i) => i.platforms.has(platform))
      .map((i) => ({
        names: [i.ref, ...(plan.images.find((p) => p.ref === i.ref)?.aliases ?? [])],
        top: i.top,
        blobs: i.platforms.get(platform)!.blobs,
      })),
  );
  return { ...layout, blobPath };
}

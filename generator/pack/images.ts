import { diskFile, memFile, writeTarTo } from './files.js';

/** One architecture's image archive: an OCI image layout whose blobs are read from the fetch cache. */
export interface ImageArchive {
  ociLayout: string;
  indexJson: string;
  blobs: string[];
  blobPath: (hex: string) => string;
}

/**
 * Writes `images-<arch>.oci.tar`: an OCI image layout as a tar, which `ctr -n k8s.io images
 * import` loads under every catalog name and alias, with the registry's digests.
 */
export async function writeImageArchive(a: ImageArchive, target: string, mtime: number): Promise<void> {
  const files = [
    memFile('oci-layout', a.ociLayout, 0o644),
    memFile('index.json', a.indexJson, 0o644),
    ...(await Promise.all(a.blobs.map((hex) => diskFile(`blobs/sha256/${hex}`, a.blobPath(hex), 0o644)))),
  ];
  await writeTarTo(target, files, mtime, false);
}

import type { Addon, EtcdTopology, LoadBalancer, Mode, NetworkPlugin, OsFamily, ProxyMode, Role } from './site.js';

/** Closed sets of the catalog files, declared once for the types and `catalog/schema.ts`. */
export const HASH_ALGORITHMS = ['sha256', 'sha512'] as const;
export const ARTIFACT_FORMATS = ['binary', 'tar.gz'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];
export type ArtifactFormat = (typeof ARTIFACT_FORMATS)[number];

/** When an artifact or image is needed; every given field must match the site. */
export interface Condition {
  mode?: Mode;
  network?: NetworkPlugin;
  addon?: Addon;
  /** The node needs it when it has any of these roles. */
  roles?: Role[];
  /** Only when etcd runs this way: kubeseed's units (external) or kubeadm's static pods (stacked). */
  etcdTopology?: EtcdTopology;
  /** Only on these operating-system families (e.g. the static containerd build for RHEL's older glibc). */
  osFamilies?: OsFamily[];
}

export type ChecksumSource =
  | { kind: 'pinned' }
  /** A file holding the hash (optionally followed by a file name), e.g. dl.k8s.io `<bin>.sha256`. */
  | { kind: 'hash-file'; algorithm: HashAlgorithm; path: string }
  /** A `SHA256SUMS`-style list: `<hash>  <name>` lines; `entry` names the line to use. */
  | { kind: 'sums-file'; algorithm: HashAlgorithm; path: string; entry: string };

export interface ComponentTemplate {
  name: string;
  /** Key in a release's `versions` that gives this artifact's version. */
  versionOf: string;
  /** Key in the catalog's `sources` (overridable per site) giving the base URL. */
  source: string;
  /** Path below the source's base URL; placeholders {version}, {semver}, {arch}. */
  path: string;
  checksum: ChecksumSource;
  format: ArtifactFormat;
  optional: boolean;
  when: Condition;
  description: string;
  /** A variant of another component (e.g. containerd-static for containerd): when it applies and the release names its version, the other is not fetched. */
  replaces?: string;
}

export interface ImageEntry {
  /** Logical name, e.g. `pause`, `coredns`. */
  name: string;
  /** Canonical reference pulled from (registry.k8s.io, docker.io, quay.io). */
  ref: string;
  /** Extra names the image is imported under, e.g. the `k8s.gcr.io` names of older guides. */
  aliases: string[];
  when: Condition;
}

export interface CatalogRelease {
  version: string;
  /** Where the facts of this entry come from. */
  provenance: string[];
  arch: string[];
  versions: Record<string, string>;
  /** Pinned sha256 per component and architecture. */
  pinned: Record<string, Record<string, string>>;
  images: ImageEntry[];
  /** Set when the catalog's own facts for this release are known to be wrong: `gen validate` refuses it. */
  knownBad?: { reason: string; hint: string };
}

/** Upstream's support window for one Kubernetes minor. */
export interface MinorLifecycle {
  /** `YYYY-MM-DD`, upstream's end-of-life date. */
  endOfLife: string;
  /** Where the date comes from. */
  source: string;
}

/** A distribution whose packages kubeseed carries (issue #18). */
export type DebFamily = 'debian' | 'ubuntu';

/** Where a family's archive is and how it is trusted (`ospkg.yaml`). */
export interface OsArchive {
  /** Armored archive signing keys, relative to the catalog directory. */
  keys: string;
  /** Catalog source (base URL, overridable per site) per architecture. */
  sources: Partial<Record<string, string>>;
  /** The release used when the site does not name `os.version`. */
  defaultRelease: string;
  releases: Record<string, { suite: string; components: string[] }>;
  /** Packages assumed installed besides `Priority: required`, with their dependencies. */
  baseline: string[];
}

/** A reason a node needs OS packages, and when. */
export interface OsPackageNeed {
  why: string;
  when: { proxyMode?: ProxyMode; loadBalancer?: LoadBalancer; ntp?: boolean; mode?: Mode; roles?: Role[] };
  packages: Partial<Record<DebFamily, string[]>>;
}

export interface OsPackageCatalog {
  families: Partial<Record<DebFamily, OsArchive>>;
  needs: OsPackageNeed[];
}

export interface Catalog {
  dir: string;
  /** `ospkg.yaml`; a catalog without it plans no OS packages. */
  osPackages?: OsPackageCatalog;
  /** By minor, e.g. `1.34`. */
  lifecycle: Record<string, MinorLifecycle>;
  sources: Record<string, string>;
  components: ComponentTemplate[];
  releases: CatalogRelease[];
}

/**
 * The catalog release a site was last bundled with, as its state records it (delivered.json): what
 * `gen validate`'s version-skew rules compare a changed spec.kubernetes.version against, and what
 * an upgrade starts from. The versions are kept, not just the release's name, so the rules hold
 * when the catalog no longer lists it.
 */
export interface BundledRelease {
  /** spec.kubernetes.version, e.g. v1.20.2. */
  kubernetes: string;
  /** The catalog release's component versions (kubernetes, etcd, containerd, runc, ...). */
  versions: Record<string, string>;
}

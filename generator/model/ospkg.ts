/**
 * The node's OS packages (issue #18): what the plan asks for (pure, from the site) and what the
 * fetch stage resolved it to against a signed distribution index (network, cached, locked).
 * The payload carries each resolved repository as `ospkg/<repo id>/` (the `.deb` files under
 * their `filename`, plus a `Packages` index made from their stanzas); first boot installs the
 * node's `packages` from it before any other step.
 */

/** A distribution release and architecture whose packages travel together, e.g. `debian-12-amd64`. */
export interface PlannedOsRepo {
  id: string;
  family: 'debian' | 'ubuntu';
  /** The release as the site names it (`12`, `22.04`, `24.04`). */
  release: string;
  /** The archive's suite (`bookworm`, `jammy`, `noble`) and the components searched. */
  suite: string;
  components: string[];
  arch: string;
  /** Base URL of the archive (the catalog default or `spec.artifacts.sources` override). */
  mirror: string;
  /** Union of every node's request for this repository, sorted. */
  packages: string[];
  /** Armored archive signing keys InRelease must be signed with, relative to the catalog directory. */
  keys?: string;
  /**
   * Packages assumed installed on the node besides `Priority: required`, with their dependencies;
   * the closure leaves them out.
   */
  baseline?: string[];
}

/** Per node: which repository it installs from and the package names it asks for (sorted). */
export interface PlannedNodePackages {
  repo: string;
  packages: string[];
}

export interface PlannedOsPackages {
  repos: PlannedOsRepo[];
  /** Node name → its request. Nodes of a family we do not carry packages for are absent. */
  nodes: Record<string, PlannedNodePackages>;
}

/** One `.deb` of a resolved closure, verified against the signed index before it was cached. */
export interface ResolvedDeb {
  name: string;
  version: string;
  /** `amd64`, `arm64` or `all`. */
  arch: string;
  /** Basename the payload stores it under, e.g. `conntrack_1.4.7-1+b2_amd64.deb`. */
  filename: string;
  url: string;
  size: number;
  sha256: string;
  /** The package's stanza from the index, as published, for the payload's local `Packages`. */
  stanza: string;
}

export interface ResolvedOsRepo {
  id: string;
  /** The closure of `PlannedOsRepo.packages` beyond the baseline, sorted by name. */
  debs: ResolvedDeb[];
}

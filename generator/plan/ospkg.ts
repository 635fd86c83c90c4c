import type { OsPackageCatalog, OsPackageNeed, PlannedNodePackages, PlannedOsPackages, PlannedOsRepo, ResolvedNode, ResolvedSite } from '../model/index.js';

/** Whether a need of `ospkg.yaml` applies to this node of this site. */
function needApplies(need: OsPackageNeed, site: ResolvedSite, node: ResolvedNode): boolean {
  const w = need.when;
  if (w.proxyMode !== undefined && w.proxyMode !== site.kubernetes.proxyMode) return false;
  if (w.loadBalancer !== undefined && w.loadBalancer !== site.controlPlane.loadBalancer) return false;
  if (w.ntp !== undefined && w.ntp !== site.os.ntpServers.length > 0) return false;
  if (w.mode !== undefined && w.mode !== site.kubernetes.mode) return false;
  if (w.roles !== undefined && !w.roles.some((r) => node.roles.includes(r))) return false;
  return true;
}

/**
 * Per node, the OS packages it needs from its distribution (the catalog's needs that match it,
 * plus `spec.os.packages`), grouped into one repository per release and architecture. Pure.
 * A RHEL-family site, or a catalog without `ospkg.yaml`, plans none.
 */
export function planOsPackages(site: ResolvedSite, catalog: OsPackageCatalog | undefined): PlannedOsPackages {
  const family = site.os.family;
  if (family === 'rhel' || !catalog) return { repos: [], nodes: {} };
  const archive = catalog.families[family];
  if (!archive) return { repos: [], nodes: {} };
  const release = site.os.version ?? archive.defaultRelease;
  const dist = archive.releases[release];
  if (!dist) throw new Error(`internal: ${family} ${release} not in the catalog; validate first`);

  const nodes: Record<string, PlannedNodePackages> = {};
  const repos = new Map<string, PlannedOsRepo>();
  for (const node of site.nodes) {
    const source = archive.sources[node.arch];
    if (!source) throw new Error(`internal: no ${family} source for ${node.arch} in ospkg.yaml`);
    const mirror = site.artifacts.sources[source];
    if (!mirror) throw new Error(`internal: source '${source}' is not in the catalog`);
    const id = `${family}-${release}-${node.arch}`;
    const wanted = new Set(site.os.packages);
    for (const need of catalog.needs) if (needApplies(need, site, node)) for (const p of need.packages[family] ?? []) wanted.add(p);
    const packages = [...wanted].sort();
    nodes[node.name] = { repo: id, packages };
    const repo = repos.get(id) ?? {
      id,
      family,
      release,
      suite: dist.suite,
      components: dist.components,
      arch: node.arch,
      mirror,
      packages: [],
      keys: archive.keys,
      baseline: archive.baseline,
    };
    repo.packages = [...new Set([...repo.packages, ...packages])].sort();
    repos.set(id, repo);
  }
  return { repos: [...repos.values()].sort((a, b) => a.id.localeCompare(b.id)), nodes };
}

import { expandTemplate, findRelease, joinUrl } from '../catalog/load.js';
import type { BundlePlan, Catalog, PlannedArtifact, PlannedCert, PlannedFile, PlannedImage, ResolvedNode, ResolvedSite } from '../model/index.js';
import { imageArchiveName, installTarget, payloadName, payloadPath } from '../model/layout.js';
import { certInstances } from '../pki/table.js';
import { nodeFacts } from '../render/facts.js';
import { nodeFiles as renderedFiles } from '../render/files.js';
import { nodeMatches, siteMatches } from './conditions.js';
import { mirrorFor } from './images.js';
import { planOsPackages } from './ospkg.js';

/** ResolvedSite → everything the bundle will hold. Pure: no network, no disk. */
export function buildPlan(site: ResolvedSite, catalog: Catalog): BundlePlan {
  const release = findRelease(catalog, site.kubernetes.version);
  if (!release) throw new Error(`internal: ${site.kubernetes.version} not in catalog`);

  const artifacts: PlannedArtifact[] = [];
  const offered = (c: Catalog['components'][number]) => siteMatches(c.when, site) && release.versions[c.versionOf] !== undefined;
  // A variant the site gets (containerd-static on RHEL) stands in for the component it replaces.
  const replaced = new Set(catalog.components.filter(offered).flatMap((c) => (c.replaces ? [c.replaces] : [])));
  for (const c of catalog.components) {
    if (!offered(c) || replaced.has(c.name)) continue; // optional components a release leaves out, and replaced ones
    const version = release.versions[c.versionOf]!;
    for (const arch of site.artifacts.arch) {
      const nodes = site.nodes.filter((n) => n.arch === arch && nodeMatches(c.when, site, n)).map((n) => n.name);
      if (!nodes.length) continue;
      const base = site.artifacts.sources[c.source]!;
      const pin = release.pinned[c.name]?.[arch];
      const checksum: PlannedArtifact['checksum'] = pin
        ? { kind: 'pinned', sha256: pin }
        : c.checksum.kind === 'pinned'
          ? c.checksum
          : {
              ...c.checksum,
              path: expandTemplate(c.checksum.path, { version, arch }),
              url: joinUrl(base, expandTemplate(c.checksum.path, { version, arch })),
              ...(c.checksum.kind === 'sums-file' ? { entry: expandTemplate(c.checksum.entry, { version, arch }) } : {}),
            };
      artifacts.push({
        id: `${c.name}@${version}/${arch}`,
        component: c.name,
        version,
        arch,
        url: joinUrl(base, expandTemplate(c.path, { version, arch })),
        format: c.format,
        checksum,
        size: null,
        nodes,
      });
    }
  }

  const images: PlannedImage[] = [];
  for (const img of release.images) {
    if (!siteMatches(img.when, site)) continue;
    for (const arch of site.artifacts.arch) {
      const nodes = site.nodes.filter((n) => n.arch === arch && nodeMatches(img.when, site, n)).map((n) => n.name);
      if (!nodes.length) continue;
      images.push({
        name: img.name,
        ref: img.ref,
        pullFrom: mirrorFor(img.ref, site.artifacts.registryMirrors),
        aliases: img.aliases,
        platform: `linux/${arch}`,
        nodes,
      });
    }
  }

  const certs = certInstances(site);
  const certificates: PlannedCert[] = certs.map((c) => ({
    name: c.id,
    ca: c.spec.ca ?? null,
    cn: c.cn,
    o: c.o,
    usages: c.spec.usages,
    sans: c.sans,
    nodes: c.certNodes,
    keyOnNodes: c.keyNodes,
  }));

  const nodes = site.nodes.map((node) => ({
    name: node.name,
    roles: node.roles,
    arch: node.arch,
    files: nodeFiles(site, node, artifacts, images),
  }));

  return {
    site: site.name,
    kubernetesVersion: site.kubernetes.version,
    mode: site.kubernetes.mode,
    artifacts,
    images,
    certificates,
    osPackages: planOsPackages(site, catalog.osPackages),
    nodes,
  };
}

/**
 * A node's files: what the payload installs (binaries at their install target, archives and the
 * image archive in the payload) and the node file table, filtered for the node without rendering.
 */
function nodeFiles(site: ResolvedSite, node: ResolvedNode, artifacts: PlannedArtifact[], images: PlannedImage[]): PlannedFile[] {
  const files: PlannedFile[] = [];
  for (const a of artifacts.filter((x) => x.nodes.includes(node.name))) {
    const binary = a.format === 'binary';
    files.push({
      path: binary ? installTarget(a.component) : payloadPath(payloadName(a)),
      mode: binary ? '0755' : '0644',
      origin: `artifact:${a.id}`,
      secret: false,
    });
  }
  if (images.some((i) => i.nodes.includes(node.name))) {
    files.push({ path: payloadPath(imageArchiveName(node.arch)), mode: '0644', origin: 'payload:image-archive', secret: false });
  }
  for (const f of renderedFiles(nodeFacts(site, node))) files.push({ path: f.path, mode: f.mode, origin: f.origin, secret: f.secret });
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

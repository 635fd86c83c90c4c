import { expandTemplate, findRelease, joinUrl } from '../catalog/load.js';
import type { BundlePlan, Catalog, PlannedArtifact, PlannedCert, PlannedFile, PlannedImage, ResolvedNode, ResolvedSite } from '../model/index.js';
import { certInstances } from '../pki/table.js';
import { nodeMatches, siteMatches } from './conditions.js';
import { RENDERED_FILES } from './files.js';
import { mirrorFor } from './images.js';
import { planOsPackages } from './ospkg.js';

/** Archives reach a node inside the payload; first boot unpacks them. */
const PAYLOAD_DIR = '/opt/kubeseed/payload';

/** ResolvedSite → everything the bundle will hold. Pure: no network, no disk. */
export function buildPlan(site: ResolvedSite, catalog: Catalog): BundlePlan {
  const release = findRelease(catalog, site.kubernetes.version);
  if (!release) throw new Error(`internal: ${site.kubernetes.version} not in catalog`);

  const artifacts: PlannedArtifact[] = [];
  for (const c of catalog.components) {
    if (!siteMatches(c.when, site)) continue;
    const version = release.versions[c.versionOf];
    if (version === undefined) continue; // an optional component this release leaves out
    for (const arch of site.artifacts.arch) {
      const nodes = site.nodes.filter((n) => n.arch === arch && nodeMatches(c.when, site, n)).map((n) => n.name);
      if (!nodes.length) continue;
      const base = site.artifacts.sources[c.source]!;
      const pin = release.pinned[c.name]?.[arch];
      const checksum: PlannedArtifact['checksum'] = pin
        ? { kind: 'pinned', sha256: pin }
        : c.checksum.kind === 'pinned'
          ? c.checksum
          : { ...c.checksum, path: expandTemplate(c.checksum.path, { version, arch }), url: joinUrl(base, expandTemplate(c.checksum.path, { version, arch })), ...(c.checksum.kind === 'sums-file' ? { entry: expandTemplate(c.checksum.entry, { version, arch }) } : {}) };
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
      images.push({ name: img.name, ref: img.ref, pullFrom: mirrorFor(img.ref, site.artifacts.registryMirrors), aliases: img.aliases, platform: `linux/${arch}`, nodes });
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
    files: nodeFiles(site, node, artifacts, images, certs),
  }));

  return { site: site.name, kubernetesVersion: site.kubernetes.version, mode: site.kubernetes.mode, artifacts, images, certificates, osPackages: planOsPackages(site, catalog.osPackages), nodes };
}

function nodeFiles(site: ResolvedSite, node: ResolvedNode, artifacts: PlannedArtifact[], images: PlannedImage[], certs: ReturnType<typeof certInstances>): PlannedFile[] {
  const files: PlannedFile[] = [];
  for (const a of artifacts.filter((x) => x.nodes.includes(node.name))) {
    const path = a.format === 'binary' ? `/usr/local/bin/${a.component}` : `${PAYLOAD_DIR}/${a.url.slice(a.url.lastIndexOf('/') + 1)}`;
    files.push({ path, mode: a.format === 'binary' ? '0755' : '0644', origin: `artifact:${a.id}`, secret: false });
  }
  if (images.some((i) => i.nodes.includes(node.name))) {
    files.push({ path: `${PAYLOAD_DIR}/images-${node.arch}.oci.tar`, mode: '0644', origin: 'payload:image-archive', secret: false });
  }
  for (const c of certs) {
    const hasCert = c.certNodes.includes(node.name);
    const hasKey = c.keyNodes.includes(node.name);
    if (c.spec.kubeconfig) {
      if (hasCert) files.push({ path: c.spec.kubeconfig, mode: '0600', origin: `pki:${c.id}`, secret: true });
      continue;
    }
    const base = c.spec.nodePath!;
    const pub = c.spec.kind === 'keypair' ? 'pub' : 'crt';
    if (hasCert) files.push({ path: `${base}.${pub}`, mode: '0644', origin: `pki:${c.id}`, secret: false });
    if (hasKey) files.push({ path: `${base}.key`, mode: '0600', origin: `pki:${c.id}`, secret: true });
  }
  for (const f of RENDERED_FILES) {
    if (f.when.loadBalancer && f.when.loadBalancer !== site.controlPlane.loadBalancer) continue;
    if (f.when.bootstrap && node.name !== site.derived.bootstrapNode) continue;
    if (f.when.ntp && site.os.ntpServers.length === 0) continue;
    if (f.when.peers && site.nodes.length < 2) continue;
    if (f.when.etcdUnits && site.kubernetes.etcdTopology !== 'external') continue;
    if (f.when.families && !f.when.families.includes(site.os.family)) continue;
    if (!nodeMatches(f.when, site, node)) continue;
    const paths = f.perRegistryMirror ? Object.keys(site.containerRuntime.registryMirrors).map((r) => f.path.replace('{registry}', r)) : [f.path];
    for (const path of paths) files.push({ path, mode: f.mode, origin: `render:${f.template}`, secret: f.secret ?? false });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

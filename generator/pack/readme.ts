import type { BundlePlan, ResolvedNode, ResolvedSite } from '../model/index.js';
import { FILES, NODE_FILES, VOLUME_LABELS } from '../model/layout.js';
import { formatBytes } from '../text/bytes.js';
import type { Engine } from '../text/template.js';
import { DIST } from './dist-layout.js';
import type { Payload, PayloadFile, PayloadFormat } from './payload.js';
import { PAYLOAD_TARBALL_GLOB } from './scripts.js';
import { DEFAULT_BOX, vagrantSite } from './vagrant.js';

export interface ReadmeInput {
  site: ResolvedSite;
  plan: BundlePlan;
  /** The site's nodes this bundle holds. */
  nodes: ResolvedNode[];
  payload: Payload | null;
  /** Whether vm/ is written (NoCloud seeds). */
  vm: boolean;
}

/** What each form of the payload is for, said once for the README. */
const PAYLOAD_USE: Record<PayloadFormat, string> = {
  iso: `a volume labelled ${VOLUME_LABELS.payload}: attach it beside the seed (a second CD-ROM or disk, BMC virtual media, a USB stick written with dd); first boot reads it where it lies`,
  tar: `a tarball for hosts that cannot attach a volume: install.sh (or you) puts it at ${FILES.payloadTarball}, and first boot unpacks it`,
};

/** `dist/README.md`: what the bundle holds, what to carry, how to check it, boot each node and follow first boot, and the site's numbers. */
export function distReadme(engine: Engine, r: ReadmeInput): string {
  const formats = r.site.output.formats;
  const payloadFile = (p: PayloadFile) => ({ path: DIST.payload(p.name), size: formatBytes(p.size), format: p.format, use: PAYLOAD_USE[p.format] });
  const files = r.payload?.files ?? [];
  const versions = new Map<string, string>();
  for (const a of r.plan.artifacts) versions.set(a.component, a.version);
  const total = files.reduce((n, p) => n + p.size, 0);
  return engine.render('pack/README.md', {
    site: r.site.name,
    kubernetesVersion: r.site.kubernetes.version,
    mode: r.site.kubernetes.mode,
    plugin: r.site.network.plugin,
    endpoint: r.site.controlPlane.endpoint.url,
    bootstrapNode: r.site.derived.bootstrapNode,
    os: `${r.site.os.family}${r.site.os.version ? ` ${r.site.os.version}` : ''}`,
    siteNodes: r.site.nodes.length,
    nodes: r.nodes.map((n) => ({
      name: n.name,
      roles: n.roles.join(', '),
      address: n.cidr,
      gateway: n.gateway,
      mac: n.mac ?? '(any)',
      arch: n.arch,
      dir: DIST.nodeDir(n.name),
      seedIso: DIST.seedIso(n.name),
      tarball: DIST.tarball(n.name),
      tarballName: DIST.tarball(n.name).slice(DIST.nodeDir(n.name).length + 1),
      kickstart: DIST.kickstart(n.name),
      vmScript: DIST.vmScript(n.name),
    })),
    missing: r.site.nodes.filter((n) => !r.nodes.includes(n)).map((n) => n.name),
    versions: [...versions].sort(([a], [b]) => a.localeCompare(b)).map(([component, version]) => ({ component, version })),
    images: [...new Set(r.plan.images.map((i) => i.ref))].sort(),
    payload: files.length ? { carry: payloadFile(files[0]!), others: files.slice(1).map(payloadFile), total: formatBytes(total) } : null,
    payloadIso: r.payload?.iso ? DIST.payload(r.payload.iso) : '',
    payloadTar: r.payload?.tar ? DIST.payload(r.payload.tar) : '',
    payloadTarName: r.payload?.tar ?? PAYLOAD_TARBALL_GLOB,
    seed: formats.includes('nocloud-iso'),
    tarball: formats.includes('tarball'),
    kickstart: formats.includes('kickstart'),
    vm: r.vm,
    vagrant: r.vm
      ? {
          box: DEFAULT_BOX,
          networks: vagrantSite(r.site, r.nodes, r.payload?.iso ?? null).networks.map((n) => ({
            name: n.name,
            subnet: n.subnet,
            host: n.hostIp ?? 'its first address',
          })),
        }
      : null,
    dist: DIST,
    nodeFilesArchive: NODE_FILES.archive,
    payloadLabel: VOLUME_LABELS.payload,
    payloadTarball: FILES.payloadTarball,
    status: FILES.status,
    statusJson: FILES.statusJson,
  });
}

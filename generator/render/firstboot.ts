import { containerdQuirk } from '../catalog/quirks.js';
import { FILES, imageArchiveName, KUBECONFIG, NODE, NODE_FILES, PAYLOAD_TARBALL, VOLUME_LABELS } from '../model/layout.js';
import type { BundlePlan, ResolvedSite } from '../model/index.js';
import type { NodeFacts } from './facts.js';
import { CHRONY_SERVICE } from './host-config.js';
import { installSteps } from './install.js';
import { kernelModules, preflightChecks } from './preflight.js';
import type { RenderContext } from './files.js';
import { serviceOrder } from './units.js';

/**
 * kubeadm phases first boot skips. preflight: first boot prepared the host itself, and kubeadm
 * 1.20's image check is fatal without crictl even when the images are already imported. The
 * add-ons: kube-proxy runs as a host service (no image to carry), and CoreDNS comes from the
 * site's own manifest when the site has the add-on.
 */
const KUBEADM_SKIPPED_PHASES = { init: ['preflight', 'addon/kube-proxy', 'addon/coredns'], join: ['preflight'] };

/** The orchestrator's steps, in order; each is a shell function of firstboot.sh. */
function steps(f: NodeFacts) {
  return [
    { name: 'unpack-node-files', fn: 'unpack_node_files' },
    { name: 'find-payload', fn: 'find_payload' },
    { name: 'install-os-packages', fn: 'install_os_packages' },
    { name: 'preflight', fn: 'preflight' },
    { name: 'prepare-os', fn: 'prepare_os' },
    { name: 'install-binaries', fn: 'install_binaries' },
    { name: 'import-images', fn: 'import_images' },
    { name: 'start-services', fn: 'start_services' },
    ...(f.kubeadm ? [{ name: f.bootstrap ? 'kubeadm-init' : 'kubeadm-join', fn: 'kubeadm_up' }] : []),
    ...(f.bootstrap ? [{ name: 'apply-manifests', fn: 'apply_manifests' }] : []),
    { name: 'wait-ready', fn: 'wait_ready' },
  ].map((s, i) => ({ ...s, number: i + 1 }));
}

/** The render context of firstboot.sh: the node's layout, its steps and what each step needs. */
export function firstbootContext(c: RenderContext): object {
  const { site, node } = c;
  const { services, afterApi } = serviceOrder(c);
  const verb = c.bootstrap ? 'init' : 'join';
  return {
    node: node.name,
    site: site.name,
    layout: {
      ...NODE,
      ...FILES,
      payloadTarballName: PAYLOAD_TARBALL,
      kubeletKubeconfig: KUBECONFIG.kubelet,
      nodeFilesList: NODE_FILES.list,
      nodeFilesArchive: NODE_FILES.archive,
      nodeFilesCopied: NODE_FILES.copied,
      nodeFilesInstalled: NODE_FILES.installed,
      seedLabels: VOLUME_LABELS.seed,
      payloadLabel: VOLUME_LABELS.payload,
    },
    steps: steps(c),
    unpackStep: steps(c)
      .filter((st) => st.fn === 'unpack_node_files')
      .map((st) => `${st.number}-${st.name}`)[0]!,
    modules: kernelModules(site, node),
    osPackages: osPackagesFor(c.plan, node.name),
    replacedUnits: REPLACED_UNITS.filter((r) => r.when(site)).map(({ package: pkg, unit }) => ({ package: pkg, unit })),
    preflight: preflightChecks(site, node).map((check) => ({ ...check, fn: `need_${check.kind}` })),
    timezone: site.os.timezone,
    ntp: c.ntp,
    chronyService: CHRONY_SERVICE[site.os.family],
    selinuxPermissive: site.os.family === 'rhel',
    openPorts: site.os.firewall === 'open-ports',
    ports: firewallPorts(site, c.cp, c.etcd),
    vrrp: c.vip,
    installs: installSteps(c.plan.artifacts.filter((a) => a.nodes.includes(node.name))),
    imageArchive: c.plan.images.some((i) => i.nodes.includes(node.name)) ? imageArchiveName(node.arch) : '',
    // containerd before 1.6 has no --platform on import and takes the host's own platform: the same choice.
    importPlatform: containerdQuirk('importPlatformFlag', site.containerRuntime.version) ? `linux/${node.arch}` : '',
    services,
    afterApi,
    apiCheckServer: c.cp && !c.kubeadm ? `https://127.0.0.1:${site.controlPlane.apiserverPort}` : '',
    bootstrap: c.bootstrap,
    kubeadm: c.kubeadm ? { verb, skipPhases: KUBEADM_SKIPPED_PHASES[verb].join(','), config: FILES.kubeadmConfig } : null,
    adminKubeconfig: c.kubeadm ? KUBECONFIG.kubeadmAdmin : KUBECONFIG.bootstrapper,
  };
}

/** The node's OS package request, or null: kubeseed carries no packages for its family. */
function osPackagesFor(plan: BundlePlan, node: string): { repo: string; packages: string[] } | null {
  const request = plan.osPackages.nodes[node];
  return request && request.packages.length ? request : null;
}

/**
 * Units that packages enable on install but kubeseed runs its own way: nginx-common's nginx.service
 * would serve the default site on port 80 of every node, beside kubeseed's apiserver proxy.
 */
const REPLACED_UNITS: { package: string; unit: string; when: (site: ResolvedSite) => boolean }[] = [
  { package: 'nginx-common', unit: 'nginx.service', when: (site) => site.controlPlane.loadBalancer === 'local' },
];

/** Ports opened in the host firewall (never the firewall switched off, unless the site says so). */
function firewallPorts(site: ResolvedSite, cp: boolean, etcd: boolean): string[] {
  const range = `${site.kubernetes.nodePortRange.from}-${site.kubernetes.nodePortRange.to}`;
  return [
    ...(cp ? [`${site.controlPlane.apiserverPort}/tcp`] : []),
    ...(cp && site.controlPlane.loadBalancer === 'vip' ? [`${site.controlPlane.endpoint.port}/tcp`] : []),
    ...(etcd ? ['2379-2380/tcp'] : []),
    '10250/tcp',
    '10256/tcp',
    `${range}/tcp`,
    `${range}/udp`,
    ...(site.network.plugin === 'flannel' ? ['8472/udp'] : []),
    ...(site.network.plugin === 'calico' ? ['4789/udp'] : []),
  ];
}

import type { BundlePlan, RenderedFile, ResolvedNode, ResolvedSite } from '../model/index.js';
import type { StateFiles } from '../pki/issue.js';
import { TOKEN_PATH } from '../pki/issue.js';
import { discoveryHash } from '../pki/secrets.js';
import { selectForNode } from '../pki/select.js';
import { bridgeConflist, crictlConfig, kubeletConfig, kubeProxyConfig } from './configs.js';
import type { Engine } from './engine.js';
import { apiserverFlags, controllerManagerFlags, etcdFlags, kubeletFlags, kubeProxyFlags, schedulerFlags, type Flags } from './flags.js';
import { CHRONY, chronyConf, containerdHosts } from './host-config.js';
import { installSteps } from './install.js';
import { kubeadmConfig } from './kubeadm.js';
import { clusterManifests, UnsupportedError } from './manifests.js';
import { NODE } from './paths.js';

export { UnsupportedError };

/** Kernel settings Kubernetes needs, and those the kubelet's protectKernelDefaults insists on. */
const SYSCTL: [string, string][] = [
  ['net.bridge.bridge-nf-call-iptables', '1'],
  ['net.bridge.bridge-nf-call-ip6tables', '1'],
  ['net.ipv4.ip_forward', '1'],
  ['net.netfilter.nf_conntrack_max', '1048576'],
  ['fs.inotify.max_user_watches', '524288'],
  ['fs.inotify.max_user_instances', '8192'],
  ['vm.overcommit_memory', '1'],
  ['vm.panic_on_oom', '0'],
  ['kernel.panic', '10'],
  ['kernel.panic_on_oops', '1'],
  ['kernel.keys.root_maxkeys', '1000000'],
  ['kernel.keys.root_maxbytes', '25000000'],
];

const MODULES = ['br_netfilter', 'overlay', 'ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', 'nf_conntrack'];

const NGINX = '/usr/sbin/nginx';
/** Distributions build nginx's stream module as a loadable module (Debian: libnginx-mod-stream; RHEL: nginx-mod-stream). */
const NGINX_STREAM_MODULE: Record<string, string> = {
  debian: '/usr/lib/nginx/modules/ngx_stream_module.so',
  ubuntu: '/usr/lib/nginx/modules/ngx_stream_module.so',
  rhel: '/usr/lib64/nginx/modules/ngx_stream_module.so',
};

/**
 * kubeadm phases first boot skips. preflight: first boot prepared the host itself, and kubeadm
 * 1.20's image check is fatal without crictl even when the images are already imported. The
 * add-ons: kube-proxy runs as a host service (no image to carry), and CoreDNS comes from the
 * site's own manifest when the site has the add-on.
 */
const KUBEADM_SKIPPED_PHASES = { init: ['preflight', 'addon/kube-proxy', 'addon/coredns'], join: ['preflight'] };

/** The node's files travel as this archive on the seed volume; cloud-init writes their checksums here. */
export const NODE_FILES_ARCHIVE = 'node-files.tar.gz';
export const NODE_FILES_LIST = '/etc/kubeseed/node-files.sha256';

export interface NodeInput {
  site: ResolvedSite;
  node: ResolvedNode;
  plan: BundlePlan;
  state: StateFiles;
  engine: Engine;
}

interface Unit {
  name: string;
  description: string;
  documentation: string;
  binary: string;
  flags: Flags;
  after?: string[];
  wants?: string[];
  notify?: boolean;
  preStart?: string[];
  oomScoreAdjust?: number;
  /** For units that report ready: how long starting may take before systemd gives up and restarts. */
  timeoutStartSec?: string;
  /** CPU niceness; a unit with one also gets the first I/O priority of the best-effort class. */
  nice?: number;
}

/**
 * Every file that turns a fresh host into its part of the cluster, as a pure function of the
 * site, the node, the plan and the site state. Secrets come from the PKI's per-node selection.
 */
export function renderNode(input: NodeInput): RenderedFile[] {
  const { site, node, plan, state, engine } = input;

  const files: RenderedFile[] = [];
  const add = (path: string, content: string, template: string, mode = '0644') => files.push({ path, mode, content, origin: `render:${template}` });
  const has = (role: string) => node.roles.includes(role as never);
  const cp = has('control-plane');
  const etcd = has('etcd');
  const bootstrap = node.name === site.derived.bootstrapNode;
  const local = site.controlPlane.loadBalancer === 'local';
  const bridge = site.network.plugin === 'bridge';
  // A lone node has no peer subnets to route to, and a unit without ExecStart is invalid.
  const routes = bridge && site.nodes.length > 1;
  // kubeadm runs the control plane (and stacked etcd) as static pods; kubeseed keeps etcd units
  // for external etcd, and kube-proxy as a host service in both modes.
  const kubeadm = site.kubernetes.mode === 'kubeadm';
  const etcdUnit = etcd && site.kubernetes.etcdTopology === 'external';

  add('/etc/hosts', engine.render('hosts', { site: site.name, nodes: site.nodes }), 'hosts');
  add('/etc/sysctl.d/90-kubeseed.conf', engine.render('sysctl.conf', { settings: SYSCTL.map(([key, value]) => ({ key, value })) }), 'sysctl');
  add('/etc/modules-load.d/kubeseed.conf', engine.render('modules-load.conf', { modules: MODULES }), 'modules-load');
  if (site.os.ntpServers.length) add(CHRONY[site.os.family].conf, chronyConf(site), 'chrony.conf');

  const pause = plan.images.find((i) => i.name === 'pause');
  if (!pause) throw new UnsupportedError(`Kubernetes ${site.kubernetes.version} has no pause image in the catalog; containerd needs one for every pod`);
  add('/etc/containerd/config.toml', engine.render('containerd-config.toml', { sandboxImage: pause.ref, runc: `${NODE.sbin}/runc`, cniBin: NODE.cniBin, cniConf: NODE.cniConf }), 'containerd-config.toml');
  add('/etc/systemd/system/containerd.service', engine.render('systemd/containerd.service', { bin: NODE.bin }), 'containerd.service');
  for (const [registry, mirrors] of Object.entries(site.containerRuntime.registryMirrors)) {
    add(`/etc/containerd/certs.d/${registry}/hosts.toml`, containerdHosts(mirrors), 'containerd-hosts.toml');
  }
  add('/etc/crictl.yaml', crictlConfig(), 'crictl.yaml');

  const units: Unit[] = [];
  const k8sDoc = 'https://kubernetes.io/docs/reference/command-line-tools-reference/';
  if (etcdUnit) units.push({ name: 'etcd', description: 'etcd key-value store', documentation: 'https://etcd.io/docs/', binary: `${NODE.bin}/etcd`, flags: etcdFlags(site, node), after: ['network-online.target'], wants: ['network-online.target'], notify: true, preStart: [`/bin/mkdir -p ${NODE.etcdData}`, `/bin/chmod 0700 ${NODE.etcdData}`],
    // A member reports ready only once a quorum has formed: waiting for its peers is normal while the site assembles.
    timeoutStartSec: 'infinity',
    // etcd 3.4 retries a linearizable read's ReadIndex every 500 ms and drops late answers, so a member that
    // waits behind the apiserver and kubelet for CPU can stall every quorum read (seen on three stacked
    // control planes under emulation). First claim on CPU and disk keeps its round trips short.
    nice: -10 });
  if (cp && !kubeadm) {
    units.push({ name: 'kube-apiserver', description: 'Kubernetes API server', documentation: `${k8sDoc}kube-apiserver/`, binary: `${NODE.bin}/kube-apiserver`, flags: apiserverFlags(site, node), after: ['network-online.target', ...(etcd ? ['etcd.service'] : [])], wants: ['network-online.target'], notify: true, preStart: ['/bin/mkdir -p /var/log/kubernetes'],
      // Killing an apiserver that is still filling its caches from a busy etcd only starts that work over
      // (three control planes under emulation needed more than ten minutes).
      timeoutStartSec: 'infinity' });
    units.push({ name: 'kube-controller-manager', description: 'Kubernetes controller manager', documentation: `${k8sDoc}kube-controller-manager/`, binary: `${NODE.bin}/kube-controller-manager`, flags: controllerManagerFlags(site), after: ['kube-apiserver.service'] });
    units.push({ name: 'kube-scheduler', description: 'Kubernetes scheduler', documentation: `${k8sDoc}kube-scheduler/`, binary: `${NODE.bin}/kube-scheduler`, flags: schedulerFlags(site), after: ['kube-apiserver.service'] });
  }
  // Under kubeadm the kubelet takes its flags from kubeadm's drop-in; it restarts until kubeadm has written them.
  units.push({ name: 'kubelet', description: 'Kubernetes node agent', documentation: `${k8sDoc}kubelet/`, binary: `${NODE.bin}/kubelet`, flags: kubeadm ? [] : kubeletFlags(site, node), after: ['containerd.service', ...(local ? ['kubeseed-apiserver-proxy.service'] : [])], wants: ['containerd.service'], oomScoreAdjust: -999 });
  units.push({ name: 'kube-proxy', description: 'Kubernetes service proxy', documentation: `${k8sDoc}kube-proxy/`, binary: `${NODE.bin}/kube-proxy`, flags: kubeProxyFlags(), after: ['network-online.target'], wants: ['network-online.target'] });
  for (const u of units) {
    add(`/etc/systemd/system/${u.name}.service`, engine.render('systemd/component.service', { ...u, flags: u.flags.filter(([, v]) => v !== null), after: u.after ?? [], wants: u.wants ?? [], requires: [], preStart: u.preStart ?? [], notify: u.notify ?? false, oomScoreAdjust: u.oomScoreAdjust ?? 0, timeoutStartSec: u.timeoutStartSec ?? '', nice: u.nice ?? 0 }), `${u.name}.service`);
  }
  if (kubeadm) {
    add('/etc/systemd/system/kubelet.service.d/10-kubeadm.conf', engine.render('systemd/kubelet-kubeadm.conf', { bin: NODE.bin }), 'kubelet-kubeadm-dropin');
    const secrets = { token: state.get(TOKEN_PATH)!.trim(), caCertHash: discoveryHash(state.get('pki/ca.crt')!) };
    add('/etc/kubeseed/kubeadm.yaml', kubeadmConfig(site, node, secrets), 'kubeadm-config', '0600');
  } else {
    add(`${NODE.kubeletDir}/config.yaml`, kubeletConfig(site, node), 'kubelet-config', '0600');
  }
  add(`${NODE.kubeProxyDir}/config.yaml`, kubeProxyConfig(site, node), 'kube-proxy-config', '0600');

  if (local) {
    const upstreams = site.nodes.filter((n) => n.roles.includes('control-plane')).map((n) => `${n.ip}:${site.controlPlane.apiserverPort}`);
    add('/etc/kubeseed/apiserver-proxy.conf', engine.render('apiserver-proxy.conf', { port: site.controlPlane.endpoint.port, upstreams, streamModule: NGINX_STREAM_MODULE[site.os.family] ?? '' }), 'apiserver-proxy.conf');
    add('/etc/systemd/system/kubeseed-apiserver-proxy.service', engine.render('systemd/apiserver-proxy.service', { port: site.controlPlane.endpoint.port, nginx: NGINX }), 'apiserver-proxy.service');
  }
  const vip = site.controlPlane.loadBalancer === 'vip' && cp;
  if (vip) {
    const cps = site.nodes.filter((n) => n.roles.includes('control-plane'));
    add('/etc/haproxy/haproxy.cfg', engine.render('haproxy-vip.cfg', { vip: site.controlPlane.vip!, port: site.controlPlane.endpoint.port, upstreams: cps.map((n) => ({ name: n.name, address: `${n.ip}:${site.controlPlane.apiserverPort}` })) }), 'haproxy-vip.cfg');
    add(
      '/etc/keepalived/keepalived.conf',
      engine.render('keepalived.conf', {
        node: node.name,
        site: site.name.replace(/-/g, '_'),
        interface: site.network.interface!,
        routerId: vrrpRouterId(site.name),
        // The first control plane is preferred; the others take over in order.
        priority: 150 - cps.indexOf(node),
        self: node.ip,
        peers: cps.filter((n) => n !== node).map((n) => n.ip),
        vip: site.controlPlane.vip!,
        prefix: node.prefixLength,
      }),
      'keepalived.conf',
      '0600',
    );
  }
  if (bridge) {
    add(`${NODE.cniConf}/10-kubeseed-bridge.conflist`, bridgeConflist(site, node), 'cni-bridge');
    if (routes) {
      const peers = site.nodes.filter((n) => n !== node).map((n) => ({ subnet: n.podSubnet!, via: n.ip }));
      add('/etc/systemd/system/kubeseed-routes.service', engine.render('systemd/kubeseed-routes.service', { routes: peers }), 'kubeseed-routes.service');
    }
  }
  if (bootstrap) {
    for (const [name, text] of Object.entries(clusterManifests(site, plan.images))) add(`${NODE.manifests}/${name}`, text, 'cluster-manifests');
  }

  // In binary mode the apiserver's clients start only once it answers /readyz (a control plane asks its
  // own apiserver, other nodes their way to the cluster): a slow host that lets kubelets, proxies and
  // controllers pile up connections while the apiserver is still starting can make it miss its own
  // start-up deadlines and exit, again and again. kubeadm orders its own start-up.
  const apiClients = new Set(kubeadm ? [] : ['kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy']);
  const ordered = [...units.filter((u) => u.name !== 'kubelet' && u.name !== 'kube-proxy').map((u) => u.name), ...(local ? ['kubeseed-apiserver-proxy'] : []), ...(vip ? ['haproxy', 'keepalived'] : []), ...(routes ? ['kubeseed-routes'] : []), 'kubelet', 'kube-proxy'];
  const services = ordered.filter((name) => !apiClients.has(name));
  const afterApi = ordered.filter((name) => apiClients.has(name));
  const planNode = plan.nodes.find((n) => n.name === node.name)!;
  const artifacts = plan.artifacts.filter((a) => a.nodes.includes(node.name));
  const steps = [
    { name: 'unpack-node-files', fn: 'unpack_node_files' },
    { name: 'find-payload', fn: 'find_payload' },
    { name: 'prepare-os', fn: 'prepare_os' },
    { name: 'install-binaries', fn: 'install_binaries' },
    { name: 'import-images', fn: 'import_images' },
    { name: 'start-services', fn: 'start_services' },
    ...(kubeadm ? [{ name: bootstrap ? 'kubeadm-init' : 'kubeadm-join', fn: 'kubeadm_up' }] : []),
    ...(bootstrap ? [{ name: 'apply-manifests', fn: 'apply_manifests' }] : []),
    { name: 'wait-ready', fn: 'wait_ready' },
  ].map((s, i) => ({ ...s, number: i + 1 }));
  add(
    '/opt/kubeseed/firstboot',
    engine.render('firstboot.sh', {
      node: node.name,
      site: site.name,
      nodeFilesList: NODE_FILES_LIST,
      nodeFilesArchive: NODE_FILES_ARCHIVE,
      stateDir: NODE.state,
      payload: NODE.payload,
      manifests: NODE.manifests,
      bin: NODE.bin,
      sbin: NODE.sbin,
      cniBin: NODE.cniBin,
      steps,
      modules: MODULES,
      timezone: site.os.timezone,
      ntp: site.os.ntpServers.length > 0,
      chronyService: CHRONY[site.os.family].service,
      selinuxPermissive: site.os.family === 'rhel',
      openPorts: site.os.firewall === 'open-ports',
      ports: firewallPorts(site, cp, etcd),
      vrrp: site.controlPlane.loadBalancer === 'vip' && cp,
      installs: installSteps(artifacts),
      imageArchive: planNode.files.some((f) => f.origin === 'payload:image-archive') ? `images-${node.arch}.oci.tar` : '',
      platform: `linux/${node.arch}`,
      services,
      afterApi,
      apiCheckServer: cp && !kubeadm ? `https://127.0.0.1:${site.controlPlane.apiserverPort}` : '',
      bootstrap,
      kubeadm: kubeadm ? { verb: bootstrap ? 'init' : 'join', skipPhases: KUBEADM_SKIPPED_PHASES[bootstrap ? 'init' : 'join'].join(',') } : null,
      adminKubeconfig: kubeadm ? '/etc/kubernetes/admin.conf' : '/etc/kubernetes/kubeseed-bootstrap.conf',
    }),
    'firstboot.sh',
    '0755',
  );
  add('/etc/systemd/system/kubeseed-firstboot.service', engine.render('systemd/kubeseed-firstboot.service', { node: node.name, site: site.name }), 'kubeseed-firstboot.service');
  add('/usr/local/bin/kubeseed-status', engine.render('kubeseed-status.sh', { stateDir: NODE.state, units: ['kubeseed-firstboot', 'containerd', ...ordered] }), 'kubeseed-status.sh', '0755');

  files.push(...selectForNode(site, node, state));
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** A VRRP router id (1–255) stable for the site, so that two sites on one segment rarely collide. */
function vrrpRouterId(site: string): number {
  let h = 0;
  for (const c of site) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return (h % 255) + 1;
}

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


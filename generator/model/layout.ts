import type { OsFamily } from './site.js';
import type { PlannedArtifact } from './plan.js';

/**
 * Where everything lives on a node: the one statement of the node's layout. The certificate
 * table, the plan, the node file table, cloud-init, the pack scripts, kickstart and the templates
 * (through their render context) read their paths here; a unit test fails on a node path written
 * anywhere else.
 */

/** Directories and sockets. */
export const NODE = {
  bin: '/usr/local/bin',
  sbin: '/usr/local/sbin',
  cniBin: '/opt/cni/bin',
  cniConf: '/etc/cni/net.d',
  kubernetes: '/etc/kubernetes',
  pki: '/etc/kubernetes/pki',
  /** Where kubeadm writes the control plane's static pod manifests, the kubelet's staticPodPath (kubeadm's constants.go: KubernetesDir + ManifestsSubDirName). */
  staticPods: '/etc/kubernetes/manifests',
  kubeletDir: '/var/lib/kubelet',
  kubeProxyDir: '/var/lib/kube-proxy',
  etcdData: '/var/lib/etcd',
  containerdRoot: '/var/lib/containerd',
  containerdState: '/run/containerd',
  /** containerd's `opt` plugin makes this directory at every start (its default path; kubeseed's config leaves it). */
  containerdOpt: '/opt/containerd',
  containerdCertsDir: '/etc/containerd/certs.d',
  containerdSocket: '/run/containerd/containerd.sock',
  containerdSock: 'unix:///run/containerd/containerd.sock',
  logDir: '/var/log/kubernetes',
  /** The kubelet's logs of each pod's containers, and its links to them by container (kubeseed-reset removes both). */
  podLogs: '/var/log/pods',
  containerLogs: '/var/log/containers',
  auditLog: '/var/log/kubernetes/audit.log',
  units: '/etc/systemd/system',
  /** kubeseed's own configuration on the node. */
  config: '/etc/kubeseed',
  /** First boot's markers and status.json. */
  state: '/var/lib/kubeseed',
  payload: '/opt/kubeseed/payload',
  /** Where first boot mounts a payload volume before binding its payload directory onto `payload`. */
  payloadVolume: '/run/kubeseed/payload-volume',
  manifests: '/opt/kubeseed/manifests',
  /** Everything first boot keeps under /opt (the orchestrator, the payload, the manifests). */
  opt: '/opt/kubeseed',
  /** Where the CNI plugins' host-local IPAM keeps its leases. */
  cniState: '/var/lib/cni',
  /** Where a node tarball's install.sh (or a kickstart) leaves archives for first boot, and where an operator copies the payload tarball. */
  copies: '/root',
} as const;

/** The payload as one tarball, for hosts without a payload volume. */
export const PAYLOAD_TARBALL = 'kubeseed-payload.tar';

const unit = (name: string) => `${NODE.units}/${name}.service`;

/** Files with a fixed place. */
export const FILES = {
  firstboot: '/opt/kubeseed/firstboot',
  firstbootUnit: unit('kubeseed-firstboot'),
  status: `${NODE.bin}/kubeseed-status`,
  /** First boot's progress, `state: done` when the node has finished. */
  statusJson: `${NODE.state}/status.json`,
  hosts: '/etc/hosts',
  sysctl: '/etc/sysctl.d/90-kubeseed.conf',
  modules: '/etc/modules-load.d/kubeseed.conf',
  containerdConfig: '/etc/containerd/config.toml',
  crictlConfig: '/etc/crictl.yaml',
  kubeletConfig: `${NODE.kubeletDir}/config.yaml`,
  kubeletKubeadmFlags: `${NODE.kubeletDir}/kubeadm-flags.env`,
  kubeletKubeadmDropIn: `${NODE.units}/kubelet.service.d/10-kubeadm.conf`,
  kubeProxyConfig: `${NODE.kubeProxyDir}/config.yaml`,
  kubeadmConfig: `${NODE.config}/kubeadm.yaml`,
  encryptionConfig: `${NODE.kubernetes}/encryption-config.yaml`,
  auditPolicy: `${NODE.kubernetes}/audit-policy.yaml`,
  apiserverProxyConfig: `${NODE.config}/apiserver-proxy.conf`,
  /** nginx's prefix (temp files) for the apiserver proxy, and its pid file. */
  apiserverProxyPrefix: `${NODE.state}/apiserver-proxy`,
  apiserverProxyPid: '/run/kubeseed-apiserver-proxy.pid',
  haproxyConfig: '/etc/haproxy/haproxy.cfg',
  keepalivedConfig: '/etc/keepalived/keepalived.conf',
  bridgeConflist: `${NODE.cniConf}/10-kubeseed-bridge.conflist`,
  payloadTarball: `${NODE.copies}/${PAYLOAD_TARBALL}`,
  /** systemctl enable's link for first boot, made by hand where no systemd runs (a kickstart's %post). */
  firstbootWants: `${NODE.units}/multi-user.target.wants/kubeseed-firstboot.service`,
  kickstartLog: `${NODE.copies}/kubeseed-post.log`,
  /** The site revision whose update the node applied last (written by an update's apply script). */
  revision: `${NODE.state}/revision`,
  /** The release the node runs (`kubernetes=v1.20.2` and each installed component's version); kubeseed-status prints it. */
  release: `${NODE.config}/release`,
  /** What the last update replaced (files and binaries as they were, and the revision before it), for kubeseed-rollback. */
  rollbackDir: `${NODE.state}/rollback`,
  /** Puts back what the last update replaced (installed by the update's apply from the update itself). */
  rollback: `${NODE.sbin}/kubeseed-rollback`,
  /** Units an update installed files for and has not yet seen healthy; a rerun restarts them. */
  updatePending: `${NODE.state}/update-pending`,
  /** How the node's etcd member starts the first time (new cluster or joining), read by etcd.service. */
  etcdCluster: `${NODE.config}/etcd-cluster.env`,
  /** etcd.service's ExecStartPre: adds a joining member to the running cluster's member list. */
  etcdJoin: '/opt/kubeseed/etcd-join',
  /** Undoes what first boot did (render/reset.ts). */
  reset: `${NODE.sbin}/kubeseed-reset`,
  /** Host files the node's files replaced, as they were before the first install: kubeseed-reset puts them back. */
  originals: `${NODE.state}/originals`,
  /** Every file first boot unpacked or copied from the payload's downloads, one path a line. */
  installed: `${NODE.state}/installed`,
  /** name=version of each OS package first boot installed. */
  osPackages: `${NODE.state}/os-packages`,
} as const;

/**
 * What the network plugins leave on a host outside kubeseed's own paths: the plugins' host
 * directories (the DaemonSets mount them) and the interfaces they and kube-proxy create.
 */
export const NETWORK_LEFTOVERS = {
  dirs: ['/run/flannel', '/var/lib/calico', '/run/calico', '/var/log/calico'],
  interfaces: ['cni0', 'flannel.1', 'vxlan.calico', 'tunl0', 'kube-ipvs0'],
  /** The pods' network namespaces (containerd names them cni-…). */
  netns: '/run/netns',
} as const;

/** Kubeconfigs on the node (certificate table rows name them; units and first boot read them). */
export const KUBECONFIG = {
  kubelet: `${NODE.kubernetes}/kubelet.conf`,
  kubeletBootstrap: `${NODE.kubernetes}/bootstrap-kubelet.conf`,
  controllerManager: `${NODE.kubernetes}/controller-manager.conf`,
  scheduler: `${NODE.kubernetes}/scheduler.conf`,
  /** The bootstrap node's credential for applying the cluster manifests in binary mode. */
  bootstrapper: `${NODE.kubernetes}/kubeseed-bootstrap.conf`,
  /** What kubeadm init writes for the admin. */
  kubeadmAdmin: `${NODE.kubernetes}/admin.conf`,
  kubeProxy: `${NODE.kubeProxyDir}/kubeconfig`,
} as const;

/** A systemd unit kubeseed writes. */
export function unitPath(name: string): string {
  return unit(name);
}

/** containerd's hosts.toml for one upstream registry. */
export function registryHostsPath(registry: string): string {
  return `${NODE.containerdCertsDir}/${registry}/hosts.toml`;
}

/** A certificate, key or public key under the node's PKI directory (`name` without extension). */
export function pkiPath(name: string): string {
  return `${NODE.pki}/${name}`;
}

export const KUBELET_SERVING = `${NODE.kubeletDir}/pki/kubelet`;

export function manifestPath(name: string): string {
  return `${NODE.manifests}/${name}`;
}

/**
 * The node's files travel as one archive (on the seed volume, in the node tarball, inside the
 * kickstart); cloud-init (or install.sh, or %post) writes the SHA-256 list that first boot checks
 * every member against before installing any.
 */
const NODE_FILES_ARCHIVE = 'node-files.tar.gz';
export const NODE_FILES = {
  archive: NODE_FILES_ARCHIVE,
  list: `${NODE.config}/node-files.sha256`,
  /** The list's name beside the archive in a node tarball, and the tarball's own check of both. */
  listName: 'node-files.sha256',
  selfCheckName: 'node-files.sha256.self',
  /** Where a copied archive waits on the host (tarball and kickstart installs). */
  copied: `${NODE.copies}/${NODE_FILES_ARCHIVE}`,
  /** The list as first boot last installed it: a later boot with a newer seed (or install.sh) compares with it. */
  installed: `${NODE.state}/node-files.installed`,
} as const;

/** What cloud-init (or install.sh) itself writes before first boot runs: the orchestrator, its unit and the status command. */
export const BOOT_FILES: readonly string[] = [FILES.firstboot, FILES.firstbootUnit, FILES.status];

/**
 * An update a running node applies (generator/update): the changed files under `files/`, their
 * SHA-256 list (paths relative to /, like the node-files list), the paths to remove, and `apply`.
 */
export const UPDATE_FILES = {
  dir: 'files',
  list: 'files.sha256',
  /** An upgrade's downloads from the new payload (named as the payload names them) and their SHA-256 list. */
  payloadDir: 'payload',
  payloadList: 'payload.sha256',
  rollback: 'rollback',
  removed: 'removed',
  apply: 'apply',
  /** Takes the nodes the site no longer has out of the cluster (on the node whose update does it). */
  takeOut: 'take-out',
} as const;

/** Volume labels first boot looks for. */
export const VOLUME_LABELS = { seed: ['cidata', 'CIDATA'], payload: 'KSPAYLOAD' } as const;

/**
 * Where a downloaded component lands: a binary at this path, an archive unpacked into this
 * directory. runc goes to sbin, where containerd's config names it.
 */
const INSTALL_TARGET: Record<string, string> = {
  etcd: NODE.bin,
  containerd: NODE.bin,
  // The static build of containerd (RHEL-family hosts) unpacks the same bin/ tree.
  'containerd-static': NODE.bin,
  crictl: NODE.bin,
  'cni-plugins': NODE.cniBin,
  runc: `${NODE.sbin}/runc`,
};

export function installTarget(component: string): string {
  return INSTALL_TARGET[component] ?? `${NODE.bin}/${component}`;
}

/** An artifact's name in the payload: binaries by component, version and arch; archives by their upstream name. */
export function payloadName(a: Pick<PlannedArtifact, 'format' | 'component' | 'version' | 'arch' | 'url'>): string {
  return a.format === 'binary' ? `${a.component}-${a.version}-${a.arch}` : a.url.slice(a.url.lastIndexOf('/') + 1);
}

/** The payload's image archive of one architecture. */
export function imageArchiveName(arch: string): string {
  return `images-${arch}.oci.tar`;
}

export function payloadPath(name: string): string {
  return `${NODE.payload}/${name}`;
}

/**
 * Paths the distribution decides (kubeseed writes chrony's file and runs the packaged nginx).
 * `resolvConf` is the file the kubelet hands pods (and CoreDNS forwards to): where
 * systemd-resolved owns /etc/resolv.conf (Ubuntu's default since 18.04) that names only the
 * 127.0.0.53 stub, which inside a pod is the pod itself, so CoreDNS would loop; resolved keeps
 * the real servers in /run/systemd/resolve/resolv.conf (systemd-resolved.service(8)). Debian
 * (no resolved by default) and RHEL (NetworkManager) write the real file.
 */
export const OS_PATHS: Record<
  OsFamily,
  { chronyConf: string; chronyDrift: string; chronyLogDir: string; nginx: string; nginxStreamModule: string; resolvConf: string }
> = {
  debian: {
    chronyConf: '/etc/chrony/chrony.conf',
    chronyDrift: '/var/lib/chrony/chrony.drift',
    chronyLogDir: '/var/log/chrony',
    nginx: '/usr/sbin/nginx',
    nginxStreamModule: '/usr/lib/nginx/modules/ngx_stream_module.so',
    resolvConf: '/etc/resolv.conf',
  },
  ubuntu: {
    chronyConf: '/etc/chrony/chrony.conf',
    chronyDrift: '/var/lib/chrony/chrony.drift',
    chronyLogDir: '/var/log/chrony',
    nginx: '/usr/sbin/nginx',
    nginxStreamModule: '/usr/lib/nginx/modules/ngx_stream_module.so',
    resolvConf: '/run/systemd/resolve/resolv.conf',
  },
  rhel: {
    chronyConf: '/etc/chrony.conf',
    chronyDrift: '/var/lib/chrony/drift',
    chronyLogDir: '/var/log/chrony',
    nginx: '/usr/sbin/nginx',
    nginxStreamModule: '/usr/lib64/nginx/modules/ngx_stream_module.so',
    resolvConf: '/etc/resolv.conf',
  },
};

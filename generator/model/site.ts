/** Shared shapes of a site after validation and resolution. The written form lives in `site/schema.ts`. */

/*
 * Every closed set of values a site can name, declared once: the types below, the site schema
 * (`site/schema.ts`) and the catalog schema (`catalog/schema.ts`) are all built from these lists.
 */
export const ROLES = ['control-plane', 'etcd', 'worker'] as const;
export const MODES = ['binary', 'kubeadm'] as const;
export const LOAD_BALANCERS = ['local', 'vip', 'none'] as const;
export const NETWORK_PLUGINS = ['flannel', 'calico', 'bridge'] as const;
export const ADDONS = ['coredns', 'metrics-server', 'headlamp', 'dashboard', 'ingress-nginx'] as const;
export const OS_FAMILIES = ['debian', 'ubuntu', 'rhel'] as const;
export const TIMING_PROFILES = ['standard', 'relaxed'] as const;
export const KEY_ALGORITHMS = ['rsa-2048', 'rsa-4096', 'ecdsa-p256'] as const;
export const OUTPUT_FORMATS = ['nocloud-iso', 'tarball', 'kickstart'] as const;
export const PROXY_MODES = ['nftables', 'ipvs', 'iptables'] as const;
export const ETCD_TOPOLOGIES = ['stacked', 'external'] as const;
export const FIREWALL_MODES = ['open-ports', 'disable'] as const;
export const ARCHES = ['amd64', 'arm64'] as const;

export type Role = (typeof ROLES)[number];
export type Mode = (typeof MODES)[number];
export type LoadBalancer = (typeof LOAD_BALANCERS)[number];
export type NetworkPlugin = (typeof NETWORK_PLUGINS)[number];
export type Addon = (typeof ADDONS)[number];
export type OsFamily = (typeof OS_FAMILIES)[number];
/** How patient etcd elections and control-plane leader leases are (see render/timing.ts). */
export type TimingProfile = (typeof TIMING_PROFILES)[number];
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
export type ProxyMode = (typeof PROXY_MODES)[number];
/** Who runs etcd: kubeadm as static pods on the control planes (stacked), or kubeseed's etcd units (external). */
export type EtcdTopology = (typeof ETCD_TOPOLOGIES)[number];
export type FirewallMode = (typeof FIREWALL_MODES)[number];
export type Arch = (typeof ARCHES)[number];

export interface ResolvedNode {
  name: string;
  /** Position in `spec.nodes`, stable across runs. */
  index: number;
  /** Host address without prefix, e.g. 192.168.93.45. */
  ip: string;
  /** As written, e.g. 192.168.93.45/24. */
  cidr: string;
  prefixLength: number;
  /** Network of the node's interface, e.g. 192.168.93.0/24. */
  subnet: string;
  gateway: string;
  dns: string[];
  mac?: string;
  arch: string;
  roles: Role[];
  /** Pod subnet of this node when the network plugin is `bridge` (static routes between nodes). */
  podSubnet?: string;
}

export interface ApiEndpoint {
  host: string;
  port: number;
  url: string;
}

export interface ResolvedSite {
  name: string;
  /** The blueprint file this site came from. */
  sourceFile: string;
  kubernetes: {
    version: string;
    minor: number;
    mode: Mode;
    clusterDomain: string;
    serviceCIDR: string;
    podCIDR: string;
    nodePortRange: { from: number; to: number };
    proxyMode: ProxyMode;
    etcdTopology: EtcdTopology;
    /** First address of the service CIDR: the `kubernetes` Service. */
    serviceIP: string;
    clusterDNS: string;
  };
  controlPlane: {
    loadBalancer: LoadBalancer;
    vip?: string;
    /** Where every client on a node reaches the apiserver. */
    endpoint: ApiEndpoint;
    /** Port the apiservers themselves listen on. */
    apiserverPort: number;
    timing: TimingProfile;
  };
  network: { plugin: NetworkPlugin; interface?: string };
  addons: Addon[];
  os: {
    family: OsFamily;
    version?: string;
    /** Set when the site overrides the family's resolv.conf for the kubelet. */
    resolvConf?: string;
    timezone: string;
    ntpServers: string[];
    sshAuthorizedKeys: string[];
    cgroupVersion: 1 | 2;
    /** Extra OS packages the site asks for on every node (`spec.os.packages`). */
    packages: string[];
    firewall: FirewallMode;
  };
  pki: { keyAlgorithm: KeyAlgorithm; caValidityHours: number; certValidityHours: number };
  artifacts: {
    arch: string[];
    sources: Record<string, string>;
    registryMirrors: Record<string, string>;
    /** Catalog directory actually used. */
    catalog: string;
  };
  /** Registries inside the site that containerd on every node asks first, per upstream registry host. */
  containerRuntime: {
    registryMirrors: Record<string, string[]>;
    /** The release's containerd version (e.g. `2.3.4`): the config format and ctr flags follow it. */
    version: string;
  };
  output: { formats: OutputFormat[]; embedPayload: boolean };
  nodes: ResolvedNode[];
  derived: {
    /** The node that bootstraps the cluster (applies manifests, runs `kubeadm init`). */
    bootstrapNode: string;
    etcdInitialCluster: string;
    etcdEndpoints: string[];
    apiserverSANs: { dns: string[]; ips: string[] };
  };
}

/** One file of a node, as the render and pki stages produce it. */
export interface RenderedFile {
  path: string;
  /** Octal, e.g. '0644'; private keys and credentials are always '0600'. */
  mode: string;
  content: string;
  /** Where it came from: `render:<template>`, `pki:<cert>`, … */
  origin: string;
}

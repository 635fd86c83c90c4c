/** Shared shapes of a site after validation and resolution. The written form lives in `site/schema.ts`. */

export type Role = 'control-plane' | 'etcd' | 'worker';
export type Mode = 'binary' | 'kubeadm';
export type LoadBalancer = 'local' | 'vip' | 'none';
export type NetworkPlugin = 'flannel' | 'calico' | 'bridge';
export type Addon = 'coredns' | 'metrics-server' | 'dashboard' | 'ingress-nginx';
export type OsFamily = 'debian' | 'ubuntu' | 'rhel';
/** How patient etcd elections and control-plane leader leases are (see render/timing.ts). */
export type TimingProfile = 'standard' | 'relaxed';
export type KeyAlgorithm = 'rsa-2048' | 'rsa-4096' | 'ecdsa-p256';
export type OutputFormat = 'nocloud-iso' | 'tarball' | 'kickstart';
export type ProxyMode = 'ipvs' | 'iptables';

export const ROLES: readonly Role[] = ['control-plane', 'etcd', 'worker'];

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
    /** Who runs etcd: kubeadm as static pods on the control planes, or kubeseed's etcd units. */
    etcdTopology: 'stacked' | 'external';
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
    timezone: string;
    ntpServers: string[];
    sshAuthorizedKeys: string[];
    cgroupVersion: 1 | 2;
    /** Extra OS packages the site asks for on every node (`spec.os.packages`). */
    packages: string[];
    firewall: 'open-ports' | 'disable';
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
  containerRuntime: { registryMirrors: Record<string, string[]> };
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

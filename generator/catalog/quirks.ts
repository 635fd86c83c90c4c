/**
 * Version quirks: facts that change between Kubernetes releases, each a named predicate on the
 * release's minor version. Templates and renderers ask these by name; no version `if`s elsewhere.
 */

export interface Quirk {
  name: string;
  /** What changed and where that is documented. */
  why: string;
  applies(minor: number): boolean;
}

const from = (m: number) => (minor: number) => minor >= m;
const before = (m: number) => (minor: number) => minor < m;

export const QUIRKS = {
  /** kube-apiserver 1.20–1.23 still has `--insecure-port`, and refuses any value but 0. */
  insecurePortFlag: { name: 'insecure-port-flag', why: '--insecure-port removed in 1.24; 1.20 only accepts 0', applies: before(24) },
  /** kubelet flags for dockershim (`--network-plugin`, `--container-runtime=remote`) until 1.24. */
  kubeletDockershimFlags: { name: 'kubelet-dockershim-flags', why: 'dockershim flags removed in 1.24', applies: before(24) },
  /** `--container-runtime-endpoint` moved into KubeletConfiguration in 1.27. */
  runtimeEndpointInConfig: { name: 'runtime-endpoint-in-config', why: 'KubeletConfiguration.containerRuntimeEndpoint since 1.27', applies: from(27) },
  /** The apiserver-kubelet-client and admin certificates use O=kubeadm:cluster-admins from 1.29. */
  clusterAdminsGroup: { name: 'cluster-admins-group', why: 'kubeadm 1.29 moved admin.conf off system:masters', applies: from(29) },
  /** Full cgroup v2 support (GA) from 1.25; older releases need the v1 hierarchy. */
  cgroupV2: { name: 'cgroup-v2', why: 'cgroup v2 support GA in 1.25', applies: from(25) },
  /** kubeadm config API: v1beta2 until 1.21, v1beta3 from 1.22, v1beta4 from 1.31. */
  kubeadmV1beta3: { name: 'kubeadm-v1beta3', why: 'kubeadm.k8s.io/v1beta3 from 1.22', applies: from(22) },
  kubeadmV1beta4: { name: 'kubeadm-v1beta4', why: 'kubeadm.k8s.io/v1beta4 from 1.31 (extraArgs become a list)', applies: from(31) },
  /** kubeadm 1.21 moved CoreDNS to `<default registry>/coredns/coredns`, and rewrites a dns.imageRepository equal to its default registry so (cmd/kubeadm/app/images GetDNSImage). */
  kubeadmCorednsSubpath: { name: 'kubeadm-coredns-subpath', why: 'kubeadm pulls coredns/coredns under its default registry from 1.21', applies: from(21) },
  /** From 1.35 the kubelet refuses cgroup v1 hosts unless failCgroupV1 is false (KEP-5573, kubernetes#134298). */
  cgroupV1Refused: { name: 'cgroup-v1-refused', why: 'kubelet failCgroupV1 defaults to true from 1.35 (KEP-5573)', applies: from(35) },
  /** kube-proxy's nftables mode: alpha 1.29, beta (on by default) 1.31, GA 1.33 (KEP-3866). */
  nftablesProxy: { name: 'nftables-proxy', why: 'kube-proxy nftables mode beta and enabled by default from 1.31 (KEP-3866)', applies: from(31) },
  /** From GA on, nftables is upstream's recommended replacement for ipvs (and iptables): kubeseed's default for sites that name no mode. */
  nftablesProxyDefault: { name: 'nftables-proxy-default', why: 'kube-proxy nftables mode GA in 1.33 (KEP-3866)', applies: from(33) },
  /** kube-proxy's ipvs mode logs a deprecation warning from 1.35 and is slated for removal (KEP-5495). */
  ipvsDeprecated: { name: 'ipvs-deprecated', why: 'kube-proxy ipvs mode deprecated in 1.35 (KEP-5495)', applies: from(35) },
} satisfies Record<string, Quirk>;

export type QuirkName = keyof typeof QUIRKS;

export function quirk(name: QuirkName, minor: number): boolean {
  return QUIRKS[name].applies(minor);
}

/** Minor version of a `v1.34.2`-style version. */
export function minorOf(version: string): number {
  const minor = minorOrNull(version);
  if (minor === null) throw new Error(`not a Kubernetes 1.x version: ${version}`);
  return minor;
}

/** The minor of a version, or null when it is not a Kubernetes 1.x version (another rule reports that). */
export function minorOrNull(version: string): number | null {
  const m = /^v?1\.(\d+)\./.exec(version);
  return m ? Number(m[1]) : null;
}

/** A containerd release as `major.minor.patch` (catalogs write `2.3.4`, some `v2.3.4`). */
export interface ContainerdVersion {
  major: number;
  minor: number;
}

export function parseContainerdVersion(version: string): ContainerdVersion {
  const m = /^v?(\d+)\.(\d+)\./.exec(version);
  if (!m) throw new Error(`not a containerd version: ${version}`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

const containerdFrom = (major: number, minor: number) => (v: ContainerdVersion) => v.major > major || (v.major === major && v.minor >= minor);

/** Facts that change between containerd releases, each a named predicate on the version. */
export const CONTAINERD_QUIRKS = {
  /** containerd 2.x reads config `version = 3` (CRI split into io.containerd.cri.v1.images/runtime) and migrates version 2 on every start. */
  configV3: {
    name: 'containerd-config-v3',
    why: 'config version 3 since containerd 2.0; version 2 is migrated at every start (docs/cri/config.md)',
    applies: containerdFrom(2, 0),
  },
  /** Per-registry hosts.toml under the CRI registry `config_path`: containerd 1.5 and later. */
  registryConfigPath: {
    name: 'containerd-registry-config-path',
    why: 'CRI registry config_path (certs.d/<host>/hosts.toml) since containerd 1.5 (pkg/cri/config in v1.5.0)',
    applies: containerdFrom(1, 5),
  },
  /** `ctr images import --platform` from containerd 1.6; before it, import keeps the host's own platform unless --all-platforms. */
  importPlatformFlag: {
    name: 'ctr-import-platform-flag',
    why: 'ctr images import --platform since containerd 1.6 (v1.4.3 import.go uses the client platform)',
    applies: containerdFrom(1, 6),
  },
} satisfies Record<string, { name: string; why: string; applies(v: ContainerdVersion): boolean }>;

export type ContainerdQuirkName = keyof typeof CONTAINERD_QUIRKS;

export function containerdQuirk(name: ContainerdQuirkName, version: string): boolean {
  return CONTAINERD_QUIRKS[name].applies(parseContainerdVersion(version));
}

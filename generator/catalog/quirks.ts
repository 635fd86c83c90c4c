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
} satisfies Record<string, Quirk>;

export type QuirkName = keyof typeof QUIRKS;

export function quirk(name: QuirkName, minor: number): boolean {
  return QUIRKS[name].applies(minor);
}

/** Minor version of a `v1.34.2`-style version. */
export function minorOf(version: string): number {
  const m = /^v?1\.(\d+)\./.exec(version);
  if (!m) throw new Error(`not a Kubernetes 1.x version: ${version}`);
  return Number(m[1]);
}

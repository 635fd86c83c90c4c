import { FILES, installTarget, KUBECONFIG, KUBELET_SERVING, NODE, OS_PATHS, pkiPath, unitPath } from '../model/layout.js';
import { CHRONY_SERVICE } from './host-config.js';
import type { NodeFacts } from './facts.js';
import { serviceOrder } from './units.js';

/**
 * Which units read which node file, so that an update restarts exactly the units whose files
 * changed. One row per file (or family of files); a file no unit reads at run time names no unit
 * (first boot's own files, the kubeadm config read once by `kubeadm init/join`, CNI configs read at
 * every pod start). The unit test walks every node of the test sites: each of its files matches a
 * row, and every path a unit's flags name restarts that unit.
 */

type Match = string | { prefix: string };
interface Row {
  match: Match;
  units: readonly string[];
}

const APISERVER = 'kube-apiserver';
/** The key under which the image archive of the payload is recorded (update/compute.ts). */
export const IMAGES_KEY = 'images';
/** An artifact of the payload in the restart table: the update's apply marks it touched when it installs it. */
export const artifactMarker = (key: string) => `payload:${key}`;
/** Not a unit: `kubeadm upgrade apply|node`, run where a unit would restart (the restart-units partial). */
export const KUBEADM_UPGRADE = 'kubeadm-upgrade';
const CM = 'kube-controller-manager';
const SCHEDULER = 'kube-scheduler';
/**
 * Not a unit: `kubeadm certs renew` of the kubeconfigs kubeadm itself wrote on a control plane
 * (admin, controller-manager, scheduler), whose client certificates kubeseed does not issue.
 * A renewal renews them with the leaves kubeseed issues; the controllers restart after it.
 */
export const KUBEADM_KUBECONFIGS = 'kubeadm-kubeconfigs';
/** Not a unit either: on the bootstrap node, `kubectl apply` of the cluster manifests first boot applied, when they changed. */
export const CLUSTER_MANIFESTS = 'cluster-manifests';
/** What kubeadm renews there (`kubeadm certs renew <name>`, kubeadm 1.20+). */
export const KUBEADM_RENEWED = ['admin.conf', 'controller-manager.conf', 'scheduler.conf'] as const;
const pair = (base: string, units: readonly string[]): Row[] => [
  { match: `${base}.crt`, units },
  { match: `${base}.key`, units },
];

/** The restart order: the host first, then etcd, the apiservers, their clients on the control plane, the ways to the apiservers, the node's runtime and agents. */
export const RESTART_ORDER: readonly string[] = [
  'systemd-modules-load',
  'systemd-sysctl',
  ...new Set(Object.values(CHRONY_SERVICE)),
  'etcd',
  APISERVER,
  KUBEADM_KUBECONFIGS,
  CM,
  SCHEDULER,
  'haproxy',
  'keepalived',
  'kubeseed-apiserver-proxy',
  'kubeseed-routes',
  'containerd',
  // kubeadm mode's upgrade of the control plane's static pods (or the node's kubelet config), with the new kubeadm, before the new kubelet starts.
  KUBEADM_UPGRADE,
  'kubelet',
  'kube-proxy',
  CLUSTER_MANIFESTS,
];

/** How an update waits for a restarted unit: its own health endpoint where it has one, else systemd's word that it is active. */
export type HealthCheck = 'etcd' | 'apiserver' | 'kubelet' | 'active' | 'none' | 'done';
const HEALTH: Record<string, HealthCheck> = {
  etcd: 'etcd',
  [APISERVER]: 'apiserver',
  kubelet: 'kubelet',
  [KUBEADM_KUBECONFIGS]: 'none',
  [CLUSTER_MANIFESTS]: 'none',
  [KUBEADM_UPGRADE]: 'done',
};

/**
 * Which units a download of the payload restarts when an upgrade changes it. runc, the CNI plugins
 * and the images serve the next container or pod started; kubectl and crictl are tools; kubeadm's
 * new binary runs the upgrade itself.
 */
const ARTIFACT_UNITS: Record<string, readonly string[]> = {
  etcd: ['etcd'],
  [APISERVER]: [APISERVER],
  'kube-controller-manager': ['kube-controller-manager'],
  'kube-scheduler': ['kube-scheduler'],
  containerd: ['containerd'],
  'containerd-static': ['containerd'],
  kubeadm: [KUBEADM_UPGRADE],
  kubelet: ['kubelet'],
  'kube-proxy': ['kube-proxy'],
  kubectl: [],
  crictl: [],
  runc: [],
  'cni-plugins': [],
  [IMAGES_KEY]: [],
};
export const healthCheck = (unit: string): HealthCheck => HEALTH[unit] ?? 'active';

/**
 * How a restart is done: systemd's restart of the unit; for kubeadm's control plane (static pods,
 * and etcd when stacked) ending the pod's running container (ctr: crictl is optional in the
 * payload), which the kubelet starts again from the same manifest so it reads the new files;
 * kubeadm renewing its kubeconfigs; or kubectl applying the cluster manifests.
 */
export type RestartVia = 'systemd' | 'static-pod' | 'kubeadm-certs' | 'kubectl-apply' | 'kubeadm-upgrade';

/** The components kubeadm runs as static pods on this node. */
function staticPods(f: NodeFacts): string[] {
  if (!f.kubeadm || !f.cp) return [];
  return [APISERVER, CM, SCHEDULER, ...(f.etcd && !f.etcdUnit ? ['etcd'] : [])];
}

export function restartVia(f: NodeFacts, unit: string): RestartVia {
  if (unit === KUBEADM_KUBECONFIGS) return 'kubeadm-certs';
  if (unit === CLUSTER_MANIFESTS) return 'kubectl-apply';
  if (unit === KUBEADM_UPGRADE) return 'kubeadm-upgrade';
  return staticPods(f).includes(unit) ? 'static-pod' : 'systemd';
}

function rows(f: NodeFacts): Row[] {
  const component = (name: string): Row[] => [
    { match: unitPath(name), units: [name] },
    { match: installTarget(name), units: [name] },
  ];
  return [
    { match: FILES.hosts, units: [] },
    { match: FILES.sysctl, units: ['systemd-sysctl'] },
    { match: FILES.modules, units: ['systemd-modules-load'] },
    { match: OS_PATHS[f.site.os.family].chronyConf, units: [CHRONY_SERVICE[f.site.os.family]] },
    { match: FILES.containerdConfig, units: ['containerd'] },
    { match: unitPath('containerd'), units: ['containerd'] },
    // containerd reads hosts.toml again at every pull; a restart makes the change certain.
    { match: { prefix: `${NODE.containerdCertsDir}/` }, units: ['containerd'] },
    { match: FILES.crictlConfig, units: [] },
    ...['etcd', APISERVER, CM, SCHEDULER, 'kubelet', 'kube-proxy'].flatMap(component),
    // Read by a member's first start only (etcd ignores them once its data directory holds the member):
    // a change of membership rewrites them on every member and restarts none, so no member is down while the cluster is one short.
    { match: FILES.etcdCluster, units: [] },
    { match: FILES.etcdJoin, units: [] },
    { match: FILES.kubeletKubeadmDropIn, units: ['kubelet'] },
    { match: FILES.kubeadmConfig, units: [] },
    { match: FILES.kubeletConfig, units: ['kubelet'] },
    { match: FILES.kubeProxyConfig, units: ['kube-proxy'] },
    { match: FILES.apiserverProxyConfig, units: ['kubeseed-apiserver-proxy'] },
    { match: unitPath('kubeseed-apiserver-proxy'), units: ['kubeseed-apiserver-proxy'] },
    { match: FILES.haproxyConfig, units: ['haproxy'] },
    { match: FILES.keepalivedConfig, units: ['keepalived'] },
    { match: FILES.bridgeConflist, units: [] },
    { match: unitPath('kubeseed-routes'), units: ['kubeseed-routes'] },
    // The cluster manifests are applied by first boot on the bootstrap node, and again by an update that changes them there.
    { match: { prefix: `${NODE.manifests}/` }, units: [CLUSTER_MANIFESTS] },
    { match: FILES.firstboot, units: [] },
    { match: FILES.firstbootUnit, units: [] },
    { match: FILES.status, units: [] },
    { match: FILES.reset, units: [] },
    // PKI: each certificate and key restarts the units that read it (the flags in render/flags.ts, the kubelet's config in render/configs.ts).
    // A CA's key signs only in the controller-manager (the cluster CA, for CSRs); the others' keys sit on kubeadm control planes for kubeadm.
    { match: pkiPath('ca.crt'), units: [APISERVER, CM, 'kubelet'] },
    { match: pkiPath('ca.key'), units: [CM] },
    { match: pkiPath('front-proxy-ca.crt'), units: [APISERVER, CM] },
    { match: pkiPath('front-proxy-ca.key'), units: [] },
    { match: pkiPath('etcd/ca.crt'), units: ['etcd', APISERVER] },
    { match: pkiPath('etcd/ca.key'), units: [] },
    ...pair(pkiPath('etcd/server'), ['etcd']),
    ...pair(pkiPath('etcd/peer'), ['etcd']),
    // Read by etcdctl for health checks only.
    ...pair(pkiPath('etcd/healthcheck-client'), []),
    // Under kubeadm the apiserver's serving certificate is renewed with every leaf (and when its names change):
    // kubeadm's own kubeconfigs are renewed then too, and the controllers that read them restart.
    ...pair(pkiPath('apiserver'), f.kubeadm ? [APISERVER, KUBEADM_KUBECONFIGS, CM, SCHEDULER] : [APISERVER]),
    ...['apiserver-kubelet-client', 'apiserver-etcd-client', 'front-proxy-client'].flatMap((n) => pair(pkiPath(n), [APISERVER])),
    { match: pkiPath('sa.key'), units: [APISERVER, CM] },
    { match: pkiPath('sa.pub'), units: [APISERVER] },
    ...pair(KUBELET_SERVING, ['kubelet']),
    { match: FILES.encryptionConfig, units: [APISERVER] },
    { match: FILES.auditPolicy, units: [APISERVER] },
    { match: KUBECONFIG.controllerManager, units: [CM] },
    { match: KUBECONFIG.scheduler, units: [SCHEDULER] },
    { match: KUBECONFIG.kubelet, units: ['kubelet'] },
    { match: KUBECONFIG.kubeletBootstrap, units: ['kubelet'] },
    { match: KUBECONFIG.kubeProxy, units: ['kube-proxy'] },
    // The bootstrap node's credential for applying the cluster manifests at first boot.
    { match: KUBECONFIG.bootstrapper, units: [] },
    { match: KUBECONFIG.kubeadmAdmin, units: [] },
    { match: FILES.release, units: [] },
    ...Object.entries(ARTIFACT_UNITS).map(([key, units]) => ({ match: artifactMarker(key), units })),
  ];
}

const matches = (m: Match, path: string) => (typeof m === 'string' ? m === path : path.startsWith(m.prefix));

/** The units this node runs that an update may restart. */
function nodeUnits(f: NodeFacts): Set<string> {
  return new Set([
    'systemd-modules-load',
    'systemd-sysctl',
    ...(f.ntp ? [CHRONY_SERVICE[f.site.os.family]] : []),
    'containerd',
    ...(f.kubeadm ? [KUBEADM_UPGRADE] : []),
    ...serviceOrder(f).ordered,
    ...staticPods(f),
    ...(f.kubeadm && f.cp ? [KUBEADM_KUBECONFIGS] : []),
    ...(f.bootstrap ? [CLUSTER_MANIFESTS] : []),
  ]);
}

const rowFor = (f: NodeFacts, path: string): Row | null => rows(f).find((r) => matches(r.match, path)) ?? null;

/** A file's units on this node (in restart order), or null when no row covers the path. */
export function unitsFor(f: NodeFacts, path: string): string[] | null {
  const row = rowFor(f, path);
  if (!row) return null;
  const present = nodeUnits(f);
  return RESTART_ORDER.filter((u) => row.units.includes(u) && present.has(u));
}

/** Whether a path is a systemd unit file (an update reloads systemd before restarting). */
export const isUnitFile = (path: string) => path.startsWith(`${NODE.units}/`);

/** The kubelet's default `healthzPort` (KubeletConfiguration; kubeseed's config leaves it at 127.0.0.1:10248). */
export const KUBELET_HEALTHZ_PORT = 10248;

export interface UnitRestartRow {
  unit: string;
  via: RestartVia;
  check: HealthCheck;
  /** The files whose change restarts the unit. */
  paths: string[];
}

/**
 * For each unit in restart order, the given files that restart it (a whole node's table for first
 * boot, or an update's), as shell patterns: a family of files (registry hosts, manifests) is its
 * directory and `*`, so no registry's name is written into a script (the egress lint reads them).
 */
export function restartRows(f: NodeFacts, paths: readonly string[]): UnitRestartRow[] {
  const byUnit = new Map<string, Set<string>>();
  for (const path of paths) {
    const row = rowFor(f, path);
    if (row === null) throw new Error(`internal: no restart rule for ${path} (generator/render/restarts.ts)`);
    const pattern = typeof row.match === 'string' ? path : `${row.match.prefix}*`;
    for (const u of unitsFor(f, path)!) byUnit.set(u, (byUnit.get(u) ?? new Set()).add(pattern));
  }
  return RESTART_ORDER.filter((u) => byUnit.has(u)).map((unit) => ({
    unit,
    via: restartVia(f, unit),
    check: healthCheck(unit),
    paths: [...byUnit.get(unit)!].sort(),
  }));
}

/** What the restart-units partial reads: the rows, and where the health checks find their tools and credentials. */
export function restartContext(
  f: NodeFacts,
  rows: UnitRestartRow[],
): { restarts: UnitRestartRow[]; restart: Record<string, string | number | string[] | null> } {
  return {
    restarts: rows,
    restart: {
      unitsDir: NODE.units,
      etcdctl: `${installTarget('etcd')}/etcdctl`,
      etcdCa: pkiPath('etcd/ca.crt'),
      etcdCert: pkiPath('etcd/healthcheck-client.crt'),
      etcdKey: pkiPath('etcd/healthcheck-client.key'),
      kubectl: installTarget('kubectl'),
      ctr: `${installTarget('containerd')}/ctr`,
      kubeadm: installTarget('kubeadm'),
      kubeadmRenewed: KUBEADM_RENEWED.join(' '),
      manifests: NODE.manifests,
      // The credential first boot applies the manifests with (render/firstboot.ts).
      adminKubeconfig: f.kubeadm ? KUBECONFIG.kubeadmAdmin : KUBECONFIG.bootstrapper,
      kubeconfig: KUBECONFIG.kubelet,
      apiserverUrl: `https://127.0.0.1:${f.site.controlPlane.apiserverPort}`,
      kubeletPort: KUBELET_HEALTHZ_PORT,
      kubeadmStep: KUBEADM_UPGRADE,
    },
  };
}

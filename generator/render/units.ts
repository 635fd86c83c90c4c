import { FILES, NODE } from '../model/layout.js';
import { apiserverFlags, controllerManagerFlags, etcdFlags, kubeletFlags, kubeProxyFlags, schedulerFlags, type Flags } from './flags.js';
import type { NodeFacts } from './facts.js';

export interface Unit {
  name: string;
  description: string;
  documentation: string;
  binary: string;
  flags: Flags;
  after?: string[];
  wants?: string[];
  notify?: boolean;
  preStart?: string[];
  /** systemd's EnvironmentFile: settings the binary reads from its environment. */
  environmentFile?: string;
  oomScoreAdjust?: number;
  /** For units that report ready: how long starting may take before systemd gives up and restarts. */
  timeoutStartSec?: string;
  /** CPU niceness; a unit with one also gets the first I/O priority of the best-effort class. */
  nice?: number;
}

const K8S_DOC = 'https://kubernetes.io/docs/reference/command-line-tools-reference/';

/**
 * The Kubernetes components this node runs as systemd units. kubeadm runs the control plane (and
 * stacked etcd) as static pods; kubeseed keeps etcd units for external etcd, and kube-proxy as a
 * host service in both modes.
 */
export function nodeUnits(f: Omit<NodeFacts, 'units'>): Unit[] {
  const { site, node } = f;
  const units: Unit[] = [];
  if (f.etcdUnit) {
    units.push({
      name: 'etcd',
      description: 'etcd key-value store',
      documentation: 'https://etcd.io/docs/',
      binary: `${NODE.bin}/etcd`,
      flags: etcdFlags(site, node),
      after: ['network-online.target'],
      wants: ['network-online.target'],
      notify: true,
      preStart: [`/bin/mkdir -p ${NODE.etcdData}`, `/bin/chmod 0700 ${NODE.etcdData}`, FILES.etcdJoin],
      environmentFile: FILES.etcdCluster,
      // A member reports ready only once a quorum has formed: waiting for its peers is normal while the site assembles.
      timeoutStartSec: 'infinity',
      // etcd 3.4 retries a linearizable read's ReadIndex every 500 ms and drops late answers, so a member that
      // waits behind the apiserver and kubelet for CPU can stall every quorum read (seen on three stacked
      // control planes under emulation). First claim on CPU and disk keeps its round trips short.
      nice: -10,
    });
  }
  if (f.cp && !f.kubeadm) {
    units.push({
      name: 'kube-apiserver',
      description: 'Kubernetes API server',
      documentation: `${K8S_DOC}kube-apiserver/`,
      binary: `${NODE.bin}/kube-apiserver`,
      flags: apiserverFlags(site, node),
      after: ['network-online.target', ...(f.etcd ? ['etcd.service'] : [])],
      wants: ['network-online.target'],
      notify: true,
      preStart: [`/bin/mkdir -p ${NODE.logDir}`],
      // Killing an apiserver that is still filling its caches from a busy etcd only starts that work over
      // (three control planes under emulation needed more than ten minutes).
      timeoutStartSec: 'infinity',
    });
    units.push({
      name: 'kube-controller-manager',
      description: 'Kubernetes controller manager',
      documentation: `${K8S_DOC}kube-controller-manager/`,
      binary: `${NODE.bin}/kube-controller-manager`,
      flags: controllerManagerFlags(site),
      after: ['kube-apiserver.service'],
    });
    units.push({
      name: 'kube-scheduler',
      description: 'Kubernetes scheduler',
      documentation: `${K8S_DOC}kube-scheduler/`,
      binary: `${NODE.bin}/kube-scheduler`,
      flags: schedulerFlags(site),
      after: ['kube-apiserver.service'],
    });
  }
  // Under kubeadm the kubelet takes its flags from kubeadm's drop-in; it restarts until kubeadm has written them.
  units.push({
    name: 'kubelet',
    description: 'Kubernetes node agent',
    documentation: `${K8S_DOC}kubelet/`,
    binary: `${NODE.bin}/kubelet`,
    flags: f.kubeadm ? [] : kubeletFlags(site, node),
    after: ['containerd.service', ...(f.local ? ['kubeseed-apiserver-proxy.service'] : [])],
    wants: ['containerd.service'],
    oomScoreAdjust: -999,
  });
  units.push({
    name: 'kube-proxy',
    description: 'Kubernetes service proxy',
    documentation: `${K8S_DOC}kube-proxy/`,
    binary: `${NODE.bin}/kube-proxy`,
    flags: kubeProxyFlags(),
    after: ['network-online.target'],
    wants: ['network-online.target'],
  });
  return units;
}

/** The template context of a component unit. */
export function unitContext(u: Unit): object {
  return {
    ...u,
    flags: u.flags.filter(([, v]) => v !== null),
    after: u.after ?? [],
    wants: u.wants ?? [],
    requires: [],
    preStart: u.preStart ?? [],
    environmentFile: u.environmentFile ?? '',
    notify: u.notify ?? false,
    oomScoreAdjust: u.oomScoreAdjust ?? 0,
    timeoutStartSec: u.timeoutStartSec ?? '',
    nice: u.nice ?? 0,
  };
}

/**
 * The node's services in start order. In binary mode the apiserver's clients start only once it
 * answers /readyz (a control plane asks its own apiserver, other nodes their way to the cluster):
 * a slow host that lets kubelets, proxies and controllers pile up connections while the apiserver
 * is still starting can make it miss its own start-up deadlines and exit, again and again.
 * kubeadm orders its own start-up.
 */
export function serviceOrder(f: NodeFacts): { ordered: string[]; services: string[]; afterApi: string[] } {
  const apiClients = new Set(f.kubeadm ? [] : ['kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy']);
  const ordered = [
    ...f.units.filter((u) => u.name !== 'kubelet' && u.name !== 'kube-proxy').map((u) => u.name),
    ...(f.local ? ['kubeseed-apiserver-proxy'] : []),
    ...(f.vip ? ['haproxy', 'keepalived'] : []),
    ...(f.routes ? ['kubeseed-routes'] : []),
    'kubelet',
    'kube-proxy',
  ];
  return { ordered, services: ordered.filter((name) => !apiClients.has(name)), afterApi: ordered.filter((name) => apiClients.has(name)) };
}

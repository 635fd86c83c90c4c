import type { ResolvedNode, ResolvedSite } from '../model/index.js';
import { nodeUnits, type Unit } from './units.js';

/** What decides which files a node gets: computed once per node, read by the file table's conditions and renderers. */
export interface NodeFacts {
  site: ResolvedSite;
  node: ResolvedNode;
  cp: boolean;
  etcd: boolean;
  /** The node that applies the cluster manifests. */
  bootstrap: boolean;
  kubeadm: boolean;
  /** kubeseed runs etcd as a unit here (binary mode, or kubeadm with external etcd). */
  etcdUnit: boolean;
  /** nginx on this node proxies 127.0.0.1 to every apiserver. */
  local: boolean;
  /** haproxy and keepalived hold the site's VIP on this control plane. */
  vip: boolean;
  bridge: boolean;
  /** Static routes to the other nodes' pod subnets (bridge): a lone node has none, and a unit without ExecStart is invalid. */
  routes: boolean;
  ntp: boolean;
  units: Unit[];
}

export function nodeFacts(site: ResolvedSite, node: ResolvedNode): NodeFacts {
  const cp = node.roles.includes('control-plane');
  const etcd = node.roles.includes('etcd');
  const bridge = site.network.plugin === 'bridge';
  const partial = {
    site,
    node,
    cp,
    etcd,
    bootstrap: node.name === site.derived.bootstrapNode,
    kubeadm: site.kubernetes.mode === 'kubeadm',
    etcdUnit: etcd && site.kubernetes.etcdTopology === 'external',
    local: site.controlPlane.loadBalancer === 'local',
    vip: site.controlPlane.loadBalancer === 'vip' && cp,
    bridge,
    routes: bridge && site.nodes.length > 1,
    ntp: site.os.ntpServers.length > 0,
  };
  return { ...partial, units: nodeUnits(partial) };
}

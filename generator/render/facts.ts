import type { ResolvedNode, ResolvedSite, RunningSite } from '../model/index.js';
import { nodeUnits, type Unit } from './units.js';

/**
 * How this node's etcd member starts the first time (etcd reads it only then): founding a cluster
 * (`new`, with every member of the site), or joining the running one (`existing`, with the members
 * it already has and itself; the join script adds it to their member list first).
 */
export interface EtcdCluster {
  state: 'new' | 'existing';
  /** `name=https://ip:2380,…` */
  initialCluster: string;
  /** The client URLs of the other members the join script asks (empty when founding). */
  endpoints: string[];
}

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
  /** Where the node runs an etcd member: how it starts. */
  etcdCluster: EtcdCluster | null;
  units: Unit[];
}

/**
 * A member founds the cluster when the site has no running etcd members yet, or when it was one of
 * the founders; a member added to a running site joins it (and keeps saying so, from the record's
 * `joined`: etcd ignores these settings once its data directory holds the member, and a node that
 * boots a later seed before it ever started must still join).
 */
export function etcdCluster(site: ResolvedSite, node: ResolvedNode, running: RunningSite | null): EtcdCluster | null {
  if (!node.roles.includes('etcd')) return null;
  const recorded = new Set((running?.nodes ?? []).filter((n) => n.etcd).map((n) => n.name));
  const members = site.nodes.filter((n) => n.roles.includes('etcd'));
  const was = running?.nodes.find((n) => n.name === node.name);
  const joins = recorded.size > 0 && (was ? was.joined : true);
  // A founder's list is inert once it has started; it follows the site, so the others learn of a new member at once.
  if (!joins) return { state: 'new', initialCluster: site.derived.etcdInitialCluster, endpoints: [] };
  const known = members.filter((n) => recorded.has(n.name) || n === node);
  return {
    state: 'existing',
    initialCluster: known.map((n) => `${n.name}=https://${n.ip}:2380`).join(','),
    endpoints: known.filter((n) => n !== node).map((n) => `https://${n.ip}:2379`),
  };
}

/** `running`: the site as last delivered (gen bundle's delivery record), or null for a new site. */
export function nodeFacts(site: ResolvedSite, node: ResolvedNode, running: RunningSite | null = null): NodeFacts {
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
    etcdCluster: etcdCluster(site, node, running),
  };
  return { ...partial, units: nodeUnits(partial) };
}

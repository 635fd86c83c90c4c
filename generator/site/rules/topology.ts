import type { Issue } from '../../model/index.js';
import { formatNetwork, isHostAddress, parseIPv4 } from '../ipv4.js';
import { nodeCidrs, rule, type Rule } from './rule.js';

/** Roles and their placement: control planes, etcd members, the VIP. */
export const TOPOLOGY_RULES: Rule[] = [
  rule({
    name: 'control-plane-present',
    summary: 'at least one node has the control-plane role',
    check: ({ site }, report) =>
      site.spec.nodes.some((n) => n.roles.includes('control-plane'))
        ? []
        : [report('spec.nodes', 'no node has the control-plane role', 'add control-plane to the roles of one node (or three, for HA)')],
  }),
  rule({
    name: 'etcd-present',
    summary: 'at least one node has the etcd role',
    check: ({ site }, report) =>
      site.spec.nodes.some((n) => n.roles.includes('etcd'))
        ? []
        : [report('spec.nodes', 'no node has the etcd role', 'add etcd to the roles of one or three nodes')],
  }),
  rule({
    name: 'etcd-count-odd',
    summary: 'an even number of etcd members is a warning: it tolerates no more failures than one member fewer',
    check: ({ site }, report) => {
      const n = site.spec.nodes.filter((x) => x.roles.includes('etcd')).length;
      return n > 0 && n % 2 === 0
        ? [report('spec.nodes', `${n} etcd members tolerate no more failures than ${n - 1}`, 'use an odd number of etcd nodes', 'warning')]
        : [];
    },
  }),
  rule({
    name: 'etcd-topology-valid',
    summary: 'stacked etcd is a kubeadm choice, and puts etcd exactly on the control planes',
    check: ({ site }, report) => {
      const k = site.spec.kubernetes;
      if (k.etcdTopology === 'stacked' && k.mode !== 'kubeadm') {
        return [
          report(
            'spec.kubernetes.etcdTopology',
            'stacked etcd needs mode: kubeadm',
            'binary mode runs etcd as units on the etcd nodes: leave etcdTopology out, or set external',
          ),
        ];
      }
      if ((k.etcdTopology ?? (k.mode === 'kubeadm' ? 'stacked' : 'external')) !== 'stacked') return [];
      const i = site.spec.nodes.findIndex((n) => n.roles.includes('etcd') !== n.roles.includes('control-plane'));
      return i < 0
        ? []
        : [
            report(
              `spec.nodes[${i}].roles`,
              `with stacked etcd every control plane runs etcd and nothing else does, but ${site.spec.nodes[i]!.name} has ${site.spec.nodes[i]!.roles.join(', ')}`,
              'give control planes the etcd role and other nodes none, or set kubernetes.etcdTopology: external',
            ),
          ];
    },
  }),
  rule({
    name: 'vip-valid',
    summary: 'loadBalancer vip needs a VIP inside the control-plane subnet that is no node address',
    check: ({ site }, report) => {
      const cp = site.spec.controlPlane;
      const p = 'spec.controlPlane.vip';
      if (cp.loadBalancer !== 'vip') {
        return cp.vip !== undefined
          ? [report(p, `vip is ignored when loadBalancer is ${cp.loadBalancer}`, 'set loadBalancer: vip or remove vip', 'warning')]
          : [];
      }
      if (cp.vip === undefined) return [report('spec.controlPlane', 'loadBalancer vip needs a vip', 'add vip: <a free address in the control-plane subnet>')];
      const out0: Issue[] = [];
      if (!site.spec.network.interface) {
        out0.push(
          report(
            'spec.network',
            'loadBalancer vip needs network.interface: keepalived holds the VIP on a named interface',
            'add interface: <the NIC name>; with a node mac, network-config gives the NIC that name',
          ),
        );
      }
      const ip = parseIPv4(cp.vip);
      if (ip === null) return [...out0, report(p, `${cp.vip} is not an IPv4 address`)];
      const cidrs = nodeCidrs(site);
      const out: Issue[] = [...out0];
      site.spec.nodes.forEach((n, i) => {
        const c = cidrs.get(i);
        if (!c) return;
        if (c.addr === ip) out.push(report(p, `vip ${cp.vip} is the address of node ${n.name}`, 'pick an unused address'));
        else if (n.roles.includes('control-plane') && !isHostAddress(c, ip)) {
          out.push(
            report(
              p,
              `vip ${cp.vip} is outside the subnet ${formatNetwork(c)} of control-plane node ${n.name}`,
              'keepalived can only hold an address of the local subnet',
            ),
          );
        }
      });
      return out;
    },
  }),
];

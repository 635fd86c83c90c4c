import type { Issue, RunningSite, Severity } from '../../model/index.js';
import type { WrittenSite } from '../schema.js';
import { nodePath, type Report } from './rule.js';

/**
 * Rules for a change to a running site: the blueprint against what the site state's delivery record
 * says the nodes got last (`gen validate` and `gen bundle` run them when the state has a record).
 * A change these refuse would break the running cluster, not the blueprint.
 */

export interface RunningRuleContext {
  site: WrittenSite;
  running: RunningSite;
}

export interface RunningRule {
  name: string;
  summary: string;
  check(ctx: RunningRuleContext): Issue[];
}

function runningRule(spec: { name: string; summary: string; check(ctx: RunningRuleContext, report: Report): Issue[] }): RunningRule {
  const report: Report = (path, message, hint, severity: Severity = 'error') => ({ rule: spec.name, severity, path, message, ...(hint ? { hint } : {}) });
  return { name: spec.name, summary: spec.summary, check: (ctx) => spec.check(ctx, report) };
}

const ipOf = (address: string) => address.split('/')[0]!;

/** The quorum of an etcd cluster of n members. */
export const quorum = (n: number) => Math.floor(n / 2) + 1;

/** The recorded etcd members and the blueprint's, by name: kept, added and removed. */
export function etcdChange(site: WrittenSite, running: RunningSite): { recorded: string[]; kept: string[]; added: string[]; removed: string[] } {
  const recorded = running.nodes.filter((n) => n.etcd).map((n) => n.name);
  const now = site.spec.nodes.filter((n) => n.roles.includes('etcd')).map((n) => n.name);
  return {
    recorded,
    kept: recorded.filter((n) => now.includes(n)),
    added: now.filter((n) => !recorded.includes(n)),
    removed: recorded.filter((n) => !now.includes(n)),
  };
}

const NETWORK_FIELDS = ['serviceCIDR', 'podCIDR', 'clusterDomain'] as const;
const NETWORK_WHY: Record<(typeof NETWORK_FIELDS)[number], string> = {
  serviceCIDR: 'every Service keeps its cluster IP from the old range, and the apiserver certificates name its first address',
  podCIDR: 'the nodes hold pod subnets carved from the old range and the network plugin routes them',
  clusterDomain: 'the kubelets, CoreDNS and every pod resolve names in the old domain',
};

export const RUNNING_RULES: readonly RunningRule[] = [
  runningRule({
    name: 'running-network-kept',
    summary: 'a running site keeps its serviceCIDR, podCIDR and clusterDomain',
    check: ({ site, running }, report) => {
      const was = running.network;
      if (!was) return [];
      return NETWORK_FIELDS.filter((f) => site.spec.kubernetes[f] !== was[f]).map((f) =>
        report(
          `spec.kubernetes.${f}`,
          `the running site has ${f} ${was[f]}; changing it to ${site.spec.kubernetes[f]} breaks the cluster (${NETWORK_WHY[f]})`,
          `keep ${f}: ${was[f]}; a new value means a new cluster: reset every node (kubeseed-reset) and install them again from a new state`,
        ),
      );
    },
  }),
  runningRule({
    name: 'running-node-kept',
    summary: 'a node of the running site keeps its address and its control-plane and etcd roles',
    check: ({ site, running }, report) => {
      const out: Issue[] = [];
      site.spec.nodes.forEach((n, i) => {
        const was = running.nodes.find((r) => r.name === n.name);
        if (!was) return;
        const hint = `take ${n.name} out (remove it from the blueprint, gen bundle, apply the updates, kubeseed-reset on it), then add it back under a new name`;
        if (was.ip !== null && ipOf(n.address) !== was.ip)
          out.push(
            report(
              nodePath(i, 'address'),
              `${n.name} runs at ${was.ip}; its certificates, etcd peer URL and the other nodes' configuration name that address`,
              hint,
            ),
          );
        for (const role of ['control-plane', 'etcd'] as const) {
          const had = was.roles ? was.roles.includes(role) : role === 'etcd' ? was.etcd : n.roles.includes(role);
          if (had !== n.roles.includes(role))
            out.push(
              report(
                nodePath(i, 'roles'),
                `${n.name} ${had ? 'runs' : 'does not run'} ${role === 'etcd' ? 'an etcd member' : 'a control plane'}; an update cannot ${had ? 'take it away' : 'add it'} on a running node`,
                hint,
              ),
            );
        }
      });
      return out;
    },
  }),
  runningRule({
    name: 'etcd-quorum-kept',
    summary: 'a change keeps at least a quorum of the recorded etcd members',
    check: ({ site, running }, report) => {
      const c = etcdChange(site, running);
      if (!c.removed.length || c.kept.length >= quorum(c.recorded.length)) return [];
      return [
        report(
          'spec.nodes',
          `removing etcd member(s) ${c.removed.join(', ')} leaves ${c.kept.length} of the ${c.recorded.length} recorded (${c.recorded.join(', ')}), fewer than their quorum of ${quorum(c.recorded.length)}: etcd would stop accepting writes`,
          c.recorded.length > 2
            ? 'remove one member per change: gen bundle, apply its updates, then the next'
            : 'add a member first (gen bundle, apply, boot it), then remove the old one',
        ),
      ];
    },
  }),
  runningRule({
    name: 'etcd-one-change-at-a-time',
    summary: 'a change adds at most one etcd member, and never adds and removes members together',
    check: ({ site, running }, report) => {
      const c = etcdChange(site, running);
      const at = (name: string) => {
        const i = site.spec.nodes.findIndex((n) => n.name === name);
        return i < 0 ? 'spec.nodes' : nodePath(i, 'roles');
      };
      if (c.added.length > 1)
        return [
          report(
            at(c.added[1]!),
            `adds ${c.added.length} etcd members at once (${c.added.join(', ')}): each joins with the member list as it is when it starts, so a second one would find it changed`,
            `add ${c.added[0]} first (gen bundle, apply the updates, boot it), then the next`,
          ),
        ];
      if (c.added.length && c.removed.length)
        return [
          report(
            at(c.added[0]!),
            `adds etcd member ${c.added[0]} and removes ${c.removed.join(', ')} in one change: the new member joins with the member list as it is when it starts, which then depends on whether the removal ran first`,
            `remove first (gen bundle, apply the updates), then add ${c.added[0]} in a second change`,
          ),
        ];
      return [];
    },
  }),
  runningRule({
    name: 'take-out-possible',
    summary: "removed nodes are taken out by the first control plane's update: it must be running already, and run etcd where an etcd member goes",
    check: ({ site, running }, report) => {
      const removed = running.nodes.filter((r) => !site.spec.nodes.some((n) => n.name === r.name));
      if (!removed.length) return [];
      const i = site.spec.nodes.findIndex((n) => n.roles.includes('control-plane'));
      if (i < 0) return [];
      const remover = site.spec.nodes[i]!;
      const names = removed.map((r) => r.name).join(', ');
      if (!running.nodes.some((r) => r.name === remover.name))
        return [
          report(
            nodePath(i, 'name'),
            `${names} would be taken out by ${remover.name}, the first control plane, which is not running yet`,
            'list a running control plane first among the nodes, or add the new one in a later change',
          ),
        ];
      if (!removed.some((r) => r.etcd)) return [];
      const k = site.spec.kubernetes;
      if (k.mode === 'kubeadm' && (k.etcdTopology ?? 'stacked') === 'stacked')
        return [
          report(
            'spec.nodes',
            `${names} ran a stacked etcd member that kubeadm manages; kubeseed removes members only where it runs etcd as a unit`,
            'on the node, run kubeadm reset (it removes its own etcd member), then remove it from the blueprint',
          ),
        ];
      if (!remover.roles.includes('etcd'))
        return [
          report(
            nodePath(i, 'roles'),
            `${remover.name}, the first control plane, takes ${names} out but runs no etcd member (no etcdctl, no etcd client certificate)`,
            'list a control plane that runs etcd first among the nodes',
          ),
        ];
      return [];
    },
  }),
];

/** Every rule for a running site; the result lists all problems. */
export function checkRunningRules(ctx: RunningRuleContext): Issue[] {
  return RUNNING_RULES.flatMap((r) => r.check(ctx));
}

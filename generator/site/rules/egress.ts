import { PUBLIC_HOST_PATTERN } from '../../model/index.js';
import type { WrittenSite } from '../schema.js';
import { rule, type Rule } from './rule.js';

/**
 * Blueprint fields whose text reaches a node's files as something the node acts on: time servers,
 * registries it pulls from, the cluster's DNS domain, the interface CNI binds to, the options of an
 * authorized key (a forced command). A key's comment is only a label and is left out.
 */
function fieldsReachingNodes(site: WrittenSite): { path: string; text: string }[] {
  const s = site.spec;
  return [
    ...s.os.ntpServers.map((text, i) => ({ path: `spec.os.ntpServers[${i}]`, text })),
    ...Object.entries(s.containerRuntime.registryMirrors).flatMap(([host, urls]) =>
      urls.map((text, i) => ({ path: `spec.containerRuntime.registryMirrors.${host}[${i}]`, text })),
    ),
    { path: 'spec.kubernetes.clusterDomain', text: s.kubernetes.clusterDomain },
    ...(s.network.interface ? [{ path: 'spec.network.interface', text: s.network.interface }] : []),
    ...s.os.sshAuthorizedKeys.map((key, i) => ({ path: `spec.os.sshAuthorizedKeys[${i}]`, text: keyOptions(key) })),
  ];
}

/** The options field of an authorized_keys line (empty when it starts with the key type). */
function keyOptions(key: string): string {
  const m = /^(.*?)\s*(?:ssh-|ecdsa-|sk-)[a-z0-9@.-]+\s+[A-Za-z0-9+/]+={0,2}(?:\s|$)/.exec(key.trim());
  return m ? m[1]! : '';
}

/**
 * The egress lint of `gen bundle` (every rendered file checked for public hosts) as a blueprint
 * rule: the field that would send a node outside the site is named before any state is written.
 */
export const EGRESS_RULES: Rule[] = [
  rule({
    name: 'egress-inside-site',
    summary: 'nothing a node is told to reach (time servers, registries, cluster domain, forced commands) is a public internet host',
    check: ({ site }, report) =>
      fieldsReachingNodes(site).flatMap(({ path, text }) => {
        const hosts = [...new Set([...text.toLowerCase().matchAll(PUBLIC_HOST_PATTERN)].map((m) => m[0]))];
        return hosts.length
          ? [
              report(
                path,
                `${hosts.join(', ')} is on the public internet, which the nodes of an air-gapped site cannot reach`,
                'name a host inside the site (a local time server, an on-site registry mirror)',
              ),
            ]
          : [];
      }),
  }),
];

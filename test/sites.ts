import { stringify } from 'yaml';
import type { Catalog, Issue, KeyAlgorithm, ResolvedSite } from '../generator/model/index.js';
import { checkSite, parseSite, resolveSite, type WrittenNode, type WrittenSite } from '../generator/site/index.js';
import { readRepo, TODAY } from './helpers.js';

/** A change to a written site; variants of lab1 are built from these, never by editing its text. */
export type SiteEdit = (site: WrittenSite) => void;

/** lab1 as written, defaults filled: a fresh copy on each call. */
export function lab1(): WrittenSite {
  const p = parseSite(readRepo('blueprints/sites/lab1.yaml'), 'lab1.yaml');
  if (!p.site) throw new Error(`lab1 does not parse: ${JSON.stringify(p.issues, null, 2)}`);
  return structuredClone(p.site);
}

/** A node by name; throws when there is none, so an edit that no longer applies fails loudly. */
export function nodeNamed(site: WrittenSite, name: string): WrittenNode {
  const n = site.spec.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`the site has no node ${name} (nodes: ${site.spec.nodes.map((x) => x.name).join(', ')})`);
  return n;
}

/**
 * lab1 with `edits` applied, then written out and read back through the real parser, rules and
 * resolution (so an edit the schema rejects fails here, with the issues).
 */
export function siteFromLab1(catalog: Catalog, ...edits: SiteEdit[]): ResolvedSite {
  return resolveLab1(catalog, edits, () => false);
}

/**
 * The same for tests that run real servers with the nodes on 127.0.0.0/8 (test traffic stays on
 * loopback), which no real site may do: that one rule is waived for them, nothing else.
 */
export function loopbackSiteFromLab1(catalog: Catalog, ...edits: SiteEdit[]): ResolvedSite {
  return resolveLab1(catalog, edits, (i) => i.rule === 'node-address-valid' && i.message.includes('loopback'));
}

function resolveLab1(catalog: Catalog, edits: SiteEdit[], waived: (i: Issue) => boolean): ResolvedSite {
  const site = lab1();
  for (const edit of edits) edit(site);
  const parsed = parseSite(stringify(site), 'lab1.yaml');
  const r = checkSite(parsed, catalog, TODAY);
  if (r.resolved) return r.resolved;
  if (!parsed.site || r.issues.some((i) => i.severity === 'error' && !waived(i))) throw new Error(JSON.stringify(r.issues, null, 2));
  return resolveSite(parsed.site, catalog, 'lab1.yaml');
}

export const keyAlgorithm =
  (alg: KeyAlgorithm): SiteEdit =>
  (s) => {
    s.spec.pki.keyAlgorithm = alg;
  };

/** ECDSA keys: the PKI is made in milliseconds instead of seconds. */
export const ecdsa: SiteEdit = keyAlgorithm('ecdsa-p256');

/** lab1's third node as a plain worker (no control plane, no etcd). */
export const k8s03Worker: SiteEdit = (s) => {
  nodeNamed(s, 'k8s-03').roles = ['worker'];
};

export const kubeadmMode: SiteEdit = (s) => {
  s.spec.kubernetes.mode = 'kubeadm';
};

export const relaxedTiming: SiteEdit = (s) => {
  s.spec.controlPlane.timing = 'relaxed';
};

/** lab1 on the version the e2e boots: Kubernetes 1.20.2, bridge networking, cgroup v1, no add-on images. */
export const on120: SiteEdit = (s) => {
  s.spec.kubernetes.version = 'v1.20.2';
  s.spec.network.plugin = 'bridge';
  s.spec.addons = [];
  s.spec.os.cgroupVersion = 1;
};

/** A node of lab1's network as the blueprint's YAML lists it (address 192.168.93.<octet>), to append to `spec.nodes`. */
export function lab1NodeYaml(name: string, octet: number, roles: string[]): string {
  return [
    `    - name: ${name}`,
    `      address: 192.168.93.${octet}/24`,
    '      gateway: 192.168.93.1',
    '      dns: [192.168.93.1]',
    `      mac: "52:54:00:93:00:${octet}"`,
    `      roles: [${roles.join(', ')}]`,
    '',
  ].join('\n');
}

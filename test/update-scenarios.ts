import { join } from 'node:path';
import { realCrypto } from '../generator/io/crypto.js';
import { FILES } from '../generator/model/layout.js';
import { readTemplates } from '../generator/io/templates.js';
import type { BundlePlan, Catalog, ResolvedSite, RunningSite } from '../generator/model/index.js';
import { ensurePki, type StateFiles } from '../generator/pki/issue.js';
import { buildPlan } from '../generator/plan/index.js';
import { nodeFacts, renderNode } from '../generator/render/index.js';
import { createEngine } from '../generator/text/template.js';
import { computeUpdates, describeUpdate, nodeArtifacts, sha256, type RenderedNodeFiles, type SiteUpdate } from '../generator/update/compute.js';
import { runningSite } from '../generator/update/record.js';
import { renderLab1 } from './goldens.js';
import { repoRoot, testClock } from './helpers.js';
import { kubeadmMode, siteFromLab1, type SiteEdit } from './sites.js';

/**
 * The kinds of change an update bundle carries, each computed against the record of lab1 as the
 * committed test state renders it: what the golden files under test/golden/updates hold.
 */

/** Every node of `site` rendered with `state`, the plan optionally changed. */
export async function renderedNodes(
  site: ResolvedSite,
  catalog: Catalog,
  state: StateFiles,
  planEdit: (p: BundlePlan) => BundlePlan = (p) => p,
  running: RunningSite | null = null,
): Promise<RenderedNodeFiles[]> {
  const engine = createEngine(await readTemplates(join(repoRoot, 'blueprints', 'templates')));
  const plan = planEdit(buildPlan(site, catalog));
  return site.nodes.map((node) => ({ facts: nodeFacts(site, node, running), files: renderNode({ site, node, plan, state, engine, running }) }));
}

/**
 * The nodes with the payload's downloads as well: each file's sha256 stands in as the hash of its
 * name (a new version is a new name, so a new hash; an unchanged component keeps both), the image
 * archive's as the hash of the image references it holds.
 */
export async function renderedWithPayload(site: ResolvedSite, catalog: Catalog, state: StateFiles): Promise<RenderedNodeFiles[]> {
  const plan = buildPlan(site, catalog);
  // The image archive keeps its name across releases: its stand-in hash is that of the images it holds.
  const images = sha256(plan.images.map((i) => i.ref).join('\n'));
  const sum = (file: string) => (file.startsWith('images-') ? images : sha256(file));
  return (await renderedNodes(site, catalog, state)).map((n) => ({ ...n, artifacts: nodeArtifacts(plan, n.facts.node, sum) }));
}

/** The release lab1 is upgraded from in the upgrade scenarios: the previous minor in the catalog. */
export const UPGRADE_FROM = 'v1.36.4';
export const olderRelease: SiteEdit = (s) => {
  s.spec.kubernetes.version = UPGRADE_FROM;
};

/** A fourth stacked control plane and etcd member. */
export const addK8s04: SiteEdit = (s) => {
  const n = structuredClone(s.spec.nodes[2]!);
  s.spec.nodes.push({ ...n, name: 'k8s-04', address: '192.168.93.48/24', mac: '52:54:00:93:00:48' });
};

/** k8s-03 (control plane and etcd member) leaves the site. */
export const dropK8s03: SiteEdit = (s) => {
  s.spec.nodes = s.spec.nodes.filter((n) => n.name !== 'k8s-03');
};

/** A newer sandbox image in the catalog: containerd's config names it. */
export const newPause = (p: BundlePlan): BundlePlan => ({
  ...p,
  images: p.images.map((i) => (i.name === 'pause' ? { ...i, ref: i.ref.replace(/:[^:]+$/, ':3.99') } : i)),
});

export interface Scenario {
  name: string;
  update: SiteUpdate;
  /** The nodes as the scenario renders them, and the state it renders them with. */
  nodes: RenderedNodeFiles[];
  state: StateFiles;
  /** The site the scenario renders, where it is not lab1 itself. */
  site?: ResolvedSite;
}

export async function updateScenarios(): Promise<Scenario[]> {
  const lab1 = await renderLab1();
  const names = lab1.site.nodes.map((n) => n.name);
  const base = await renderedNodes(lab1.site, lab1.catalog, lab1.state);
  const first = computeUpdates(null, base, names);
  const ports = { crypto: realCrypto, clock: testClock };
  const renewed = await ensurePki(lab1.site, lab1.state, ports, { renew: true });
  const four = siteFromLab1(lab1.catalog, addK8s04);
  const grown = await ensurePki(four, lab1.state, ports);
  const renewedNodes = await renderedNodes(lab1.site, lab1.catalog, renewed.files);
  const pauseNodes = await renderedNodes(lab1.site, lab1.catalog, lab1.state, newPause);
  const grownNodes = await renderedNodes(four, lab1.catalog, grown.files, undefined, runningSite(first.record));
  const joined = computeUpdates(
    first.record,
    grownNodes,
    four.nodes.map((n) => n.name),
  );
  const afterJoinNodes = await renderedNodes(four, lab1.catalog, grown.files, undefined, runningSite(joined.record));
  const two = siteFromLab1(lab1.catalog, dropK8s03);
  const shrunk = await ensurePki(two, lab1.state, ports);
  const shrunkNodes = await renderedNodes(two, lab1.catalog, shrunk.files, undefined, runningSite(first.record));
  // kubeadm's control plane runs as static pods and keeps kubeconfigs of its own: a renewal restarts the pods and renews those.
  const kubeadm = siteFromLab1(lab1.catalog, kubeadmMode);
  const kubeadmState = await ensurePki(kubeadm, lab1.state, ports);
  const kubeadmRenewed = await ensurePki(kubeadm, kubeadmState.files, ports, { renew: true });
  const kubeadmBase = await renderedNodes(kubeadm, lab1.catalog, kubeadmState.files);
  const kubeadmRenewedNodes = await renderedNodes(kubeadm, lab1.catalog, kubeadmRenewed.files);
  // Upgrades: lab1 bundled at the previous minor with its payload, then at its own release.
  const upgrade = async (...edits: SiteEdit[]) => {
    const old = siteFromLab1(lab1.catalog, olderRelease, ...edits);
    const now = siteFromLab1(lab1.catalog, ...edits);
    const oldNodes = await renderedWithPayload(old, lab1.catalog, lab1.state);
    const newNodes = await renderedWithPayload(now, lab1.catalog, lab1.state);
    const before = computeUpdates(null, oldNodes, names);
    return { update: computeUpdates(before.record, newNodes, names), nodes: newNodes, site: now };
  };
  const up = await upgrade();
  const upKubeadm = await upgrade(kubeadmMode);
  return [
    { name: 'first-bundle', update: first, nodes: base, state: lab1.state },
    { name: 'nothing-changed', update: computeUpdates(first.record, base, names), nodes: base, state: lab1.state },
    { name: 'leaf-renewal', update: computeUpdates(first.record, renewedNodes, names), nodes: renewedNodes, state: renewed.files },
    { name: 'containerd-config', update: computeUpdates(first.record, pauseNodes, names), nodes: pauseNodes, state: lab1.state },
    { name: 'new-etcd-member', update: joined, nodes: grownNodes, state: grown.files },
    {
      name: 'after-join',
      update: computeUpdates(
        joined.record,
        afterJoinNodes,
        four.nodes.map((n) => n.name),
      ),
      nodes: afterJoinNodes,
      state: grown.files,
    },
    {
      name: 'etcd-member-removed',
      update: computeUpdates(
        first.record,
        shrunkNodes,
        two.nodes.map((n) => n.name),
      ),
      nodes: shrunkNodes,
      state: shrunk.files,
    },
    {
      name: 'kubeadm-leaf-renewal',
      update: computeUpdates(computeUpdates(null, kubeadmBase, names).record, kubeadmRenewedNodes, names),
      nodes: kubeadmRenewedNodes,
      state: kubeadmRenewed.files,
    },
    { name: 'upgrade', update: up.update, nodes: up.nodes, state: lab1.state, site: up.site },
    { name: 'upgrade-kubeadm', update: upKubeadm.update, nodes: upKubeadm.nodes, state: lab1.state, site: upKubeadm.site },
  ];
}

/** A scenario as the golden file holds it; a node joining a running site's etcd shows how its member starts. */
export function describeScenario(s: Scenario): string {
  const u = s.update;
  const joining =
    u.revision > 1 ? u.recorded.flatMap((name) => s.nodes.find((n) => n.facts.node.name === name)!.files.filter((f) => f.path === FILES.etcdCluster)) : [];
  const head = [
    `# ${s.name}: site revision ${u.revision}`,
    ...(u.recorded.length ? [`recorded (install from their seed): ${u.recorded.join(', ')}`] : []),
    ...joining.map((f) => `${f.path} of the new member:\n${f.content.trimEnd().replace(/^/gm, '  ')}`),
    ...(u.dropped.length ? [`dropped: ${u.dropped.join(', ')}`] : []),
    ...(u.updates.length ? [] : ['no node update']),
  ];
  return [`${head.join('\n')}\n`, ...u.updates.map(describeUpdate)].join('');
}

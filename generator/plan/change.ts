import type { BundlePlan, Catalog, CatalogRelease } from '../model/index.js';
import { RESTART_ORDER } from '../render/restarts.js';
import type { NodeUpdate } from '../update/compute.js';

/**
 * `gen plan --from`: what a bundle of the site as written now would change against an earlier one,
 * known from its lock (what was downloaded) or its dist manifest.json (what was bundled), and
 * per node from the site state's delivery record. Pure: the CLI reads the files.
 */

/** What an earlier bundle or fetch says about itself. */
export interface EarlierBundle {
  kind: 'lock' | 'manifest';
  file: string;
  site: string;
  /** The manifest's spec.kubernetes.version; from a lock, the version of its Kubernetes binaries (null if it has none). */
  kubernetes: string | null;
  mode: string | null;
  /** The manifest's site revision; a lock has none. */
  revision: number | null;
  /** Version by catalog key (kubernetes, etcd, containerd, ...). */
  versions: Record<string, string>;
  images: string[];
  /** The lock's artifact ids (component@version/arch); a manifest lists none. */
  artifacts: string[] | null;
}

export interface VersionChange {
  component: string;
  from: string | null;
  to: string | null;
}

export interface UnitRestartWhy {
  unit: string;
  /** The changed files and binaries that restart it. */
  because: string[];
}

export interface NodeChange {
  node: string;
  /** Not in the state's record yet: it installs everything from its seed. */
  new: boolean;
  added: string[];
  changed: string[];
  removed: string[];
  /** In restart order. */
  restarts: UnitRestartWhy[];
}

export interface PlanChange {
  site: string;
  from: { kind: EarlierBundle['kind']; file: string; kubernetes: string | null; mode: string | null; revision: number | null };
  to: { kubernetes: string; mode: string };
  versions: VersionChange[];
  images: { added: string[]; removed: string[] };
  /** From a lock only. */
  artifacts: { added: string[]; removed: string[] } | null;
  /** Null when the state cannot say (see `nodesNote`). */
  nodes: NodeChange[] | null;
  nodesNote: string | null;
}

/**
 * The units a new binary restarts (binary mode installs them from the payload). A binary read
 * afresh at every use restarts nothing: kubectl, kubeadm, crictl, runc (each container start) and
 * the CNI plugins (each pod start).
 */
export const BINARY_RESTARTS: Readonly<Record<string, readonly string[]>> = {
  'kube-apiserver': ['kube-apiserver'],
  'kube-controller-manager': ['kube-controller-manager'],
  'kube-scheduler': ['kube-scheduler'],
  kubelet: ['kubelet'],
  'kube-proxy': ['kube-proxy'],
  etcd: ['etcd'],
  containerd: ['containerd'],
  'containerd-static': ['containerd'],
};

const ARTIFACT_ID = /^(.+)@([^/]+)\/(.+)$/;

/** Version by catalog key of a list of artifact ids, through the catalog's components (a component it no longer knows stands for itself). */
export function versionsOfArtifacts(ids: readonly string[], catalog: Catalog): Record<string, string> {
  const out: Record<string, string> = {};
  for (const id of ids) {
    const m = ARTIFACT_ID.exec(id);
    if (!m) continue;
    const key = catalog.components.find((c) => c.name === m[1])?.versionOf ?? m[1]!;
    out[key] = m[2]!;
  }
  return out;
}

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

function diffVersions(a: Record<string, string>, b: Record<string, string>): VersionChange[] {
  return sorted([...Object.keys(a), ...Object.keys(b)])
    .filter((k) => a[k] !== b[k])
    .map((component) => ({ component, from: a[component] ?? null, to: b[component] ?? null }));
}

/**
 * The change from `earlier` to the site's plan now. `updates` are the node updates a bundle would
 * make (computeUpdates against the state's record), or null with the reason in `nodesNote`.
 */
export function planChange(
  earlier: EarlierBundle,
  plan: BundlePlan,
  release: CatalogRelease,
  catalog: Catalog,
  nodes: { updates: NodeUpdate[]; recorded: string[]; nodeNames: string[] } | { note: string },
): PlanChange {
  const planIds = plan.artifacts.map((a) => a.id);
  // A lock knows only what was downloaded: both sides from artifacts. A manifest names the release's versions.
  const now = earlier.kind === 'lock' ? versionsOfArtifacts(planIds, catalog) : release.versions;
  const versions = diffVersions(earlier.versions, now);
  const newRefs = plan.images.map((i) => i.ref);
  const changedKeys = new Set(versions.map((v) => v.component));
  // Binaries whose version changed, and the nodes that get them.
  const binaries = plan.artifacts.filter((a) => {
    const key = catalog.components.find((c) => c.name === a.component)?.versionOf ?? a.component;
    return changedKeys.has(key);
  });
  let nodeChanges: NodeChange[] | null = null;
  if ('updates' in nodes) {
    nodeChanges = nodes.nodeNames.map((node) => {
      const u = nodes.updates.find((x) => x.node === node);
      const because = new Map<string, Set<string>>();
      const add = (unit: string, why: string) => because.set(unit, (because.get(unit) ?? new Set()).add(why));
      for (const r of u?.restarts ?? []) for (const p of r.paths) add(r.unit, p);
      const isNew = nodes.recorded.includes(node);
      for (const a of binaries.filter((x) => !isNew && x.nodes.includes(node)))
        for (const unit of BINARY_RESTARTS[a.component] ?? []) add(unit, `${a.component} ${a.version}`);
      const order = (unit: string) => (RESTART_ORDER.includes(unit) ? RESTART_ORDER.indexOf(unit) : RESTART_ORDER.length);
      return {
        node,
        new: isNew,
        added: sorted((u?.added ?? []).map((f) => f.path)),
        changed: sorted((u?.changed ?? []).map((f) => f.path)),
        removed: sorted(u?.removed ?? []),
        restarts: [...because.keys()].sort((x, y) => order(x) - order(y) || x.localeCompare(y)).map((unit) => ({ unit, because: sorted(because.get(unit)!) })),
      };
    });
  }
  return {
    site: plan.site,
    from: { kind: earlier.kind, file: earlier.file, kubernetes: earlier.kubernetes, mode: earlier.mode, revision: earlier.revision },
    to: { kubernetes: plan.kubernetesVersion, mode: plan.mode },
    versions,
    images: { added: newRefs.filter((r) => !earlier.images.includes(r)).sort(), removed: earlier.images.filter((r) => !newRefs.includes(r)).sort() },
    artifacts: earlier.artifacts
      ? { added: planIds.filter((id) => !earlier.artifacts!.includes(id)).sort(), removed: earlier.artifacts.filter((id) => !planIds.includes(id)).sort() }
      : null,
    nodes: nodeChanges,
    nodesNote: 'note' in nodes ? nodes.note : null,
  };
}

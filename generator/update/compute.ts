import { createHash } from 'node:crypto';
import type { BundlePlan, RenderedFile } from '../model/index.js';
import type { NodeFacts } from '../render/facts.js';
import { artifactMarker, IMAGES_KEY, isUnitFile, restartRows, type RestartVia, type UnitRestartRow } from '../render/restarts.js';
import { FILES, imageArchiveName, payloadName } from '../model/layout.js';
import { runningSite, type DeliveredArtifact, type DeliveredFile, type DeliveryRecord, type DepartedNode, type NodeRecord, type SiteRecord } from './record.js';

/**
 * The update computation: from what each node got last (the delivery record) and what it gets now
 * (its rendered files), the files added, changed and removed, and the units to restart in order.
 * Pure: no disk, no clock; the same record and files give the same updates.
 */

export interface UpdateFile {
  path: string;
  mode: string;
  content: string;
  sha256: string;
}

/**
 * A download of the payload a node installs (a component's binary or archive, or the image
 * archive as `images`): what an upgrade carries when its content changed.
 */
export interface NodeArtifact {
  key: string;
  /** Its name in the payload. */
  file: string;
  sha256: string;
}

/** A unit to restart, with the changed or removed files that make it restart. */
export type UnitRestart = UnitRestartRow;

export interface NodeUpdate {
  node: string;
  /** The revision the node must have (the one its files were recorded at). */
  base: number;
  /** The site revision this update brings the node to. */
  revision: number;
  added: UpdateFile[];
  changed: UpdateFile[];
  removed: string[];
  /** The payload's downloads whose content changed (an upgrade), by key. */
  artifacts: NodeArtifact[];
  /** In restart order (RESTART_ORDER); each unit once. */
  restarts: UnitRestart[];
  /** A unit file changed or went: systemd must reload before the restarts. */
  daemonReload: boolean;
  /** Nodes the site no longer has that this node's update takes out of the cluster (drain, delete the Node, remove the etcd member). */
  departures: Departure[];
}

export interface Departure extends DepartedNode {
  name: string;
  /** The client URLs of the etcd members that stay (where etcdctl asks), when the node was one. */
  etcdEndpoints: string[];
}

export interface SiteUpdate {
  /** The site revision after this bundle: unchanged when no node's files changed, 1 for the first record. */
  revision: number;
  /** The record to keep for the next bundle. */
  record: DeliveryRecord;
  /** The latest update of each rendered node that has had one (see computeUpdates). */
  updates: NodeUpdate[];
  /** Nodes seen for the first time (recorded; they install from their seed). */
  recorded: string[];
  /** Nodes recorded before that the site no longer has (their record is dropped). */
  dropped: string[];
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The payload's downloads a node installs, with the sha256 the payload's files have (by name). */
export function nodeArtifacts(plan: BundlePlan, node: { name: string; arch: string }, sha256Of: (file: string) => string): NodeArtifact[] {
  const out = plan.artifacts
    .filter((a) => a.nodes.includes(node.name))
    .map((a) => ({ key: a.component, file: payloadName(a), sha256: sha256Of(payloadName(a)) }));
  if (plan.images.some((i) => i.nodes.includes(node.name))) {
    const file = imageArchiveName(node.arch);
    out.push({ key: IMAGES_KEY, file, sha256: sha256Of(file) });
  }
  return out;
}

/** A node as this bundle renders it. */
export interface RenderedNodeFiles {
  facts: NodeFacts;
  files: RenderedFile[];
  /** The payload's downloads the node installs; absent when the bundle has no payload at hand (they are then kept as recorded). */
  artifacts?: NodeArtifact[];
}

/** The node's record after this bundle: unchanged when its files are, else every file stamped with the revision its content (and path) first came. */
function nextRecord(
  files: RenderedFile[],
  artifacts: NodeArtifact[] | undefined,
  previous: NodeRecord | undefined,
  revision: number,
): { record: NodeRecord; same: boolean } {
  const out: Record<string, DeliveredFile> = {};
  let same = Boolean(previous);
  for (const f of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
    const hash = sha256(f.content);
    const before = previous?.files[f.path];
    const kept = before && before.sha256 === hash && before.mode === f.mode;
    if (!kept) same = false;
    out[f.path] = { sha256: hash, mode: f.mode, since: kept ? before.since : revision, added: before ? before.added : revision };
  }
  const removed: Record<string, number> = {};
  for (const [p, r] of Object.entries(previous?.removed ?? {})) if (!(p in out)) removed[p] = r;
  for (const p of Object.keys(previous?.files ?? {})) {
    if (!(p in out)) {
      removed[p] = revision;
      same = false;
    }
  }
  const arts = nextArtifacts(artifacts, previous, out, revision);
  if (arts.changed) same = false;
  if (same) return { record: arts.record ? { ...previous!, artifacts: arts.record } : previous!, same };
  const sorted = Object.fromEntries(Object.entries(removed).sort(([a], [b]) => a.localeCompare(b)));
  return {
    record: { revision, base: previous ? previous.revision : null, files: out, removed: sorted, ...(arts.record ? { artifacts: arts.record } : {}) },
    same,
  };
}

/**
 * The node's artifacts after this bundle, each stamped with the revision its content first came.
 * Without a payload at hand they stay as recorded. A record from before upgrades existed has none:
 * the node runs what the release it was bundled with names, so they count as delivered then,
 * unless this bundle changes the release itself (the node's release file), when all are new.
 */
function nextArtifacts(
  artifacts: NodeArtifact[] | undefined,
  previous: NodeRecord | undefined,
  files: Record<string, DeliveredFile>,
  revision: number,
): { record: Record<string, DeliveredArtifact> | undefined; changed: boolean } {
  if (!artifacts) return { record: previous?.artifacts, changed: false };
  const releaseChanged = previous !== undefined && files[FILES.release]?.sha256 !== previous.files[FILES.release]?.sha256;
  const adopted = previous && !previous.artifacts && !releaseChanged ? previous.revision : null;
  const record: Record<string, DeliveredArtifact> = {};
  let changed = false;
  for (const a of [...artifacts].sort((x, y) => x.key.localeCompare(y.key))) {
    const before = previous?.artifacts?.[a.key];
    const kept = before && before.sha256 === a.sha256;
    const since = kept ? before.since : (adopted ?? revision);
    if (!kept && adopted === null && previous) changed = true;
    record[a.key] = { file: a.file, sha256: a.sha256, since };
  }
  return { record, changed };
}

/**
 * What a node at revision `from` needs to reach its recorded revision: the files whose content
 * came after `from` (added when the path itself did), the paths taken away after it, and the units
 * that read any of them.
 */
export function updateSince(n: RenderedNodeFiles, record: NodeRecord, from: number, departed: Record<string, DepartedNode> = {}): NodeUpdate {
  const added: UpdateFile[] = [];
  const changed: UpdateFile[] = [];
  for (const f of n.files) {
    const r = record.files[f.path]!;
    if (r.since <= from) continue;
    (r.added > from ? added : changed).push({ path: f.path, mode: f.mode, content: f.content, sha256: r.sha256 });
  }
  const removed = Object.entries(record.removed)
    .filter(([, r]) => r > from)
    .map(([p]) => p)
    .sort();
  const artifacts = Object.entries(record.artifacts ?? {})
    .filter(([, a]) => a.since > from)
    .map(([key, a]) => ({ key, file: a.file, sha256: a.sha256 }));
  const touched = [...added, ...changed]
    .map((f) => f.path)
    .concat(
      removed,
      artifacts.map((a) => artifactMarker(a.key)),
    );
  const byPath = (a: UpdateFile, b: UpdateFile) => a.path.localeCompare(b.path);
  return {
    node: n.facts.node.name,
    base: from,
    revision: record.revision,
    added: added.sort(byPath),
    changed: changed.sort(byPath),
    removed,
    artifacts,
    restarts: restartRows(n.facts, touched),
    daemonReload: touched.some(isUnitFile),
    departures: departuresOf(n, departed, from),
  };
}

function departuresOf(n: RenderedNodeFiles, departed: Record<string, DepartedNode>, from: number): Departure[] {
  const site = n.facts.site;
  const stay = site.nodes.filter((x) => x.roles.includes('etcd')).map((x) => `https://${x.ip}:2379`);
  return Object.entries(departed)
    .filter(([, d]) => d.by === n.facts.node.name && d.revision > from)
    .map(([name, d]) => ({ name, ...d, etcdEndpoints: d.etcd ? stay : [] }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Who takes departed nodes out: the site's bootstrap node, which holds the credential that may
 * drain and delete Nodes (kubeseed's bootstrapper, or kubeadm's admin.conf) and, where a departing
 * node ran etcd, an etcd member of its own (etcdctl and the healthcheck client certificate).
 */
function departedNow(
  previous: DeliveryRecord | null,
  dropped: string[],
  siteNodes: string[],
  remover: string | null,
  revision: number,
): Record<string, DepartedNode> {
  const out: Record<string, DepartedNode> = {};
  for (const [name, d] of Object.entries(previous?.departed ?? {})) if (!siteNodes.includes(name)) out[name] = d;
  if (!previous || !dropped.length) return out;
  if (!remover) throw new Error('internal: nodes left the site but no rendered node can take them out');
  const running = runningSite(previous);
  for (const name of dropped) {
    const r = running.nodes.find((n) => n.name === name)!;
    out[name] = { ip: r.ip, roles: r.roles, etcd: r.etcd, revision, by: remover };
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * The updates of this bundle. `nodes` are the nodes rendered now (all, or the one `--node` names);
 * `siteNodes` every node of the site (records of nodes it no longer has are dropped, those of
 * nodes not rendered now are kept as they were). Each rendered node that has had an update gets
 * its latest one again (the same bytes while nothing changed, so a bundle made twice still carries
 * it); `from` makes every update start at that revision instead, for nodes that missed some.
 */
export function computeUpdates(previous: DeliveryRecord | null, nodes: RenderedNodeFiles[], siteNodes: string[], from?: number): SiteUpdate {
  const prevNodes = previous?.nodes ?? {};
  const dropped = Object.keys(prevNodes)
    .filter((n) => !siteNodes.includes(n))
    .sort();
  const proposed = previous ? previous.revision + 1 : 1;
  const next = nodes.map((n) => ({ n, before: prevNodes[n.facts.node.name], ...nextRecord(n.files, n.artifacts, prevNodes[n.facts.node.name], proposed) }));
  const anyChange = dropped.length > 0 || next.some((x) => !x.same);
  const revision = anyChange ? proposed : previous!.revision;
  const record: DeliveryRecord = { revision, nodes: {} };
  for (const name of [...siteNodes].sort()) {
    const x = next.find((y) => y.n.facts.node.name === name);
    const r = x ? x.record : prevNodes[name];
    if (r) record.nodes[name] = r;
  }
  const site = siteRecord(record, nodes, previous?.site);
  if (site) record.site = site;
  const departed = departedNow(previous, dropped, siteNodes, nodes[0]?.facts.site.derived.bootstrapNode ?? null, revision);
  if (Object.keys(departed).length) record.departed = departed;
  const updates: NodeUpdate[] = [];
  for (const x of next) {
    const start = from ?? x.record.base;
    if (start === null || start >= x.record.revision) continue;
    updates.push(updateSince(x.n, x.record, start, departed));
  }
  return {
    revision,
    record,
    updates,
    recorded: next
      .filter((x) => !x.before)
      .map((x) => x.n.facts.node.name)
      .sort(),
    dropped,
  };
}

/**
 * The site block of the record: the networks and domain of the site rendered now, and the address
 * and roles of every recorded node (as rendered now, or as recorded before for a node not rendered
 * in this bundle).
 */
function siteRecord(record: DeliveryRecord, nodes: RenderedNodeFiles[], before: SiteRecord | undefined): SiteRecord | undefined {
  const site = nodes[0]?.facts.site;
  if (!site) return before;
  const out: SiteRecord['nodes'] = {};
  for (const name of Object.keys(record.nodes)) {
    const now = nodes.find((n) => n.facts.node.name === name)?.facts;
    const entry = now
      ? { ip: now.node.ip, roles: [...now.node.roles], ...(now.etcdCluster?.state === 'existing' ? { joined: true as const } : {}) }
      : before?.nodes[name];
    if (entry) out[name] = entry;
  }
  return { serviceCIDR: site.kubernetes.serviceCIDR, podCIDR: site.kubernetes.podCIDR, clusterDomain: site.kubernetes.clusterDomain, nodes: out };
}

/** How the change set names each kind of restart (render/restarts.ts: RestartVia). */
const RESTART_WORDS: Record<RestartVia, string> = {
  systemd: 'restart',
  'static-pod': 'restart static pod',
  'kubeadm-certs': 'kubeadm certs renew',
  'kubectl-apply': 'kubectl apply',
  'kubeadm-upgrade': 'run',
};

/** The change set as plain text: what the golden files hold and what `gen bundle` prints per node. */
export function describeUpdate(u: NodeUpdate): string {
  const lines = [`${u.node}: revision ${u.base} -> ${u.revision}`];
  for (const f of u.added) lines.push(`  add     ${f.mode} ${f.path}`);
  for (const f of u.changed) lines.push(`  change  ${f.mode} ${f.path}`);
  for (const p of u.removed) lines.push(`  remove  ${p}`);
  for (const a of u.artifacts) lines.push(`  payload ${a.key} ${a.file}`);
  if (u.daemonReload) lines.push('  systemctl daemon-reload');
  for (const d of u.departures) lines.push(`  take out ${d.name}: drain and delete its Node${d.etcd ? ', remove its etcd member' : ''}`);
  for (const r of u.restarts) lines.push(`  ${RESTART_WORDS[r.via]} ${r.unit} (wait: ${r.check})`);
  if (!u.restarts.length) lines.push('  restart nothing');
  return `${lines.join('\n')}\n`;
}

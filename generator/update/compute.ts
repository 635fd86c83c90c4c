import { createHash } from 'node:crypto';
import type { RenderedFile } from '../model/index.js';
import type { NodeFacts } from '../render/facts.js';
import { healthCheck, isUnitFile, RESTART_ORDER, unitsFor, type HealthCheck } from './restarts.js';
import type { DeliveredFile, DeliveryRecord, NodeRecord } from './record.js';

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

export interface UnitRestart {
  unit: string;
  check: HealthCheck;
  /** The changed or removed files that make this unit restart. */
  paths: string[];
}

export interface NodeUpdate {
  node: string;
  /** The revision the node must have (the one its files were recorded at). */
  base: number;
  /** The site revision this update brings the node to. */
  revision: number;
  added: UpdateFile[];
  changed: UpdateFile[];
  removed: string[];
  /** In restart order (RESTART_ORDER); each unit once. */
  restarts: UnitRestart[];
  /** A unit file changed or went: systemd must reload before the restarts. */
  daemonReload: boolean;
}

export interface SiteUpdate {
  /** The site revision after this bundle: unchanged when no node's files changed, 1 for the first record. */
  revision: number;
  /** The record to keep for the next bundle. */
  record: DeliveryRecord;
  /** One per node that was recorded before and whose files changed. */
  updates: NodeUpdate[];
  /** Nodes seen for the first time (recorded; they install from their seed). */
  recorded: string[];
  /** Nodes recorded before that the site no longer has (their record is dropped). */
  dropped: string[];
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A node as this bundle renders it. */
export interface RenderedNodeFiles {
  facts: NodeFacts;
  files: RenderedFile[];
}

function nodeChanges(n: RenderedNodeFiles, previous: NodeRecord): Omit<NodeUpdate, 'revision'> & { same: boolean } {
  const added: UpdateFile[] = [];
  const changed: UpdateFile[] = [];
  const now = new Set<string>();
  for (const f of n.files) {
    now.add(f.path);
    const u = { path: f.path, mode: f.mode, content: f.content, sha256: sha256(f.content) };
    const before = previous.files[f.path];
    if (!before) added.push(u);
    else if (before.sha256 !== u.sha256 || before.mode !== u.mode) changed.push(u);
  }
  const removed = Object.keys(previous.files)
    .filter((p) => !now.has(p))
    .sort();
  const touched = [...added, ...changed].map((f) => f.path).concat(removed);
  const byUnit = new Map<string, string[]>();
  for (const path of touched) {
    const units = unitsFor(n.facts, path);
    if (units === null) throw new Error(`internal: no restart rule for ${path} (generator/update/restarts.ts)`);
    for (const u of units) byUnit.set(u, [...(byUnit.get(u) ?? []), path]);
  }
  const restarts = RESTART_ORDER.filter((u) => byUnit.has(u)).map((unit) => ({ unit, check: healthCheck(unit), paths: byUnit.get(unit)!.sort() }));
  return {
    node: n.facts.node.name,
    base: previous.revision,
    added,
    changed,
    removed,
    restarts,
    daemonReload: touched.some(isUnitFile),
    same: touched.length === 0,
  };
}

function recordOf(files: RenderedFile[], previous: NodeRecord | undefined, revision: number): NodeRecord {
  const out: Record<string, DeliveredFile> = {};
  for (const f of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
    const hash = sha256(f.content);
    const before = previous?.files[f.path];
    const same = before && before.sha256 === hash && before.mode === f.mode;
    out[f.path] = { sha256: hash, mode: f.mode, since: same ? before.since : revision };
  }
  return { revision, files: out };
}

/**
 * The updates of this bundle. `nodes` are the nodes rendered now (all, or the one `--node` names);
 * `siteNodes` every node of the site (records of nodes it no longer has are dropped, those of
 * nodes not rendered now are kept as they were).
 */
export function computeUpdates(previous: DeliveryRecord | null, nodes: RenderedNodeFiles[], siteNodes: string[]): SiteUpdate {
  const prevNodes = previous?.nodes ?? {};
  const dropped = Object.keys(prevNodes)
    .filter((n) => !siteNodes.includes(n))
    .sort();
  const changes = nodes.map((n) => {
    const before = prevNodes[n.facts.node.name];
    return { n, before, change: before ? nodeChanges(n, before) : null };
  });
  const anyChange = dropped.length > 0 || changes.some((c) => !c.change || !c.change.same);
  const revision = previous ? (anyChange ? previous.revision + 1 : previous.revision) : 1;
  const record: DeliveryRecord = { revision, nodes: {} };
  for (const name of [...siteNodes].sort()) {
    const c = changes.find((x) => x.n.facts.node.name === name);
    if (!c) {
      if (prevNodes[name]) record.nodes[name] = prevNodes[name];
      continue;
    }
    record.nodes[name] = c.change?.same ? c.before! : recordOf(c.n.files, c.before, revision);
  }
  const updates: NodeUpdate[] = [];
  for (const { change } of changes) {
    if (!change || change.same) continue;
    const { same: _same, ...u } = change;
    updates.push({ ...u, revision });
  }
  return {
    revision,
    record,
    updates,
    recorded: changes
      .filter((c) => !c.before)
      .map((c) => c.n.facts.node.name)
      .sort(),
    dropped,
  };
}

/** The change set as plain text: what the golden files hold and what `gen bundle` prints per node. */
export function describeUpdate(u: NodeUpdate): string {
  const lines = [`${u.node}: revision ${u.base} -> ${u.revision}`];
  for (const f of u.added) lines.push(`  add     ${f.mode} ${f.path}`);
  for (const f of u.changed) lines.push(`  change  ${f.mode} ${f.path}`);
  for (const p of u.removed) lines.push(`  remove  ${p}`);
  if (u.daemonReload) lines.push('  systemctl daemon-reload');
  for (const r of u.restarts) lines.push(`  restart ${r.unit} (wait: ${r.check})`);
  if (!u.restarts.length) lines.push('  restart nothing');
  return `${lines.join('\n')}\n`;
}

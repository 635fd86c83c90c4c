import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { findRelease } from '../catalog/load.js';
import { crashPoint } from '../io/crash.js';
import { withLock } from '../io/lock.js';
import { readTemplates } from '../io/templates.js';
import {
  FailureError,
  InputError,
  type BundlePlan,
  type Catalog,
  type ClockPort,
  type CryptoPort,
  type ResolvedNode,
  type ResolvedSite,
} from '../model/index.js';
import { payloadName } from '../model/layout.js';
import { packDist, type DistResult } from '../pack/dist.js';
import { publishDist, recoverDist } from '../pack/publish.js';
import { parseSourceDateEpoch } from '../pack/epoch.js';
import { checkCoverage, collectArtifacts, imageArchives, osPackageFiles, type ArtifactFile, PAYLOAD_FORMATS, type PayloadFormat } from '../pack/payload.js';
import { operatorFiles } from '../pki/select.js';
import { buildPlan } from '../plan/index.js';
import { imageArchive } from '../registry/export.js';
import { egressLint, nodeFacts, nodeFilesList } from '../render/index.js';
import { readDelivery, writeDelivery } from '../io/delivery.js';
import { computeUpdates, nodeArtifacts, type SiteUpdate } from '../update/compute.js';
import { bundledRelease, runningSite } from '../update/record.js';
import { createEngine } from '../text/template.js';
import { certsStage, outputDir, placedStateDir } from './certs.js';
import type { FetchOutcome } from './fetch.js';
import { renderSite, type RenderedNode } from './render.js';

export interface BundleOptions {
  out?: string;
  state?: string;
  cwd: string;
  root: string;
  /** Only this node's outputs, updated inside the existing bundle. */
  node?: string;
  /** The payload's forms, the one to carry first (default: the volume alone; with --node, the forms the bundle has). */
  payloadFormats?: readonly PayloadFormat[];
  skipPayload: boolean;
  embedPayload: boolean;
  /** A directory holding the payload files (named as the plan names them) and their SHA256SUMS. */
  artifacts?: string;
  /** The fetch stage (gen fetch's), run when neither --artifacts nor --skip-payload is given. */
  fetch?: (plan: BundlePlan) => Promise<FetchOutcome>;
  /** Make every node's update start at this site revision (for nodes that missed updates). */
  updateFrom?: number;
  /** Key generation and time for the PKI; built by the CLI. */
  ports: { crypto: CryptoPort; clock: ClockPort };
  /** Progress lines. */
  say: (line: string) => void;
  env: NodeJS.ProcessEnv;
}

export interface BundleResult extends DistResult {
  dist: string;
  /** The site revision this bundle names (manifest.json, the updates). */
  revision: number;
  /** The nodes written now that have an update. */
  updates: string[];
}

/**
 * Stage 1–6 of `gen bundle`, holding the output directory's lock throughout (the state's is taken
 * by the PKI stage). Everything is written to a staging directory and swapped in at the end.
 */
export async function bundle(site: ResolvedSite, catalog: Catalog, opts: BundleOptions): Promise<BundleResult> {
  const loc = { ...(opts.state ? { state: opts.state } : {}), ...(opts.out ? { out: opts.out } : {}), cwd: opts.cwd };
  const outRoot = outputDir(site, loc);
  const nodes = opts.node ? site.nodes.filter((n) => n.name === opts.node) : site.nodes;
  if (opts.node && !nodes.length)
    throw new InputError(`no node named '${opts.node}' in site ${site.name}`, [], `nodes: ${site.nodes.map((n) => n.name).join(', ')}`);
  if (!opts.skipPayload && !opts.artifacts && !opts.fetch) throw new Error('internal: bundle needs a fetch stage, --artifacts or --skip-payload');
  // Checked before anything is written.
  const sourceDate = parseSourceDateEpoch(opts.env.SOURCE_DATE_EPOCH);
  const dir = await placedStateDir(site, loc);
  return withLock(outRoot, { what: 'the output directory', say: opts.say, dirMode: 0o755 }, async () => {
    for (const line of await recoverDist(outRoot)) opts.say(`  ${line}`);
    // Said before anything is fetched or issued: --node updates a bundle it can read.
    if (opts.node && (await stat(join(outRoot, 'dist')).catch(() => null)) && !(await stat(join(outRoot, 'dist', 'manifest.json')).catch(() => null)))
      throw new InputError(
        `--node updates one node of the bundle in ${join(outRoot, 'dist')}, which has no manifest.json`,
        [],
        'run gen bundle without --node to write the whole bundle again',
      );
    return stages(site, catalog, opts, { outRoot, stateDir: dir, nodes, sourceDate });
  });
}

async function stages(
  site: ResolvedSite,
  catalog: Catalog,
  opts: BundleOptions,
  at: { outRoot: string; stateDir: string; nodes: ResolvedNode[]; sourceDate: number | undefined },
): Promise<BundleResult> {
  const payloadCache = join(at.outRoot, 'payload-cache');
  opts.say('[1/6] plan');
  const plan = buildPlan(site, catalog);
  const release = findRelease(catalog, site.kubernetes.version);
  if (!release) throw new Error(`internal: ${site.kubernetes.version} passed validation but is not in the catalog`);

  opts.say('[2/6] artifacts');
  const available = opts.skipPayload && !opts.artifacts ? null : await payloadFiles(plan, opts, payloadCache, at.sourceDate ?? 0);

  opts.say('[3/6] PKI');
  const pki = await certsStage(site, at.stateDir, opts.ports, { say: opts.say, markBundled: true });
  for (const n of pki.notes) opts.say(`  note: ${n}`);
  for (const w of pki.warnings) opts.say(`  warning: ${w}`);
  const epoch = at.sourceDate ?? pki.meta.created;

  opts.say('[4/6] render');
  const templates = await readTemplates(join(opts.root, 'blueprints', 'templates'));
  // The site as last delivered: a member added to a running site joins its etcd cluster.
  const delivered = await readDelivery(at.stateDir);
  const running = delivered.record ? runningSite(delivered.record) : null;
  const rendered = renderSite(site, catalog, pki.files, templates, running).nodes.filter((n) => at.nodes.some((x) => x.name === n.name));
  for (const n of rendered) lintEgress(site, plan, n);
  const payload = available ? checkCoverage(plan, available) : null;
  const sums = new Map((payload ?? []).map((f) => [f.name, f.sha256]));
  const update = computeUpdates(
    delivered.record,
    rendered.map((n) => {
      const node = at.nodes.find((x) => x.name === n.name)!;
      return {
        facts: nodeFacts(site, node, running),
        files: n.files,
        // Without a payload at hand the node's downloads stay as recorded (an upgrade then fails in pack, naming what it lacks).
        ...(payload ? { artifacts: nodeArtifacts(plan, node, (file) => sums.get(file)!) } : {}),
      };
    }),
    site.nodes.map((n) => n.name),
    opts.updateFrom,
  );
  sayUpdates(update, opts.say);

  opts.say('[5/6] pack');
  const dist = join(at.outRoot, 'dist');
  const staging = join(at.outRoot, `.dist-staging-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  crashPoint('dist-staging-made');
  try {
    const packed = await packDist(staging, {
      site,
      catalog,
      plan,
      nodes: rendered.map((n) => ({ node: at.nodes.find((x) => x.name === n.name)!, files: n.files, seed: { ...n.seed }, list: nodeFilesList(n.files) })),
      operatorFiles: operatorFiles(site, pki.files),
      payload,
      payloadFormats: opts.payloadFormats ?? (opts.node ? await formatsOf(dist) : null) ?? ['iso'],
      payloadCache,
      // Without a bundle to update, --node writes a bundle of that node alone (its README says so).
      previous: opts.node && (await stat(dist).catch(() => null)) ? dist : null,
      embedPayload: opts.embedPayload || site.output.embedPayload,
      epoch,
      engine: createEngine(templates),
      say: opts.say,
      revision: update.revision,
      updates: update.updates,
    });
    crashPoint('dist-staged');
    opts.say('[6/6] publish');
    await publishDist(staging, dist);
    // Only now: a bundle that failed before this point leaves the record, and the next one computes its updates again.
    await writeDelivery(at.stateDir, { ...update.record, release: bundledRelease(site.kubernetes.version, release.versions) }, delivered.text, opts.say);
    return { dist, ...packed, revision: update.revision, updates: update.updates.map((u) => u.node) };
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
}

/** The payload forms a published bundle holds (its manifest's `payloads`), or null. */
async function formatsOf(dist: string): Promise<PayloadFormat[] | null> {
  const text = await readFile(join(dist, 'manifest.json'), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const formats = ((JSON.parse(text) as { payloads?: { format?: unknown }[] }).payloads ?? [])
      .map((p) => p.format)
      .filter((f): f is PayloadFormat => (PAYLOAD_FORMATS as readonly unknown[]).includes(f));
    return formats.length ? formats : null;
  } catch {
    return null;
  }
}

/** The payload's files: from --artifacts DIR, or straight from the fetch cache (no copy) with one image archive per architecture. */
async function payloadFiles(plan: BundlePlan, opts: BundleOptions, payloadCache: string, mtime: number): Promise<ArtifactFile[]> {
  if (opts.artifacts) return collectArtifacts(resolve(opts.cwd, opts.artifacts), opts.say);
  const outcome = await opts.fetch!(plan);
  const files: ArtifactFile[] = plan.artifacts.map((a) => {
    const f = outcome.files.get(a.id)!;
    return { name: payloadName(a), source: f.path, sha256: f.entry.sha256, size: f.entry.size };
  });
  const arches = [...new Set(plan.images.map((i) => i.platform.split('/')[1]!))].sort();
  const archives = arches.map((arch) => ({ arch, archive: imageArchive(outcome.images, plan, arch, (hex) => outcome.cache.blobPath(hex)) }));
  files.push(...(await imageArchives(archives, payloadCache, mtime, opts.say)));
  files.push(...(await osPackageFiles(outcome.osRepos, payloadCache, (hex) => outcome.cache.blobPath(hex))));
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

function sayUpdates(u: SiteUpdate, say: (line: string) => void): void {
  say(`  site revision ${u.revision}`);
  if (u.recorded.length) say(`  recorded ${u.recorded.join(', ')} (they install from their seeds; later bundles make their updates)`);
  if (u.dropped.length) say(`  no longer in the site: ${u.dropped.join(', ')} (taken out by the update of ${u.record.departed?.[u.dropped[0]!]?.by ?? '?'})`);
  for (const n of u.updates) {
    const files = n.added.length + n.changed.length;
    const restarts = n.restarts.map((r) => r.unit).join(', ') || 'nothing';
    const out = n.departures.length ? `, takes out ${n.departures.map((d) => d.name).join(', ')}` : '';
    say(`  update ${n.node}: revision ${n.base} -> ${n.revision}, ${files} file(s), ${n.removed.length} removed, restarts ${restarts}${out}`);
  }
}

function lintEgress(site: ResolvedSite, plan: BundlePlan, n: RenderedNode): void {
  const findings = egressLint(site, plan, [...n.files, ...Object.entries(n.seed).map(([path, content]: [string, string]) => ({ path, content }))]);
  // gen validate's egress rule names the blueprint field behind every finding it can foresee; one
  // that gets this far comes from kubeseed's own templates or catalog, not from the operator.
  if (findings.length)
    throw new FailureError(
      `egress lint: ${n.name} would reach outside the site: ${findings.map((f) => `${f.path}:${f.line} ${f.what}`).join('; ')}`,
      'this is a kubeseed bug (a template or the catalog names a public host); please report it',
    );
}

import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { findRelease } from '../catalog/load.js';
import { readDelivery } from '../io/delivery.js';
import { readState } from '../io/state.js';
import { readTemplates } from '../io/templates.js';
import { InputError, type Catalog, type ResolvedSite } from '../model/index.js';
import { readLock } from '../fetch/lock.js';
import { planChange, versionsOfArtifacts, type EarlierBundle, type PlanChange } from '../plan/change.js';
import { buildPlan } from '../plan/index.js';
import { nodeFacts } from '../render/index.js';
import { computeUpdates } from '../update/compute.js';
import { runningSite } from '../update/record.js';
import { stateDir, type StateLocation } from './certs.js';
import { renderSite } from './render.js';

const FROM_HINT = 'give the lock gen fetch wrote (<blueprint>.lock.json) or the manifest.json of an earlier bundle (output/<site>/dist/manifest.json)';

const manifestSchema = z.object({
  kind: z.literal('BundleManifest'),
  site: z.string(),
  kubernetesVersion: z.string(),
  mode: z.string(),
  revision: z.number().int().optional(),
  versions: z.record(z.string(), z.string()),
  images: z.array(z.object({ ref: z.string() })),
});

/** The earlier lock or manifest.json `--from` names, as what it says about its bundle. */
export async function readEarlierBundle(path: string, catalog: Catalog): Promise<EarlierBundle> {
  const st = await stat(path).catch(() => null);
  if (!st) throw new InputError(`--from ${path}: no such file`, [], FROM_HINT);
  if (!st.isFile()) throw new InputError(`--from ${path} is not a regular file`, [], FROM_HINT);
  let data: unknown;
  try {
    data = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new InputError(`--from ${path} is not JSON (${(e as Error).message})`, [], FROM_HINT);
  }
  const kind = (data as { kind?: unknown } | null)?.kind;
  if (kind === 'Lock') {
    const lock = (await readLock(path))!;
    const artifacts = Object.keys(lock.artifacts).sort();
    const versions = versionsOfArtifacts(artifacts, catalog);
    return {
      kind: 'lock',
      file: path,
      site: lock.site,
      kubernetes: versions.kubernetes ?? null,
      mode: null,
      revision: null,
      versions,
      images: Object.keys(lock.images).sort(),
      artifacts,
    };
  }
  if (kind === 'BundleManifest') {
    const m = manifestSchema.safeParse(data);
    if (!m.success) {
      const first = m.error.issues[0]!;
      throw new InputError(`--from ${path}: ${first.path.join('.') || '(root)'}: ${first.message}`, [], 'give an unaltered manifest.json of a bundle');
    }
    return {
      kind: 'manifest',
      file: path,
      site: m.data.site,
      kubernetes: m.data.kubernetesVersion,
      mode: m.data.mode,
      revision: m.data.revision ?? null,
      versions: m.data.versions,
      images: [...new Set(m.data.images.map((i) => i.ref))].sort(),
      artifacts: null,
    };
  }
  throw new InputError(`--from ${path} is neither a lock (kind: Lock) nor a bundle manifest (kind: BundleManifest)`, [], FROM_HINT);
}

/**
 * What a gen bundle of `site` would change against the earlier bundle `from` names: versions,
 * images, downloads, and per node (from the state's delivery record, rendered with the state's
 * PKI as it is) the files and the units they and the new binaries restart. Reads only.
 */
export async function planFrom(site: ResolvedSite, catalog: Catalog, opts: StateLocation & { from: string; root: string }): Promise<PlanChange> {
  const earlier = await readEarlierBundle(resolve(opts.cwd, opts.from), catalog);
  if (earlier.site !== site.name)
    throw new InputError(`--from ${opts.from} belongs to site '${earlier.site}', not '${site.name}'`, [], `give a lock or manifest.json of site ${site.name}`);
  const plan = buildPlan(site, catalog);
  const release = findRelease(catalog, site.kubernetes.version)!;
  const dir = stateDir(site, opts);
  const record = (await readDelivery(dir)).record;
  if (!record)
    return planChange(earlier, plan, release, catalog, {
      note: `no delivery record in ${dir}: a first gen bundle records the nodes, which install from their seeds`,
    });
  const state = await readState(dir);
  if (!state) return planChange(earlier, plan, release, catalog, { note: `no site state in ${dir}` });
  // As gen bundle renders: a member new to the running site joins its etcd cluster.
  const running = runningSite(record);
  let rendered;
  try {
    rendered = renderSite(site, catalog, state, await readTemplates(join(opts.root, 'blueprints', 'templates')), running).nodes;
  } catch (e) {
    // A node the state has no certificates for yet: gen bundle issues them before it renders.
    return planChange(earlier, plan, release, catalog, {
      note: `the state in ${dir} cannot render every node as it is (${(e as Error).message}); gen bundle issues what is missing first`,
    });
  }
  const update = computeUpdates(
    record,
    rendered.map((n) => ({
      facts: nodeFacts(
        site,
        site.nodes.find((x) => x.name === n.name)!,
        running,
      ),
      files: n.files,
    })),
    site.nodes.map((n) => n.name),
  );
  // Only what changes now: a node whose files are as recorded keeps getting its last update, which is not news.
  const updates = update.updates.filter((u) => u.revision > record.revision);
  return planChange(earlier, plan, release, catalog, { updates, recorded: update.recorded, nodeNames: site.nodes.map((n) => n.name) });
}

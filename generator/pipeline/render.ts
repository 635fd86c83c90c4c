import type { BundlePlan, Catalog, RenderedFile, ResolvedSite, RunningSite } from '../model/index.js';
import type { StateFiles } from '../pki/issue.js';
import { buildPlan } from '../plan/index.js';
import { noCloudSeed, renderNode, type NoCloudSeed } from '../render/index.js';
import { createEngine, type TemplateSources } from '../text/template.js';

export interface RenderedNode {
  name: string;
  files: RenderedFile[];
  seed: NoCloudSeed;
}

/** Render stage: every node's files and NoCloud seed, from the site, its plan, its state and the site as last delivered. */
export function renderSite(
  site: ResolvedSite,
  catalog: Catalog,
  state: StateFiles,
  templates: TemplateSources,
  running: RunningSite | null = null,
): { plan: BundlePlan; nodes: RenderedNode[] } {
  const plan = buildPlan(site, catalog);
  const engine = createEngine(templates);
  const nodes = site.nodes.map((node) => {
    const files = renderNode({ site, node, plan, state, engine, running });
    return { name: node.name, files, seed: noCloudSeed(site, node, files) };
  });
  return { plan, nodes };
}

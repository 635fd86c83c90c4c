import type { BundlePlan, RenderedFile, ResolvedNode, ResolvedSite, RunningSite } from '../model/index.js';
import type { StateFiles } from '../pki/issue.js';
import type { Engine } from '../text/template.js';
import { nodeFacts } from './facts.js';
import { nodeFiles } from './files.js';
import { UnsupportedError } from './manifests.js';

export { UnsupportedError };

export interface NodeInput {
  site: ResolvedSite;
  node: ResolvedNode;
  plan: BundlePlan;
  state: StateFiles;
  engine: Engine;
  /** The site as last delivered (null or absent: a new site). */
  running?: RunningSite | null;
}

/**
 * Every file that turns a fresh host into its part of the cluster, as a pure function of the
 * site, the node, the plan and the site state: the node file table, rendered.
 */
export function renderNode(input: NodeInput): RenderedFile[] {
  const { site, node, plan, state, engine } = input;
  const c = { ...nodeFacts(site, node, input.running ?? null), plan, state, engine };
  return nodeFiles(c).map((f) => ({ path: f.path, mode: f.mode, content: f.render(c), origin: f.origin }));
}

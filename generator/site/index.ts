import type { Catalog, Issue, ResolvedSite, RunningSite } from '../model/index.js';
import { hasErrors } from '../model/index.js';
import type { ParsedSite } from './parse.js';
import { checkRules } from './rules/index.js';
import { checkRunningRules } from './rules/running.js';
import { resolveSite } from './resolve.js';

export { parseSite, type ParsedSite } from './parse.js';
export { RULES, checkRules, type Rule } from './rules/index.js';
export { RUNNING_RULES, checkRunningRules, type RunningRule } from './rules/running.js';
export { resolveSite, LB_PORT, APISERVER_PORT } from './resolve.js';
export { siteSchema, siteJsonSchema, type WrittenNode, type WrittenSite } from './schema.js';

export interface CheckedSite {
  issues: Issue[];
  /** Present when no issue is an error. */
  resolved?: ResolvedSite;
}

/**
 * Semantic rules on a structurally valid site, positions attached, then resolution. With the site
 * as last delivered (`running`), also the rules for changing a running site, and the version-skew
 * rules from the release it was bundled with.
 */
export function checkSite(parsed: ParsedSite, catalog: Catalog, today: Date, running: RunningSite | null = null): CheckedSite {
  if (!parsed.site) return { issues: parsed.issues };
  const found = checkRules({ site: parsed.site, catalog, today, previous: running?.release ?? null });
  if (running) found.push(...checkRunningRules({ site: parsed.site, running }));
  const issues = found.map((i) => ({
    ...i,
    file: parsed.file,
    ...(parsed.positions ? parsed.positions.valueAt(i.path) : {}),
  }));
  const all = [...parsed.issues, ...issues];
  if (hasErrors(all)) return { issues: all };
  return { issues: all, resolved: resolveSite(parsed.site, catalog, parsed.file) };
}

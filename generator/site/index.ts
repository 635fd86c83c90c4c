import type { Catalog, Issue, ResolvedSite } from '../model/index.js';
import { hasErrors } from '../model/index.js';
import type { ParsedSite } from './parse.js';
import { checkRules } from './rules/index.js';
import { resolveSite } from './resolve.js';

export { parseSite, type ParsedSite } from './parse.js';
export { RULES, checkRules, type Rule } from './rules/index.js';
export { resolveSite, LB_PORT, APISERVER_PORT } from './resolve.js';
export { siteSchema, siteJsonSchema, type WrittenNode, type WrittenSite } from './schema.js';

export interface CheckedSite {
  issues: Issue[];
  /** Present when no issue is an error. */
  resolved?: ResolvedSite;
}

/** Semantic rules on a structurally valid site, positions attached, then resolution. */
export function checkSite(parsed: ParsedSite, catalog: Catalog, today: Date): CheckedSite {
  if (!parsed.site) return { issues: parsed.issues };
  const issues = checkRules({ site: parsed.site, catalog, today }).map((i) => ({
    ...i,
    file: parsed.file,
    ...(parsed.positions ? parsed.positions.valueAt(i.path) : {}),
  }));
  const all = [...parsed.issues, ...issues];
  if (hasErrors(all)) return { issues: all };
  return { issues: all, resolved: resolveSite(parsed.site, catalog, parsed.file) };
}

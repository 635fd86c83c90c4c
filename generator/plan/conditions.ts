import type { Condition, ResolvedNode, ResolvedSite } from '../model/index.js';

/** Does a catalog condition hold for the site as a whole (ignoring roles)? */
export function siteMatches(when: Condition, site: ResolvedSite): boolean {
  if (when.mode && when.mode !== site.kubernetes.mode) return false;
  if (when.network && when.network !== site.network.plugin) return false;
  if (when.addon && !site.addons.includes(when.addon)) return false;
  if (when.etcdTopology && when.etcdTopology !== site.kubernetes.etcdTopology) return false;
  if (when.osFamilies && !when.osFamilies.includes(site.os.family)) return false;
  return true;
}

/** Does the node need something with this condition? */
export function nodeMatches(when: Condition, site: ResolvedSite, node: ResolvedNode): boolean {
  if (!siteMatches(when, site)) return false;
  return !when.roles || when.roles.some((r) => node.roles.includes(r));
}

import type { Issue } from '../../model/index.js';
import { ARTIFACT_RULES } from './artifacts.js';
import { CATALOG_RULES } from './catalog.js';
import { EGRESS_RULES } from './egress.js';
import { LIFECYCLE_RULES } from './lifecycle.js';
import { NETWORK_RULES } from './networks.js';
import { NODE_RULES } from './nodes.js';
import { OS_RULES } from './os.js';
import { PKI_RULES } from './pki.js';
import { RELEASE_RULES } from './release.js';
import { UPGRADE_RULES } from './skew.js';
import type { Rule, RuleContext } from './rule.js';
import { TOPOLOGY_RULES } from './topology.js';

export { rule, type Report, type Rule, type RuleContext, type RuleSpec } from './rule.js';

/** Every semantic rule, grouped by topic; a new rule goes into the file of its topic. */
export const RULES: readonly Rule[] = [
  ...NODE_RULES,
  ...NETWORK_RULES,
  ...TOPOLOGY_RULES,
  ...CATALOG_RULES,
  ...LIFECYCLE_RULES,
  ...RELEASE_RULES,
  ...UPGRADE_RULES,
  ...ARTIFACT_RULES,
  ...PKI_RULES,
  ...OS_RULES,
  ...EGRESS_RULES,
];

/** Runs every rule; the result lists all problems, errors and warnings alike. */
export function checkRules(ctx: RuleContext): Issue[] {
  return RULES.flatMap((r) => r.check(ctx));
}

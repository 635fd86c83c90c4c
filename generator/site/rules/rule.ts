import type { BundledRelease, Catalog, Issue, Severity } from '../../model/index.js';
import { isHostAddress, parseCidr, type Cidr } from '../ipv4.js';
import type { WrittenSite } from '../schema.js';

/** What every rule sees: the written site (defaults filled) and the catalog it is checked against. */
export interface RuleContext {
  site: WrittenSite;
  catalog: Catalog;
  /** The day the site is checked on (from the clock port): the end-of-life rules compare against it. */
  today: Date;
  /** The release the site's state records it was last bundled with (null for a site never bundled): the version-skew rules start from it. */
  previous?: BundledRelease | null;
}

export interface Rule {
  name: string;
  summary: string;
  check(ctx: RuleContext): Issue[];
}

/** Makes an issue of the rule it was handed to, so a rule names itself exactly once. */
export type Report = (path: string, message: string, hint?: string, severity?: Severity) => Issue;

export interface RuleSpec {
  name: string;
  summary: string;
  check(ctx: RuleContext, report: Report): Issue[];
}

/** Binds a rule's checks to its name: every issue it reports carries `name`. */
export function rule(spec: RuleSpec): Rule {
  const report: Report = (path, message, hint, severity = 'error') => ({ rule: spec.name, severity, path, message, ...(hint ? { hint } : {}) });
  return { name: spec.name, summary: spec.summary, check: (ctx) => spec.check(ctx, report) };
}

export const nodePath = (i: number, field?: string) => `spec.nodes[${i}]${field ? `.${field}` : ''}`;

/** Node subnets that parse, by node index. */
export function nodeCidrs(site: WrittenSite): Map<number, Cidr> {
  const out = new Map<number, Cidr>();
  site.spec.nodes.forEach((n, i) => {
    const c = parseCidr(n.address);
    if (c && c.prefix <= 30 && isHostAddress(c, c.addr)) out.set(i, c);
  });
  return out;
}

/** Keys shared by more than one item, with the indexes of the items that share them. */
export function duplicates<T>(items: readonly T[], key: (t: T) => string | undefined): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  items.forEach((t, i) => {
    const k = key(t);
    if (k !== undefined) seen.set(k, [...(seen.get(k) ?? []), i]);
  });
  return new Map([...seen].filter(([, idx]) => idx.length > 1));
}

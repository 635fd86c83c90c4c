import { findRelease } from '../../catalog/load.js';
import { minorOf } from '../../catalog/quirks.js';
import type { Catalog } from '../../model/index.js';
import { rule, type Rule } from './rule.js';

/** Warn this many days before a minor's end of life. */
export const EOL_WARNING_DAYS = 60;

const DAY_MS = 86_400_000;
const VERSION_PATH = 'spec.kubernetes.version';

const isoDay = (d: Date) => d.toISOString().slice(0, 10);
const daysBetween = (from: string, to: string) => Math.round((Date.parse(to) - Date.parse(from)) / DAY_MS);

/** The catalog's releases whose minor is still supported on `today`, newest first. */
export function supportedReleases(catalog: Catalog, today: Date): { version: string; minor: number }[] {
  const day = isoDay(today);
  return catalog.releases
    .map((r) => ({ version: r.version, minor: minorOf(r.version) }))
    .filter((r) => {
      const eol = catalog.lifecycle[`1.${r.minor}`]?.endOfLife;
      return eol !== undefined && eol >= day;
    })
    .sort((a, b) => b.minor - a.minor || b.version.localeCompare(a.version, undefined, { numeric: true }));
}

function upgradeHint(catalog: Catalog, today: Date, minor: number): string {
  const supported = supportedReleases(catalog, today);
  if (!supported.length) return 'the catalog holds no supported release: add one (see scripts/catalog/draft-release.mjs)';
  const newest = supported[0]!;
  const head = `the newest supported minor is 1.${newest.minor} (${newest.version} in this catalog)`;
  if (newest.minor === minor + 1) return head;
  // Control planes move one minor at a time (version skew policy).
  const next = catalog.releases
    .filter((r) => minorOf(r.version) === minor + 1)
    .map((r) => r.version)
    .sort()
    .pop();
  return `${head}; upgrade one minor at a time: ${next ? `${next} first` : `1.${minor + 1} next, which this catalog does not hold`}`;
}

/** Where the release stands upstream: known-bad catalog entries, end of life. */
export const LIFECYCLE_RULES: Rule[] = [
  rule({
    name: 'release-known-bad',
    summary: 'a release whose catalog facts are known to be wrong is refused',
    check: ({ site, catalog }, report) => {
      const rel = findRelease(catalog, site.spec.kubernetes.version);
      return rel?.knownBad
        ? [report(VERSION_PATH, `the catalog's entry for ${rel.version} is known to be wrong: ${rel.knownBad.reason}`, rel.knownBad.hint)]
        : [];
    },
  }),
  rule({
    name: 'release-end-of-life',
    summary: `a Kubernetes minor within ${EOL_WARNING_DAYS} days of its upstream end of life, or past it, is a warning naming the newest supported minor`,
    check: ({ site, catalog, today }, report) => {
      const v = site.spec.kubernetes.version;
      if (!findRelease(catalog, v)) return [];
      const minor = minorOf(v);
      const life = catalog.lifecycle[`1.${minor}`];
      if (!life) return [];
      const left = daysBetween(isoDay(today), life.endOfLife);
      if (left > EOL_WARNING_DAYS) return [];
      const message =
        left < 0
          ? `Kubernetes 1.${minor} reached its end of life on ${life.endOfLife} (${life.source}): it gets no more security fixes`
          : `Kubernetes 1.${minor} reaches its end of life on ${life.endOfLife}, in ${left} day${left === 1 ? '' : 's'} (${life.source})`;
      return [report(VERSION_PATH, message, upgradeHint(catalog, today, minor), 'warning')];
    },
  }),
];

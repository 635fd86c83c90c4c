/**
 * Release versions as the catalog writes them (`v1.20.2`, `v3.5.25`, `1.6.20`, and local builds
 * with a pre-release suffix such as `v1.20.3-kubeseed.1`), parsed and ordered as semver orders
 * them: numbers first, and a suffixed version before the same version without one.
 */

export interface ReleaseVersion {
  major: number;
  minor: number;
  patch: number;
  /** The pre-release suffix without its dash, or '' for a release. */
  pre: string;
}

const VERSION = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$/;

export function parseVersion(version: string): ReleaseVersion | null {
  const m = VERSION.exec(version);
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), pre: m[4] ?? '' } : null;
}

/** Semver's order of pre-release identifiers: numeric ones numerically and before alphanumeric ones. */
function comparePre(a: string, b: string): number {
  if (a === b) return 0;
  if (!a) return 1;
  if (!b) return -1;
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === undefined) return -1;
    if (y[i] === undefined) return 1;
    const nx = /^\d+$/.test(x[i]!);
    const ny = /^\d+$/.test(y[i]!);
    if (nx && ny && Number(x[i]) !== Number(y[i])) return Number(x[i]) - Number(y[i]);
    if (nx !== ny) return nx ? -1 : 1;
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  }
  return 0;
}

/** Negative, zero or positive as `a` is older than, the same as or newer than `b`. */
export function compareVersions(a: ReleaseVersion, b: ReleaseVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch || comparePre(a.pre, b.pre);
}

/** `major.minor` of a version, e.g. `3.5` for v3.5.25. */
export const minorLine = (v: ReleaseVersion) => `${v.major}.${v.minor}`;

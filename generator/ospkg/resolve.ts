import { parseDepends, parseProvides, type DepAtom, type DepGroup, type IndexedPackage } from './control.js';
import { PackageIndex, PRIORITY_RANK } from './index.js';
import { satisfies } from './version.js';

export { PackageIndex };

/**
 * The dependency closure of a request against one architecture's package index, as apt would
 * install it (`apt-get install --no-install-recommends`). Pure: the index and what the node
 * already has come in as data.
 *
 * Like apt, only each package's candidate (its highest version in the index) is considered;
 * Depends and Pre-Depends are followed, Recommends and Suggests are not. A dependency already
 * satisfied by an installed or chosen package, directly or through Provides, adds nothing; else
 * the first alternative that the index can satisfy is chosen, a virtual name by its provider
 * (essential first, then by Priority, then by name). Conflicts and Breaks between the chosen
 * packages and what is installed are reported, not worked around.
 */

/** A package the node has (from dpkg's status, or assumed by the baseline). */
export interface InstalledPackage {
  name: string;
  version: string;
  arch: string;
  multiArch: string;
  provides: { name: string; version?: string }[];
}

export class ResolveError extends Error {
  constructor(readonly problems: string[]) {
    super(`the dependency closure cannot be completed:\n  ${problems.join('\n  ')}`);
    this.name = 'ResolveError';
  }
}

interface Held {
  version: string;
  arch: string;
  multiArch: string;
}

/** The packages to install, sorted by name: neither installed already (in that version or newer) nor left out. */
export function resolveClosure(index: PackageIndex, request: readonly string[], installed: readonly InstalledPackage[]): IndexedPackage[] {
  const have = new Map<string, Held>(installed.map((p) => [p.name, p]));
  const haveProvides = new Map<string, { by: string; version?: string }[]>();
  const addProvides = (by: string, provides: { name: string; version?: string }[]) => {
    for (const pr of provides) {
      const list = haveProvides.get(pr.name) ?? [];
      list.push(pr.version === undefined ? { by } : { by, version: pr.version });
      haveProvides.set(pr.name, list);
    }
  };
  for (const p of installed) addProvides(p.name, p.provides);

  const chosen = new Map<string, IndexedPackage>();
  const problems: string[] = [];

  const archMatches = (atom: DepAtom, multiArch: string) => {
    const q = atom.archQualifier;
    if (q === undefined || q === 'native' || q === index.arch) return true;
    return q === 'any' && multiArch === 'allowed';
  };
  const versionMatches = (version: string, atom: DepAtom) => atom.relation === undefined || satisfies(version, atom.relation, atom.version!);

  const satisfied = (atom: DepAtom): boolean => {
    const held = chosen.get(atom.name) ?? have.get(atom.name);
    if (held && versionMatches(held.version, atom) && archMatches(atom, held.multiArch)) return true;
    // A Provides without a version satisfies only an unversioned dependency.
    return (haveProvides.get(atom.name) ?? []).some((pr) =>
      atom.relation === undefined ? true : pr.version !== undefined && satisfies(pr.version, atom.relation, atom.version!),
    );
  };

  const candidateFor = (atom: DepAtom): IndexedPackage | undefined => {
    const real = index.candidate(atom.name);
    if (real && versionMatches(real.version, atom) && archMatches(atom, real.multiArch)) return real;
    const providers = index
      .providers(atom.name)
      .filter((pr) => (atom.relation === undefined ? true : pr.version !== undefined && satisfies(pr.version, atom.relation, atom.version!)));
    if (!providers.length) return undefined;
    return providers
      .map((pr) => pr.pkg)
      .sort(
        (a, b) =>
          Number(b.essential) - Number(a.essential) || (PRIORITY_RANK[a.priority] ?? 5) - (PRIORITY_RANK[b.priority] ?? 5) || a.name.localeCompare(b.name),
      )[0];
  };

  const choose = (p: IndexedPackage): void => {
    chosen.set(p.name, p);
    addProvides(p.name, p.provides ? parseProvides(p.provides) : []);
  };

  const groupsOf = (p: IndexedPackage): DepGroup[] => {
    try {
      return [...parseDepends(p.preDepends), ...parseDepends(p.depends)];
    } catch (e) {
      problems.push(`${p.name} ${p.version}: ${(e as Error).message}`);
      return [];
    }
  };

  /** Marks what `p` needs, then follows each newly marked package (apt's order: a package's own dependencies first, then theirs). */
  const follow = (p: IndexedPackage): void => {
    const next: IndexedPackage[] = [];
    for (const group of groupsOf(p)) {
      if (group.some(satisfied)) continue;
      let pick: IndexedPackage | undefined;
      for (const alt of group) if ((pick = candidateFor(alt))) break;
      if (!pick) {
        problems.push(`${p.name} ${p.version} depends on ${group.map(formatAtom).join(' | ')}, which the index cannot satisfy`);
        continue;
      }
      if (chosen.has(pick.name)) continue;
      choose(pick);
      next.push(pick);
    }
    for (const n of next) follow(n);
  };

  // Every requested package is marked first (as apt-get marks its command line), then each is followed.
  const roots: IndexedPackage[] = [];
  for (const name of request) {
    const cand = index.candidate(name);
    const held = have.get(name);
    if (!cand) {
      if (held || haveProvides.has(name)) continue;
      const providers = index.providers(name);
      problems.push(
        providers.length
          ? `${name} is a virtual package (provided by ${providers
              .map((x) => x.pkg.name)
              .sort()
              .join(', ')}): ask for one of those`
          : `${name} is not in the index`,
      );
      continue;
    }
    if (held && !satisfies(cand.version, '>>', held.version)) continue;
    if (!chosen.has(name)) {
      choose(cand);
      roots.push(cand);
    }
  }
  for (const r of roots) follow(r);

  for (const p of chosen.values()) problems.push(...clashes(p, chosen, have));
  if (problems.length) throw new ResolveError([...new Set(problems)].sort());
  return [...chosen.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Conflicts and Breaks of `p` that the result would violate. */
function clashes(p: IndexedPackage, chosen: Map<string, IndexedPackage>, have: Map<string, Held>): string[] {
  const out: string[] = [];
  let groups: DepGroup[];
  try {
    groups = [...parseDepends(p.conflicts), ...parseDepends(p.breaks)];
  } catch {
    return [`${p.name} ${p.version}: malformed Conflicts or Breaks`];
  }
  for (const [atom] of groups) {
    if (!atom || atom.name === p.name) continue;
    const other = chosen.get(atom.name) ?? have.get(atom.name);
    if (other && (atom.relation === undefined || satisfies(other.version, atom.relation, atom.version!))) {
      out.push(
        `${p.name} ${p.version} conflicts with ${formatAtom(atom)}, and ${atom.name} ${other.version} would be ${chosen.has(atom.name) ? 'installed' : 'present'}`,
      );
    }
  }
  return out;
}

function formatAtom(a: DepAtom): string {
  return `${a.name}${a.archQualifier ? `:${a.archQualifier}` : ''}${a.relation ? ` (${a.relation} ${a.version})` : ''}`;
}

/** dpkg's status file → the packages it holds installed. */
export function installedFromStatus(status: readonly IndexedPackage[]): InstalledPackage[] {
  return status
    .filter((p) => / installed$/.test(p.status))
    .map((p) => ({ name: p.name, version: p.version, arch: p.arch, multiArch: p.multiArch, provides: p.provides ? parseProvides(p.provides) : [] }));
}

/**
 * What a stock image of the release is assumed to hold: every `Priority: required` package of
 * the index and the named extras, each with its dependency closure.
 */
export function baselineFromIndex(index: PackageIndex, extras: readonly string[]): InstalledPackage[] {
  const names = index.required();
  const set = resolveClosure(index, [...names, ...extras.filter((e) => !names.includes(e))], []);
  return set.map((p) => ({ name: p.name, version: p.version, arch: p.arch, multiArch: p.multiArch, provides: p.provides ? parseProvides(p.provides) : [] }));
}

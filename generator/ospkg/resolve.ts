import { parseDepends, parsePackages, parseProvides, type DepAtom, type DepGroup, type IndexedPackage } from './control.js';
import { satisfies } from './version.js';

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

const PRIORITY_RANK: Record<string, number> = { required: 0, important: 1, standard: 2, optional: 3, extra: 4 };

/**
 * One architecture's view of one or more `Packages` indexes (several components), read lazily:
 * building it finds the stanzas, their names and who provides what (a few scans over the text);
 * a stanza is parsed only when the resolver asks for its package. A Debian main index has 64,000
 * stanzas, a closure touches a few hundred.
 */
export class PackageIndex {
  /** Each index decoded as Latin-1: one byte per character, so offsets are byte offsets and nothing is lost. */
  private readonly texts: string[] = [];
  /** Per stanza (by number across all texts): which text, where, and the package name. */
  private readonly textOf: number[] = [];
  private readonly starts: number[] = [];
  private readonly names: string[] = [];
  /** Name → its stanza, or its stanzas when it has several versions. */
  private readonly byName = new Map<string, number | number[]>();
  private readonly parsed = new Map<number, IndexedPackage>();
  private readonly best = new Map<string, IndexedPackage | null>();
  /** Virtual name → providing package names (with the provided version, when versioned). */
  private readonly provided = new Map<string, { name: string; version?: string }[]>();
  private readonly requiredAt: number[] = [];

  constructor(
    buffers: readonly Buffer[],
    readonly arch: string,
  ) {
    for (const buf of buffers) {
      const t = this.texts.length;
      const text = buf.toString('latin1');
      this.texts.push(text);
      // Stanzas begin with their Package field (dak, apt-ftparchive and reprepro write it first):
      // finding each "Package: " at a line start finds every stanza and its name in one scan.
      const base = this.starts.length;
      const starts: number[] = [];
      for (
        let pos = text.startsWith('Package: ') ? 0 : text.indexOf('\nPackage: ') + 1;
        pos > 0 || (pos === 0 && starts.length === 0);
        pos = text.indexOf('\nPackage: ', pos) + 1
      ) {
        let eol = text.indexOf('\n', pos);
        if (eol < 0) eol = text.length;
        let name = text.slice(pos + 9, eol);
        if (name.charCodeAt(name.length - 1) <= 0x20) name = name.trimEnd();
        const k = base + starts.length;
        starts.push(pos);
        this.starts.push(pos);
        this.textOf.push(t);
        this.names.push(name);
        const seen = this.byName.get(name);
        if (seen === undefined) this.byName.set(name, k);
        else if (typeof seen === 'number') this.byName.set(name, [seen, k]);
        else seen.push(k);
        pos = eol;
      }
      for (let pos = text.indexOf('\nProvides:'); pos >= 0; pos = text.indexOf('\nProvides:', pos + 1)) {
        const k = base + containing(starts, pos + 1);
        let eol = text.indexOf('\n', pos + 1);
        if (eol < 0) eol = text.length;
        let value = text.slice(pos + 10, eol);
        // Continuation lines (rare in Provides).
        while (text.charCodeAt(eol + 1) === 0x20) {
          const next = text.indexOf('\n', eol + 1);
          value += text.slice(eol + 1, next < 0 ? text.length : next);
          eol = next < 0 ? text.length : next;
        }
        const by = this.names[k]!;
        for (const pr of parseProvides(value)) {
          const entry = pr.version === undefined ? { name: by } : { name: by, version: pr.version };
          const list = this.provided.get(pr.name);
          if (list) list.push(entry);
          else this.provided.set(pr.name, [entry]);
        }
      }
      for (const needle of ['\nPriority: required', '\nEssential: yes']) {
        for (let pos = text.indexOf(needle); pos >= 0; pos = text.indexOf(needle, pos + 1)) this.requiredAt.push(base + containing(starts, pos + 1));
      }
    }
  }

  private stanza(k: number): IndexedPackage {
    let p = this.parsed.get(k);
    if (!p) {
      const text = this.texts[this.textOf[k]!]!;
      const start = this.starts[k]!;
      let end = text.indexOf('\n\n', start);
      if (end < 0) end = text.charCodeAt(text.length - 1) === 0x0a ? text.length - 1 : text.length;
      const raw = text.slice(start, end);
      p = parsePackages(raw)[0]!;
      // The stanza as published: its bytes read as UTF-8 again.
      p.stanza = Buffer.from(raw, 'latin1').toString('utf8');
      this.parsed.set(k, p);
    }
    return p;
  }

  /** The package's candidate: its highest version for this architecture (or `all`). */
  candidate(name: string): IndexedPackage | undefined {
    let best = this.best.get(name);
    if (best === undefined) {
      best = null;
      const at = this.byName.get(name);
      for (const k of at === undefined ? [] : typeof at === 'number' ? [at] : at) {
        const p = this.stanza(k);
        if (p.arch !== this.arch && p.arch !== 'all') continue;
        if (!best || compareCandidates(p, best) > 0) best = p;
      }
      this.best.set(name, best);
    }
    return best ?? undefined;
  }

  /** Candidates that provide `name` (with the provided version, when versioned). */
  providers(name: string): { pkg: IndexedPackage; version?: string }[] {
    const out: { pkg: IndexedPackage; version?: string }[] = [];
    for (const pr of this.provided.get(name) ?? []) {
      const pkg = this.candidate(pr.name);
      // A provider counts only through its candidate, and only if the candidate still provides it.
      if (!pkg || !parseProvides(pkg.provides).some((x) => x.name === name && x.version === pr.version)) continue;
      if (out.some((o) => o.pkg === pkg && o.version === pr.version)) continue;
      out.push(pr.version === undefined ? { pkg } : { pkg, version: pr.version });
    }
    return out;
  }

  /** Names of the candidates with `Priority: required` or `Essential: yes`, sorted. */
  required(): string[] {
    const names = new Set<string>();
    for (const k of new Set(this.requiredAt)) {
      const p = this.candidate(this.names[k]!);
      if (p && (p.priority === 'required' || p.essential)) names.add(p.name);
    }
    return [...names].sort();
  }

  get size(): number {
    return this.byName.size;
  }
}

/** Index of the stanza whose start is the last one at or before `pos` (binary search). */
function containing(starts: number[], pos: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function compareCandidates(a: IndexedPackage, b: IndexedPackage): number {
  const c = satisfies(a.version, '>>', b.version) ? 1 : satisfies(a.version, '<<', b.version) ? -1 : 0;
  // Same version twice (e.g. arch-specific and all): prefer the native architecture, deterministically.
  return c !== 0 ? c : a.arch === 'all' ? -1 : 1;
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

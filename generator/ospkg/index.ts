import { parsePackages, parseProvides, type IndexedPackage } from './control.js';
import { satisfies } from './version.js';

/** apt's order of Priority when it picks a provider of a virtual package. */
export const PRIORITY_RANK: Record<string, number> = { required: 0, important: 1, standard: 2, optional: 3, extra: 4 };

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

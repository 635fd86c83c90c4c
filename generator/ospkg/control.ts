import type { Relation } from './version.js';

/**
 * Debian control data (deb822): the stanzas of a `Packages` index and the fields of a `Release`
 * file, and the dependency syntax of Depends / Pre-Depends / Provides / Conflicts / Breaks.
 */

/** One binary package as a `Packages` index lists it. Only the fields the resolver reads are parsed. */
export interface IndexedPackage {
  name: string;
  version: string;
  arch: string;
  priority: string;
  essential: boolean;
  multiArch: string;
  depends: string;
  preDepends: string;
  provides: string;
  conflicts: string;
  breaks: string;
  filename: string;
  size: number;
  sha256: string;
  /** dpkg's `Status` (status files only), e.g. `install ok installed`. */
  status: string;
  /** The stanza as published (without its trailing blank line). */
  stanza: string;
}

type TextField =
  | 'name'
  | 'version'
  | 'arch'
  | 'priority'
  | 'multiArch'
  | 'depends'
  | 'preDepends'
  | 'provides'
  | 'conflicts'
  | 'breaks'
  | 'filename'
  | 'sha256'
  | 'status'
  | 'size'
  | 'essential';

/** The fields read, by first letter: most lines of an index (Description, MD5sum, Maintainer, …) are skipped without making a string. */
const FIELDS_BY_INITIAL: Record<string, [string, TextField][]> = {
  P: [
    ['Package:', 'name'],
    ['Priority:', 'priority'],
    ['Pre-Depends:', 'preDepends'],
    ['Provides:', 'provides'],
  ],
  V: [['Version:', 'version']],
  A: [['Architecture:', 'arch']],
  M: [['Multi-Arch:', 'multiArch']],
  D: [['Depends:', 'depends']],
  C: [['Conflicts:', 'conflicts']],
  B: [['Breaks:', 'breaks']],
  F: [['Filename:', 'filename']],
  S: [
    ['SHA256:', 'sha256'],
    ['Size:', 'size'],
    ['Status:', 'status'],
  ],
  E: [['Essential:', 'essential']],
};
const BY_CODE: ([string, TextField][] | undefined)[] = [];
for (const [initial, list] of Object.entries(FIELDS_BY_INITIAL)) BY_CODE[initial.charCodeAt(0)] = list;

/**
 * Every stanza of a `Packages` file. Written for speed (a Debian main index is about 50 MB and
 * 64,000 stanzas): one pass over the text, only the fields read are cut out, continuation lines
 * kept only for those (multi-line Depends are legal, if rare).
 */
export function parsePackages(text: string, onProblem?: (message: string) => void): IndexedPackage[] {
  const out: IndexedPackage[] = [];
  let pos = 0;
  const n = text.length;
  while (pos < n) {
    // Skip blank lines between stanzas.
    while (pos < n && text.charCodeAt(pos) === 0x0a) pos++;
    if (pos >= n) break;
    let end = text.indexOf('\n\n', pos);
    if (end < 0) end = n;
    const p: IndexedPackage = {
      name: '',
      version: '',
      arch: '',
      priority: '',
      essential: false,
      multiArch: 'no',
      depends: '',
      preDepends: '',
      provides: '',
      conflicts: '',
      breaks: '',
      filename: '',
      size: -1,
      sha256: '',
      status: '',
      stanza: text.slice(pos, text.charCodeAt(end - 1) === 0x0a ? end - 1 : end),
    };
    const fields = p as unknown as Record<string, string>;
    let line = pos;
    let last: TextField | null = null;
    while (line < end) {
      let eol = text.indexOf('\n', line);
      if (eol < 0 || eol > end) eol = end;
      const c = text.charCodeAt(line);
      if (c === 0x20 || c === 0x09) {
        if (last) fields[last] += ` ${text.slice(line, eol).trim()}`;
      } else {
        last = null;
        const candidates = BY_CODE[c];
        if (candidates) {
          for (const [key, field] of candidates) {
            if (!text.startsWith(key, line)) continue;
            const value = text.slice(line + key.length, eol).trim();
            if (field === 'size') p.size = Number(value);
            else if (field === 'essential') p.essential = value === 'yes';
            else {
              fields[field] = value;
              last = field;
            }
            break;
          }
        }
      }
      line = eol + 1;
    }
    if (p.name && p.version && p.arch) out.push(p);
    else onProblem?.(`a stanza without Package, Version or Architecture at offset ${pos}`);
    pos = end + 2;
  }
  return out;
}

/** A `Release`/`InRelease` body: its single-line fields and the SHA256 file list. */
export interface ReleaseFile {
  fields: Record<string, string>;
  /** Path below `dists/<suite>/` → size and sha256. */
  sha256: Map<string, { size: number; sha256: string }>;
}

export function parseRelease(text: string): ReleaseFile {
  const fields: Record<string, string> = {};
  const sha256 = new Map<string, { size: number; sha256: string }>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!line.trim()) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (section === 'SHA256') {
        const m = /^\s*([0-9a-fA-F]{64})\s+(\d+)\s+(\S+)\s*$/.exec(line);
        if (m) sha256.set(m[3]!, { size: Number(m[2]), sha256: m[1]!.toLowerCase() });
      }
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    section = line.slice(0, colon);
    fields[section] = line.slice(colon + 1).trim();
  }
  return { fields, sha256 };
}

/** One alternative of a dependency: `name[:arch] [(rel version)]`. */
export interface DepAtom {
  name: string;
  /** `any`, `native` or an architecture, when the dependency names one. */
  archQualifier?: string;
  relation?: Relation;
  version?: string;
}

/** A dependency: any one of its alternatives satisfies it. */
export type DepGroup = DepAtom[];

const ATOM = /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([0-9A-Za-z][^\s)]*)\s*\))?\s*(?:\[[^\]]*\])?\s*(?:<[^>]*>\s*)*$/;

/**
 * A Depends-style field: groups separated by `,`, alternatives by `|`. Architecture restrictions
 * (`[amd64]`) and build profiles (`<!nocheck>`) are accepted and dropped: binary indexes do not
 * carry them. A malformed atom throws, naming it.
 */
export function parseDepends(field: string): DepGroup[] {
  if (!field.trim()) return [];
  return field.split(',').map((group) =>
    group.split('|').map((alt) => {
      const m = ATOM.exec(alt.trim());
      if (!m) throw new Error(`malformed dependency '${alt.trim()}'`);
      const atom: DepAtom = { name: m[1]! };
      if (m[2]) atom.archQualifier = m[2];
      if (m[3]) {
        atom.relation = m[3] === '<' ? '<=' : m[3] === '>' ? '>=' : (m[3] as Relation);
        atom.version = m[4]!;
      }
      return atom;
    }),
  );
}

/**
 * Provides: `name[:arch] [(= version)]`, comma-separated. Cut by hand, not by the dependency
 * pattern: every index has thousands of these.
 */
export function parseProvides(field: string): { name: string; version?: string }[] {
  const out: { name: string; version?: string }[] = [];
  for (const part of field.split(',')) {
    const paren = part.indexOf('(');
    let name = (paren < 0 ? part : part.slice(0, paren)).trim();
    const colon = name.indexOf(':');
    if (colon >= 0) name = name.slice(0, colon);
    if (!name) continue;
    if (paren < 0) {
      out.push({ name });
      continue;
    }
    const m = /^\(\s*=\s*([^\s)]+)\s*\)/.exec(part.slice(paren));
    out.push(m ? { name, version: m[1]! } : { name });
  }
  return out;
}

/** The stanza with its Filename pointing at the file beside the index, as a flat repository has it. */
export function flatStanza(stanza: string, basename: string): string {
  return stanza.replace(/^Filename:.*$/m, `Filename: ./${basename}`);
}

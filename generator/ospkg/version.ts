/**
 * Debian version comparison (deb-version(7), Debian policy 5.6.12): `[epoch:]upstream[-revision]`,
 * compared epoch first (numerically), then upstream and revision each by alternating non-digit and
 * digit runs. In a non-digit run `~` sorts before everything, even the end of the string; letters
 * sort before other characters.
 */
export function compareVersions(a: string, b: string): number {
  if (a === b) return 0;
  const pa = split(a);
  const pb = split(b);
  if (pa.epoch !== pb.epoch) return pa.epoch < pb.epoch ? -1 : 1;
  return compareParts(pa.upstream, pb.upstream) || compareParts(pa.revision, pb.revision);
}

function split(v: string): { epoch: number; upstream: string; revision: string } {
  const colon = v.indexOf(':');
  const epoch = colon > 0 ? Number(v.slice(0, colon)) : 0;
  const rest = colon > 0 ? v.slice(colon + 1) : v;
  const dash = rest.lastIndexOf('-');
  // A version without a revision compares like revision "0" (dpkg's parseversion leaves it empty; both sort equal).
  return dash >= 0 ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) } : { epoch, upstream: rest, revision: '' };
}

function order(c: number): number {
  if (c === 0x7e) return -1; // '~'
  if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) return c; // letters
  return c + 256;
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

function compareParts(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let first = 0;
    // Non-digit run: character by character; the end of a run counts as 0 (after '~', before all else).
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const ac = i < a.length && !isDigit(a.charCodeAt(i)) ? order(a.charCodeAt(i)) : 0;
      const bc = j < b.length && !isDigit(b.charCodeAt(j)) ? order(b.charCodeAt(j)) : 0;
      if (ac !== bc) return ac < bc ? -1 : 1;
      i++;
      j++;
    }
    // Digit run: numerically, leading zeros ignored.
    while (a.charCodeAt(i) === 0x30) i++;
    while (b.charCodeAt(j) === 0x30) j++;
    while (i < a.length && isDigit(a.charCodeAt(i)) && j < b.length && isDigit(b.charCodeAt(j))) {
      if (!first) first = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && isDigit(a.charCodeAt(i))) return 1;
    if (j < b.length && isDigit(b.charCodeAt(j))) return -1;
    if (first) return first < 0 ? -1 : 1;
  }
  return 0;
}

export type Relation = '<<' | '<=' | '=' | '>=' | '>>';

/** Whether `version` stands in `relation` to `to` (`<` and `>` are the obsolete spellings of `<=` and `>=`). */
export function satisfies(version: string, relation: Relation, to: string): boolean {
  const c = compareVersions(version, to);
  switch (relation) {
    case '<<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '=':
      return c === 0;
    case '>=':
      return c >= 0;
    case '>>':
      return c > 0;
  }
}

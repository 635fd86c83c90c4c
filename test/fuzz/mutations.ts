import fc from 'fast-check';
import { isMap, isNode, isPair, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';

/**
 * Structure-aware mutations of a blueprint: the YAML is parsed into a document, and each mutation
 * picks one of its nodes (by an index taken modulo the nodes present at that moment) and deletes,
 * duplicates, retypes or aliases it; a few mutations then damage the text itself. Starting from
 * valid and nearly valid blueprints keeps most cases deep inside the rules instead of at the first
 * schema error.
 */

/** Strings that have broken parsers, shells, config files and terminals before. */
const ODD_STRINGS = [
  '',
  ' ',
  '\n',
  '\t',
  '\u0000',
  '\r\n',
  '10.0.0.1 iburst\nallow all',
  '../../../etc/shadow',
  '/dev/zero',
  '$(reboot)',
  '`id`',
  '"; rm -rf / #',
  '%post\nreboot\n%end',
  '#cloud-config',
  '{{ site.name }}',
  '{version}{bogus}',
  'http://user:pass@169.254.169.254/latest/meta-data/',
  'file:///etc/passwd',
  'ssh-ed25519 AAAA',
  'ff:ff:ff:ff:ff:ff',
  '127.0.0.1/8',
  '0.0.0.0/0',
  '255.255.255.255/32',
  '999.1.1.1/24',
  '1e3',
  '-1',
  '0x10',
  'NaN',
  'Infinity',
  'null',
  '~',
  'yes',
  'no',
  'on',
  '12:30',
  '0755',
  '\u202eevil',
  '\ufeffbom',
  'ünïcödé',
  '日本語',
  '🙂🙃',
  '\ud800',
  'a'.repeat(300),
  `${'x.'.repeat(200)}x`,
  'pool.ntp.org',
  'Europe/Berlin',
  'v1.34.2',
  'v1.20.2',
  '87600h',
  '70000000h',
  '9'.repeat(40) + 'h',
];

const NUMBERS = [0, -0, 1, -1, 2 ** 31, 2 ** 32, 2 ** 53 + 1, 1e308, -1e308, Number.MAX_SAFE_INTEGER, 0.5, Infinity, -Infinity, NaN];

/** A value to put somewhere it may not belong. */
const valueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(...ODD_STRINGS),
    fc.constantFrom(...NUMBERS),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom('name', 'address', 'roles', 'spec', 'version', '<<', '', ' '), fc.string({ maxLength: 8 })), tie('value'), {
      maxKeys: 3,
    }),
  ),
})).value;

export type Mutation =
  | { kind: 'delete'; at: number }
  | { kind: 'set'; at: number; value: unknown }
  | { kind: 'retext'; at: number; value: string }
  | { kind: 'duplicate-key'; at: number }
  | { kind: 'duplicate-item'; at: number }
  | { kind: 'rename-key'; at: number; name: string }
  | { kind: 'alias'; from: number; to: number }
  | { kind: 'laughs'; at: number; width: number; depth: number }
  | { kind: 'truncate'; fraction: number }
  | { kind: 'insert-text'; fraction: number; text: string }
  | { kind: 'second-document' }
  | { kind: 'deep'; at: number; depth: number };

/** Replacement text for a string field: odd on purpose, or arbitrary. */
const stringArb = fc.oneof(fc.constantFrom(...ODD_STRINGS), fc.string({ unit: 'binary', maxLength: 30 }), fc.string({ unit: 'grapheme-ascii', maxLength: 30 }));

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  // Weighted: a string field given other text passes the schema and reaches the rules.
  { arbitrary: fc.record({ kind: fc.constant('retext' as const), at: fc.nat(), value: stringArb }), weight: 6 },
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: valueArb }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: valueArb }),
  fc.record({ kind: fc.constant('duplicate-key' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate-item' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('rename-key' as const),
    at: fc.nat(),
    name: fc.oneof(fc.constantFrom('nodes', 'node', 'adress', 'ntpservers', 'spec', 'apiVersion', '<<', 'roles'), fc.string({ maxLength: 10 })),
  }),
  fc.record({ kind: fc.constant('alias' as const), from: fc.nat(), to: fc.nat() }),
  fc.record({ kind: fc.constant('laughs' as const), at: fc.nat(), width: fc.integer({ min: 2, max: 12 }), depth: fc.integer({ min: 1, max: 9 }) }),
  fc.record({ kind: fc.constant('truncate' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({
    kind: fc.constant('insert-text' as const),
    fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    text: fc.oneof(
      fc.constantFrom(...ODD_STRINGS, ':', '- ', '{', '[', '&a ', '*a', '!!binary ', '!!js/function ', '? ', '|\n', '>-\n', '\t'),
      fc.string({ unit: 'binary', maxLength: 12 }),
    ),
  }),
  fc.constant({ kind: 'second-document' as const }),
  fc.record({ kind: fc.constant('deep' as const), at: fc.nat(), depth: fc.integer({ min: 2, max: 200 }) }),
);

export interface FuzzCase {
  base: number;
  mutations: Mutation[];
}

/** Cases over `bases` blueprints of which the first `valid` are valid: those are the start half the time. */
export function caseArb(bases: number, valid: number): fc.Arbitrary<FuzzCase> {
  return fc.record({
    base: fc.oneof(fc.nat({ max: valid - 1 }), fc.nat({ max: bases - 1 })),
    mutations: fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
  });
}

interface Located {
  node: Node;
  /** The collection holding it and its place there, absent for the root. */
  parent?: { collection: Node; index: number };
}

/** Every node of the document with its parent, in document order. */
function nodesOf(doc: Document): Located[] {
  const out: Located[] = [];
  if (!isNode(doc.contents)) return out;
  const walk = (node: Node, parent?: Located['parent']) => {
    out.push({ node, ...(parent ? { parent } : {}) });
    if (isMap(node)) {
      node.items.forEach((pair, index) => {
        if (isNode(pair.value)) walk(pair.value, { collection: node, index });
      });
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        if (isNode(item)) walk(item, { collection: node, index });
      });
    }
  };
  walk(doc.contents);
  return out;
}

const maps = (doc: Document) => nodesOf(doc).filter((l) => isMap(l.node));
const seqs = (doc: Document) => nodesOf(doc).filter((l) => isSeq(l.node));
const pick = <T>(list: T[], at: number): T | undefined => (list.length ? list[at % list.length] : undefined);

/** Puts `value` in the place `loc` holds (the root when it has no parent). */
function replace(doc: Document, loc: Located, value: unknown): void {
  const node = isNode(value) ? value : doc.createNode(value);
  if (!loc.parent) doc.contents = node;
  else if (isMap(loc.parent.collection)) loc.parent.collection.items[loc.parent.index]!.value = node;
  else if (isSeq(loc.parent.collection)) loc.parent.collection.items[loc.parent.index] = node;
}

function applyToDocument(doc: Document, m: Mutation): void {
  switch (m.kind) {
    case 'delete': {
      const loc = pick(
        nodesOf(doc).filter((l) => l.parent),
        m.at,
      );
      if (!loc?.parent) return;
      const items = (loc.parent.collection as unknown as { items: unknown[] }).items;
      items.splice(loc.parent.index, 1);
      return;
    }
    case 'set': {
      const loc = pick(nodesOf(doc), m.at);
      if (loc) replace(doc, loc, m.value);
      return;
    }
    case 'retext': {
      const loc = pick(
        nodesOf(doc).filter((l) => isScalar(l.node) && typeof l.node.value === 'string'),
        m.at,
      );
      if (loc && isScalar(loc.node)) loc.node.value = m.value;
      return;
    }
    case 'duplicate-key': {
      const map = pick(maps(doc), m.at)?.node;
      if (!isMap(map) || !map.items.length) return;
      const pair = map.items[m.at % map.items.length]!;
      map.items.push(pair.clone ? pair.clone() : pair);
      return;
    }
    case 'duplicate-item': {
      const seq = pick(seqs(doc), m.at)?.node;
      if (!isSeq(seq) || !seq.items.length) return;
      const item = seq.items[m.at % seq.items.length];
      seq.items.push(isNode(item) ? item.clone() : item);
      return;
    }
    case 'rename-key': {
      const map = pick(maps(doc), m.at)?.node;
      if (!isMap(map) || !map.items.length) return;
      const pair = map.items[m.at % map.items.length]!;
      if (isPair(pair)) pair.key = doc.createNode(m.name);
      return;
    }
    case 'alias': {
      const all = nodesOf(doc);
      const target = pick(all, m.from);
      const place = pick(all, m.to);
      if (!target || !place || target === place) return;
      target.node.anchor ??= `a${m.from % 1000}`;
      replace(doc, place, doc.createAlias(target.node as Parameters<Document['createAlias']>[0]));
      return;
    }
    case 'laughs': {
      // A billion-laughs tower of the given width and depth under one field.
      const loc = pick(nodesOf(doc), m.at);
      if (!loc) return;
      let level = doc.createNode(Array(m.width).fill('lol')) as Node;
      level.anchor = 'l0';
      const levels: Node[] = [level];
      for (let d = 1; d <= m.depth; d++) {
        const next = doc.createNode(Array(m.width).fill(null)) as unknown as { items: unknown[]; anchor?: string };
        next.items = Array.from({ length: m.width }, () => doc.createAlias(level as Parameters<Document['createAlias']>[0]));
        next.anchor = `l${d}`;
        level = next as unknown as Node;
        levels.push(level);
      }
      replace(doc, loc, doc.createNode(levels));
      return;
    }
    case 'deep': {
      const loc = pick(nodesOf(doc), m.at);
      if (!loc) return;
      let v: unknown = 'x';
      for (let d = 0; d < m.depth; d++) v = d % 2 ? [v] : { a: v };
      replace(doc, loc, v);
      return;
    }
    default:
      return;
  }
}

function applyToText(text: string, m: Mutation): string {
  switch (m.kind) {
    case 'truncate':
      return text.slice(0, Math.floor(text.length * m.fraction));
    case 'insert-text': {
      const at = Math.floor(text.length * m.fraction);
      return text.slice(0, at) + m.text + text.slice(at);
    }
    case 'second-document':
      return `${text}\n---\n${text}`;
    default:
      return text;
  }
}

const TEXT_MUTATIONS = new Set<Mutation['kind']>(['truncate', 'insert-text', 'second-document']);

/** The blueprint text a case stands for: document mutations first, then text damage. */
export function render(bases: readonly string[], c: FuzzCase): string {
  const doc = parseDocument(bases[c.base]!, { uniqueKeys: false });
  // A base that is broken YAML on purpose (the corpus has some) only takes text damage.
  if (doc.errors.length) return c.mutations.filter((x) => TEXT_MUTATIONS.has(x.kind)).reduce(applyToText, bases[c.base]!);
  for (const m of c.mutations.filter((x) => !TEXT_MUTATIONS.has(x.kind))) {
    const before = doc.clone();
    try {
      applyToDocument(doc, m);
      doc.toString();
    } catch {
      // A mutation the yaml library cannot write (an alias before its anchor): undo it.
      doc.contents = before.contents;
    }
  }
  let text = doc.toString();
  for (const m of c.mutations.filter((x) => TEXT_MUTATIONS.has(x.kind))) text = applyToText(text, m);
  return text;
}

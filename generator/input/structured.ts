import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { core, ZodType } from 'zod';
import type { Issue } from '../model/index.js';
import { PositionIndex, joinPath, pathFromSegments } from './positions.js';
import { didYouMean } from './suggest.js';

const MAX_SYNTAX_ERRORS = 5;
/**
 * Blueprints and catalog files are a few kilobytes; a site of a thousand nodes stays under 300 KiB.
 * Past this the text is a mistake (a binary, a log) or an attack, and parsing it would only burn time.
 */
export const MAX_YAML_BYTES = 1024 * 1024;
/**
 * Alias nodes expanded while building the data. Blueprints need none; the limit stops a
 * "billion laughs" document (nine aliases of nine aliases of …) from expanding into gigabytes.
 */
export const MAX_YAML_ALIASES = 100;
/** Blueprints nest six levels deep; the limit keeps every recursive walk (ours, yaml's, zod's) far from the stack's end. */
export const MAX_YAML_DEPTH = 64;

const NESTING_HINT = 'a blueprint nests a few levels deep; check for unclosed brackets';

/** The yaml library's wording for the cases an operator meets, in ours. */
const SYNTAX_WORDING: Partial<Record<string, { message?: string; hint: string }>> = {
  DUPLICATE_KEY: { hint: 'each key may appear once in a mapping' },
  MULTIPLE_DOCS: {
    message: 'the file holds more than one YAML document',
    hint: "a blueprint is one document: remove this '---' line and what follows, or move it to a file of its own",
  },
  RESOURCE_EXHAUSTION: { message: 'the YAML nests too deeply to be read', hint: NESTING_HINT },
};

export interface StructuredResult<T> {
  value?: T;
  issues: Issue[];
  positions?: PositionIndex;
}

/**
 * YAML text checked against a zod schema: every syntax and schema problem, each with its
 * line:col. `knownKeysAt` lists the allowed field names at a path, for "did you mean" hints.
 */
export function parseStructured<T>(
  text: string,
  file: string,
  schema: ZodType<T>,
  knownKeysAt: (segments: readonly PropertyKey[]) => string[],
): StructuredResult<T> {
  const issues: Issue[] = [];
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_YAML_BYTES) {
    issues.push({
      rule: 'yaml-size',
      severity: 'error',
      path: '',
      file,
      line: 1,
      col: 1,
      message: `the file is ${bytes} bytes, more than the ${MAX_YAML_BYTES} a blueprint or catalog file may have`,
      hint: 'is this the right file?',
    });
    return { issues };
  }
  const lineCounter = new LineCounter();
  // logLevel error: the yaml library's warnings would reach stderr as Node process warnings.
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true, logLevel: 'error' });
  // Running out of stack is reported at every level it unwinds through: the first says it all.
  const exhausted = doc.errors.find((e) => e.code === 'RESOURCE_EXHAUSTION');
  const errors = exhausted ? [exhausted] : doc.errors;
  // After the first few, syntax errors are mostly one mistake echoed; the rest would bury it.
  for (const e of errors.slice(0, MAX_SYNTAX_ERRORS)) {
    const lp = e.linePos?.[0];
    const wording = SYNTAX_WORDING[e.code];
    issues.push({
      rule: 'yaml-syntax',
      severity: 'error',
      path: '',
      message: wording?.message ?? e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
      hint: wording?.hint ?? 'fix the YAML syntax',
      file,
      ...(lp ? { line: lp.line, col: lp.col } : {}),
    });
  }
  if (errors.length > MAX_SYNTAX_ERRORS) {
    issues.push({
      rule: 'yaml-syntax',
      severity: 'error',
      path: '',
      file,
      message: `${errors.length - MAX_SYNTAX_ERRORS} more syntax error(s) follow from the ones above`,
      hint: 'fix the first error and run again',
    });
  }
  if (issues.length) return { issues };

  const deep = tooDeep(doc.contents);
  if (deep) {
    issues.push({
      rule: 'yaml-syntax',
      severity: 'error',
      path: '',
      file,
      ...(deep.range ? lineCounter.linePos(deep.range[0]) : { line: 1, col: 1 }),
      message: `the YAML nests more than ${MAX_YAML_DEPTH} levels deep`,
      hint: NESTING_HINT,
    });
    return { issues };
  }
  const oddKey = collectionKey(doc.contents);
  if (oddKey) {
    issues.push({
      rule: 'yaml-syntax',
      severity: 'error',
      path: '',
      file,
      ...(oddKey.range ? lineCounter.linePos(oddKey.range[0]) : { line: 1, col: 1 }),
      message: 'a mapping key is not a plain name (a list, a mapping, an alias or a tagged value)',
      hint: 'keys are plain names',
    });
    return { issues };
  }
  const positions = new PositionIndex(doc, lineCounter);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    // The yaml library throws a ReferenceError when aliases expand past the limit.
    if (!(e instanceof ReferenceError)) throw e;
    issues.push({
      rule: 'yaml-aliases',
      severity: 'error',
      path: '',
      file,
      ...firstAlias(doc, lineCounter),
      message: `aliases expand past the limit of ${MAX_YAML_ALIASES}`,
      hint: 'write the values out; a blueprint needs no anchors or aliases',
    });
    return { issues, positions };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    issues.push({ rule: 'schema', severity: 'error', path: '', message: 'the document must be a YAML mapping', file, line: 1, col: 1 });
    return { issues, positions };
  }
  const result = schema.safeParse(data, { reportInput: true });
  if (result.success) return { value: result.data, issues, positions };
  for (const zi of result.error.issues) issues.push(...schemaIssues(zi, file, positions, knownKeysAt));
  return { issues, positions };
}

/** The first node nested deeper than the limit, found without recursion. */
function tooDeep(root: unknown): Node | undefined {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (isMap(node) || isSeq(node)) {
      if (depth >= MAX_YAML_DEPTH) return node;
      for (const item of node.items as unknown[]) {
        if (isPair(item)) stack.push([item.key, depth + 1], [item.value, depth + 1]);
        else stack.push([item, depth + 1]);
      }
    }
  }
  return undefined;
}

/** The first mapping key that is not a plain name (a collection, an alias, a tagged binary), found without recursion. */
function collectionKey(root: unknown): Node | undefined {
  const stack: unknown[] = [root];
  while (stack.length) {
    const node = stack.pop();
    if (isMap(node)) {
      for (const item of node.items) {
        const key = item.key;
        // A tagged scalar key (`!!binary …:`) becomes an object too.
        if (isMap(key) || isSeq(key) || isAlias(key) || (isScalar(key) && typeof key.value === 'object' && key.value !== null)) return key;
        stack.push(item.value);
      }
    } else if (isSeq(node)) stack.push(...node.items);
  }
  return undefined;
}

function firstAlias(doc: Document, lines: LineCounter): { line: number; col: number } {
  let at: { line: number; col: number } = { line: 1, col: 1 };
  visit(doc, {
    Alias(_key, node) {
      if (node.range) at = lines.linePos(node.range[0]);
      return visit.BREAK;
    },
  });
  return at;
}

function schemaIssues(zi: core.$ZodIssue, file: string, positions: PositionIndex, knownKeysAt: (segments: readonly PropertyKey[]) => string[]): Issue[] {
  const path = pathFromSegments(zi.path);
  const at = (p: string) => ({ file, ...positions.valueAt(p) });
  switch (zi.code) {
    case 'unrecognized_keys': {
      const known = knownKeysAt(zi.path);
      return zi.keys.map((key) => {
        const keyPath = joinPath(path, key);
        return {
          rule: 'unknown-field',
          severity: 'error' as const,
          path: keyPath,
          message: `unknown field '${key}'`,
          hint: didYouMean(key, known) || 'remove it',
          file,
          ...positions.keyAt(keyPath),
        };
      });
    }
    case 'invalid_type': {
      const missing = zi.input === undefined;
      return [
        {
          rule: missing ? 'required-field' : 'wrong-type',
          severity: 'error',
          path,
          message: missing ? 'required field is missing' : `expected ${zi.expected}, got ${describe(zi.input)}`,
          hint: missing ? `add '${String(zi.path.at(-1))}'` : `write ${/^[aeiou]/.test(zi.expected) ? 'an' : 'a'} ${zi.expected}`,
          ...at(path),
        },
      ];
    }
    case 'invalid_value': {
      const allowed = zi.values.map(String);
      const typo = typeof zi.input === 'string' ? didYouMean(zi.input, allowed) : '';
      return [
        {
          rule: 'invalid-value',
          severity: 'error',
          path,
          message: `${describe(zi.input)} is not allowed`,
          hint: (typo.startsWith('did') ? `${typo} ` : '') + `allowed: ${allowed.join(', ')}`,
          ...at(path),
        },
      ];
    }
    case 'invalid_format':
      return [{ rule: 'invalid-format', severity: 'error', path, message: `${describe(zi.input)} ${zi.message}`, ...at(path) }];
    case 'too_small': {
      const message =
        zi.origin === 'array' ? `needs at least ${zi.minimum} item(s)` : zi.origin === 'string' ? 'must not be empty' : `must be at least ${zi.minimum}`;
      return [{ rule: 'too-small', severity: 'error', path, message, ...at(path) }];
    }
    default:
      return [{ rule: 'schema', severity: 'error', path, message: zi.message, ...at(path) }];
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${v}`;
  return typeof v;
}

interface Def {
  type: string;
  [k: string]: unknown;
}

function defOf(node: unknown): Def | undefined {
  return (node as { _zod?: { def?: Def } } | undefined)?._zod?.def;
}

function unwrap(node: unknown): unknown {
  let def = defOf(node);
  while (def && ['optional', 'default', 'prefault', 'nullable'].includes(def.type)) {
    node = def.innerType;
    def = defOf(node);
  }
  return node;
}

/** Field names a zod object schema allows at a path (through arrays, records and defaults). */
export function keysOfSchemaAt(schema: unknown, segments: readonly PropertyKey[]): string[] {
  let node: unknown = schema;
  for (const seg of segments) {
    const def = defOf(unwrap(node));
    if (def?.type === 'object' && typeof seg === 'string') node = (def.shape as Record<string, unknown>)[seg];
    else if (def?.type === 'array' && typeof seg === 'number') node = def.element;
    else if (def?.type === 'record') node = def.valueType;
    else return [];
  }
  const def = defOf(unwrap(node));
  return def?.type === 'object' ? Object.keys(def.shape as object) : [];
}

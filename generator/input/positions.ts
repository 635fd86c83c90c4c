import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node } from 'yaml';

export interface Position {
  line: number;
  col: number;
}

/**
 * Maps field paths (`spec.nodes[1].address`) to where they stand in the YAML text, so that
 * every issue can name a line:col. A key's own position is kept separately for unknown-key issues.
 */
export class PositionIndex {
  private readonly values = new Map<string, number>();
  private readonly keys = new Map<string, number>();

  constructor(
    doc: Document,
    private readonly lines: LineCounter,
  ) {
    if (doc.contents) this.walk(doc.contents, '');
  }

  private walk(node: Node, path: string): void {
    if (node.range) this.values.set(path, node.range[0]);
    if (isMap(node)) {
      for (const item of node.items) {
        if (!isPair(item) || !isScalar(item.key)) continue;
        const child = joinPath(path, String(item.key.value));
        if (item.key.range) this.keys.set(child, item.key.range[0]);
        if (item.value && typeof item.value === 'object' && 'range' in item.value) {
          this.walk(item.value as Node, child);
        } else if (item.key.range) {
          // `key:` with no value: point at the key.
          this.values.set(child, item.key.range[0]);
        }
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        if (item && typeof item === 'object' && 'range' in item) this.walk(item as Node, `${path}[${i}]`);
      });
    }
  }

  /** Position of the value at `path`, or of its nearest ancestor that exists in the text. */
  valueAt(path: string): Position {
    return this.lookup(this.values, path);
  }

  /** Position of the key at `path` (for unknown keys), falling back to its value. */
  keyAt(path: string): Position {
    const off = this.keys.get(path);
    return off === undefined ? this.valueAt(path) : this.pos(off);
  }

  has(path: string): boolean {
    return this.values.has(path);
  }

  private lookup(map: Map<string, number>, path: string): Position {
    let p: string | null = path;
    while (p !== null) {
      const off = map.get(p);
      if (off !== undefined) return this.pos(off);
      p = parentPath(p);
    }
    return { line: 1, col: 1 };
  }

  private pos(offset: number): Position {
    const lp = this.lines.linePos(offset);
    return { line: lp.line, col: lp.col };
  }
}

export function joinPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

export function pathFromSegments(segments: readonly PropertyKey[]): string {
  return segments.reduce<string>((acc, s) => joinPath(acc, typeof s === 'number' ? s : String(s)), '');
}

export function parentPath(path: string): string | null {
  if (path === '') return null;
  const m = /^(.*)(\[\d+\]|\.[^.[\]]+)$/.exec(path);
  if (m) return m[1]!;
  return '';
}

import { parseStructured } from '../input/structured.js';
import type { PositionIndex } from '../input/positions.js';
import type { Issue } from '../model/index.js';
import { knownKeysAt, siteSchema, type WrittenSite } from './schema.js';

export interface ParsedSite {
  file: string;
  /** Present when the document is well-formed YAML and matches the schema. */
  site?: WrittenSite;
  issues: Issue[];
  positions?: PositionIndex;
}

/** YAML text → written site with defaults, or every structural problem with its line:col. */
export function parseSite(text: string, file: string): ParsedSite {
  const r = parseStructured(text, file, siteSchema, knownKeysAt);
  return { file, issues: r.issues, ...(r.value ? { site: r.value } : {}), ...(r.positions ? { positions: r.positions } : {}) };
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TemplateSources } from '../text/template.js';
import { realFs } from './fs.js';

/** Every `*.hbs` below the templates directory, by name without the extension. */
export async function readTemplates(dir: string): Promise<TemplateSources> {
  const out: TemplateSources = {};
  for (const rel of await realFs.listFiles(dir)) {
    if (rel.endsWith('.hbs')) out[rel.slice(0, -4)] = await readFile(join(dir, rel), 'utf8');
  }
  return out;
}

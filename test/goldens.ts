import { join } from 'node:path';
import { realFs } from '../generator/io/fs.js';
import { loadSite } from '../generator/pipeline/load.js';
import { buildPlan } from '../generator/plan/index.js';
import { repoRoot } from './helpers.js';

/**
 * Golden files: the exact text each should hold, keyed by path under test/golden. The test
 * compares, `npm run golden` (scripts/update-golden.mjs) rewrites them for review in the diff.
 * Absolute paths are replaced by <repo> so the files hold on any checkout.
 */
export async function renderGoldens(): Promise<Record<string, string>> {
  const loaded = await loadSite(realFs, { site: 'lab1', cwd: repoRoot, root: repoRoot });
  if (!loaded.resolved || !loaded.catalog) throw new Error(`lab1 does not resolve: ${JSON.stringify(loaded.issues)}`);
  const plan = buildPlan(loaded.resolved, loaded.catalog);
  return {
    'lab1/resolved.json': stable(loaded.resolved),
    'lab1/plan.json': stable(plan),
  };
}

function stable(value: unknown): string {
  return JSON.stringify(value, null, 2).replaceAll(repoRoot, '<repo>') + '\n';
}

export const goldenDir = join(repoRoot, 'test', 'golden');

import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { repoRoot, runCli, runCliAsync } from './helpers.js';
import { ecdsa, lab1, type SiteEdit } from './sites.js';

/**
 * A work directory with lab1 as an ECDSA site (keys in microseconds, so a CLI run costs its
 * start-up only) and the repository's catalog; `gen` runs the CLI there.
 */
export interface Work {
  dir: string;
  site: string;
  args: string[];
  gen(cmd: string, extra?: string[], env?: Record<string, string>): { code: number | null; stdout: string; stderr: string };
  genAsync(cmd: string, extra?: string[], env?: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** output/lab1/state */
  state: string;
  dist: string;
}

/** lab1 with ECDSA keys and `edits`, as blueprint text. */
export function ecdsaLab1(...edits: SiteEdit[]): string {
  const site = lab1();
  for (const edit of [ecdsa, ...edits]) edit(site);
  return stringify(site);
}

export function makeWork(roots: string[], ...edits: SiteEdit[]): Work {
  const dir = mkdtempSync(join(tmpdir(), 'kubeseed-state-it-'));
  roots.push(dir);
  const site = join(dir, 'lab1.yaml');
  writeFileSync(site, ecdsaLab1(...edits));
  const args = ['--site', site, '--catalog', join(repoRoot, 'blueprints', 'catalog')];
  return {
    dir,
    site,
    args,
    state: join(dir, 'output', 'lab1', 'state'),
    dist: join(dir, 'output', 'lab1', 'dist'),
    gen: (cmd, extra = [], env = {}) => runCli([cmd, ...args, ...extra], { cwd: dir, env }),
    genAsync: (cmd, extra = [], env = {}) => runCliAsync([cmd, ...args, ...extra], { cwd: dir, env }),
  };
}

export const firstLine = (text: string) => text.split('\n').find((l) => l.trim() !== '') ?? '';

/** The first line after gen bundle's stage headers (`[3/6] PKI`). */
export const firstAfterStages = (text: string) => firstLine(text.replace(/^\[\d\/\d\] .*\n/gm, ''));

/** path → "mode sha-of-content" (symlinks as "-> target") of every entry below `dir`. */
export function listing(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath, e.name);
    const rel = p.slice(dir.length + 1);
    if (e.isSymbolicLink()) out[rel] = `-> ${readlinkSync(p)}`;
    else if (e.isFile()) out[rel] = `${(statSync(p).mode & 0o777).toString(8)} ${readFileSync(p).toString('base64')}`;
    else if (e.isDirectory()) out[`${rel}/`] = (statSync(p).mode & 0o777).toString(8);
  }
  return out;
}

export function cleanup(roots: string[]): void {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
}

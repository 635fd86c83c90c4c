import { spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realFs } from '../generator/io/fs.js';
import { readCatalog } from '../generator/pipeline/load.js';
import type { Catalog } from '../generator/model/index.js';

/** Tests run from dist/test/…; the repository is two levels above this file's directory. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = join(repoRoot, 'dist', 'generator', 'cli', 'main.js');

/** The day the tests check sites on: the end-of-life rules read it through the clock port. */
export const TODAY = new Date('2026-11-28T12:00:00Z');
export const testClock = { now: () => TODAY };

export function readRepo(rel: string): string {
  return readFileSync(join(repoRoot, rel), 'utf8');
}

export async function loadDefaultCatalog(): Promise<Catalog> {
  const r = await readCatalog(realFs, join(repoRoot, 'blueprints', 'catalog'));
  if (!r.catalog) throw new Error(JSON.stringify(r.issues, null, 2));
  return r.catalog;
}

export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Heavy test fixtures live outside the work tree so that fresh clones on this machine reuse them. */
export const fixtureCache = process.env.KUBESEED_FIXTURES ?? '/var/cache/kubeseed';
export const toolsDir = join(fixtureCache, 'tools');
/** Debian's kubectl, unpacked by scripts/setup-test-tools.sh. */
export const debianKubectl = join(toolsDir, 'kubernetes-client', 'usr', 'bin', 'kubectl');

/** A spawned process's exit code and everything it wrote, once it has closed. */
export async function exitAndOutput(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  return { code, stdout, stderr };
}

/** runCli without blocking this process: for tests whose servers run in the test process itself. */
export async function runCliAsync(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: opts.cwd ?? repoRoot, env: { ...process.env, NO_COLOR: '1', ...opts.env } });
  return exitAndOutput(child);
}

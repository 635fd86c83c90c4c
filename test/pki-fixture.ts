import { cpSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realCrypto } from '../generator/io/crypto.js';
import type { ResolvedSite } from '../generator/model/index.js';
import { certsStage } from '../generator/pipeline/certs.js';
import type { PkiOptions } from '../generator/pki/issue.js';

export const clockAt = (d: Date) => ({ now: () => d });

/** Generates (or updates) a site's state in `dir` with the real crypto adapter. */
export async function makeState(site: ResolvedSite, dir = mkdtempSync(join(tmpdir(), 'kubeseed-state-')), opts: PkiOptions = {}, now = new Date()) {
  const r = await certsStage(site, join(dir, 'state'), { crypto: realCrypto, clock: clockAt(now) }, opts);
  return { ...r, dir: join(dir, 'state'), root: dir };
}

/** Turns a state with revisions into the loose layout of states written before them (no manifest). */
export function flattenState(dir: string): void {
  const rev = join(dir, readlinkSync(join(dir, 'current')));
  cpSync(rev, dir, { recursive: true });
  rmSync(join(dir, 'manifest.json'));
  rmSync(join(dir, 'current'));
  rmSync(rev, { recursive: true });
}

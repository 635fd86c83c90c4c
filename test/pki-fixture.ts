import { cpSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realCrypto } from '../generator/io/crypto.js';
import type { Catalog, Issue, ResolvedSite } from '../generator/model/index.js';
import { certsStage } from '../generator/pipeline/certs.js';
import type { PkiOptions } from '../generator/pki/issue.js';
import { checkSite, parseSite, resolveSite } from '../generator/site/index.js';
import { readRepo } from './helpers.js';

export function siteFromLab1(catalog: Catalog, edit: (text: string) => string = (x) => x, opts: { loopbackNodes?: boolean } = {}): ResolvedSite {
  const parsed = parseSite(edit(readRepo('blueprints/sites/lab1.yaml')), 'lab1.yaml');
  const r = checkSite(parsed, catalog);
  if (r.resolved) return r.resolved;
  // Tests that run real servers put the nodes on 127.0.0.0/8 (test traffic stays on loopback),
  // which no real site may do: that one rule is waived for them, nothing else.
  const waived = (i: Issue) => opts.loopbackNodes === true && i.rule === 'node-address-valid' && i.message.includes('loopback');
  if (!opts.loopbackNodes || !parsed.site || r.issues.some((i) => i.severity === 'error' && !waived(i))) throw new Error(JSON.stringify(r.issues, null, 2));
  return resolveSite(parsed.site, catalog, 'lab1.yaml');
}

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

import { join, resolve } from 'node:path';
import type { ClockPort, CryptoPort, ResolvedSite } from '../model/index.js';
import { ensurePki, type PkiOptions, type PkiResult } from '../pki/issue.js';
import { readState, replaceState, writeStateChanges } from '../io/state.js';

export interface StateLocation {
  /** `--state DIR`, else `<out>/<site>/state`. */
  state?: string;
  out?: string;
  cwd: string;
}

export function stateDir(site: ResolvedSite, loc: StateLocation): string {
  if (loc.state) return resolve(loc.cwd, loc.state);
  return join(resolve(loc.cwd, loc.out ?? 'output'), site.name, 'state');
}

/** Load-or-create the PKI in the state directory; writes only what changed. */
export async function certsStage(site: ResolvedSite, dir: string, ports: { crypto: CryptoPort; clock: ClockPort }, opts: PkiOptions): Promise<PkiResult & { previous: string | null }> {
  const existing = await readState(dir);
  const result = await ensurePki(site, existing, ports, opts);
  let previous: string | null = null;
  if (opts.rotateCa) previous = await replaceState(dir, result.files, Math.floor(ports.clock.now().getTime() / 1000));
  else if (result.changed.length) await writeStateChanges(dir, result.files, result.changed);
  return { ...result, previous };
}

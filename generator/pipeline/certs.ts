import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError, type ClockPort, type CryptoPort, type ResolvedSite } from '../model/index.js';
import { ensurePki, renewablePairs, type PkiOptions, type PkiResult } from '../pki/issue.js';
import { rotationRefusal } from '../pki/rotation.js';
import { withLock } from '../io/lock.js';
import { checkStatePlacement } from '../io/placement.js';
import { commitState, copyState, openState, removePartialCopies, type OpenedState } from '../io/state.js';

export interface StateLocation {
  /** `--state DIR`, else `<out>/<site>/state`. */
  state?: string;
  out?: string;
  cwd: string;
}

/** `<out>/<site>`: the site's output directory (dist, payload cache). */
export function outputDir(site: ResolvedSite, loc: StateLocation): string {
  return join(resolve(loc.cwd, loc.out ?? 'output'), site.name);
}

export function stateDir(site: ResolvedSite, loc: StateLocation): string {
  return stateDirOf(site.name, loc);
}

/** The state directory of the site named `name` (before the site resolves: gen validate's running-site rules). */
export function stateDirOf(name: string, loc: StateLocation): string {
  if (loc.state) return resolve(loc.cwd, loc.state);
  return join(resolve(loc.cwd, loc.out ?? 'output'), name, 'state');
}

/** The state directory for this site and location, refused when the output could destroy it. */
export async function placedStateDir(site: ResolvedSite, loc: StateLocation): Promise<string> {
  const dir = stateDir(site, loc);
  await checkStatePlacement(dir, outputDir(site, loc));
  return dir;
}

export interface CertsStageOptions extends PkiOptions {
  /** Progress and notes (lock waits, modes tightened, leftovers removed, adoption). */
  say?: (line: string) => void;
}

export interface CertsStageResult extends PkiResult {
  /** Where `--rotate-ca` kept the state it replaced. */
  previous: string | null;
  /** The committed revision after this run. */
  revision: number;
  /** What the run found and did to the state besides certificates. */
  notes: string[];
}

/**
 * Damage is never repaired silently: a member missing or changed is an error naming it, except
 * what the command replaces anyway (every member with --rotate-ca, leaf pairs with --renew).
 */
function applyDamagePolicy(site: ResolvedSite, st: OpenedState, opts: PkiOptions, warnings: string[]): Set<string> {
  const damaged = new Set<string>();
  if (!st.damage.length || opts.rotateCa) {
    for (const d of st.damage) warnings.push(`state file ${d.path} ${d.what}; replaced by --rotate-ca`);
    return damaged;
  }
  const pairs = opts.renew ? renewablePairs(site) : new Map<string, { crt: string; key: string }>();
  const fatal = st.damage.filter((d) => !pairs.has(d.path));
  if (fatal.length) {
    const rest = fatal.slice(1).map((d) => d.path);
    const more = rest.length === 0 ? '' : rest.length <= 3 ? ` (and ${rest.join(', ')})` : ` (and ${rest.length} more: ${rest.slice(0, 3).join(', ')}, …)`;
    throw new InputError(
      `state file ${fatal[0]!.path} ${fatal[0]!.what}${more}`,
      [],
      'restore the state from a backup; kubeseed never replaces a damaged state silently (--renew reissues damaged leaf certificates, --rotate-ca starts a new PKI)',
    );
  }
  for (const d of st.damage) {
    const p = pairs.get(d.path)!;
    damaged.add(p.crt).add(p.key);
    warnings.push(`state file ${d.path} ${d.what}; reissued by --renew`);
  }
  return damaged;
}

/**
 * Load-or-create the PKI in the state directory, under the state's lock: read and check the
 * committed revision, decide, and commit a new revision only when something changed (or to adopt
 * a state written before revisions). `--rotate-ca` first keeps the old state as `<dir>.prev-<time>`.
 */
export async function certsStage(
  site: ResolvedSite,
  dir: string,
  ports: { crypto: CryptoPort; clock: ClockPort },
  opts: CertsStageOptions,
): Promise<CertsStageResult> {
  return withLock(dir, { what: 'the site state', ...(opts.say ? { say: opts.say } : {}) }, async () => {
    const st = await openState(dir);
    if (opts.rotateCa) {
      const refusal = rotationRefusal(site, st.files, ports.clock.now(), dir);
      if (refusal) throw refusal;
    }
    const notes = [...st.notes];
    const early: string[] = [];
    const damaged = applyDamagePolicy(site, st, opts, early);
    const result = await ensurePki(site, st.files.size ? st.files : null, ports, { ...opts, damaged });
    result.warnings.unshift(...st.warnings, ...early);
    const adopt = st.layout === 'legacy' && !opts.rotateCa;
    let previous: string | null = null;
    let revision = st.revision;
    for (const gone of await removePartialCopies(dir)) notes.push(`removed ${gone}, a copy left unfinished by a run that stopped`);
    if (opts.rotateCa && st.layout !== 'empty') {
      previous = `${dir}.prev-${Math.floor(ports.clock.now().getTime() / 1000)}`;
      if (await stat(previous).catch(() => null)) previous = `${previous}-${process.pid}`;
      await copyState(dir, previous);
    }
    if (result.changed.length || adopt) {
      revision = await commitState(dir, result.files);
      if (adopt)
        notes.push(
          `adopted the state at ${dir}, written before state revisions: its ${st.files.size} files are recorded with their sha256 in rev-${revision}/manifest.json`,
        );
    }
    return { ...result, previous, revision, notes };
  });
}

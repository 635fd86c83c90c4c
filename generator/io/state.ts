import { chmod, lstat, readdir, readlink, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { InputError } from '../model/index.js';
import { isLockFile } from './lock.js';
import { kindOf, readRegular } from './regular.js';
import {
  CURRENT,
  LEGACY,
  LINK_PREFIX,
  lstatOrNull,
  mode8,
  revOf,
  SAFE_PATH,
  sha256,
  STAGING_PREFIX,
  STATE_MANIFEST,
  stateFileMode,
  switchCurrent,
  type StateDamage,
} from './state-layout.js';

export { commitState, copyState, removePartialCopies } from './state-commit.js';
export { CURRENT, STATE_MANIFEST, stateFileMode, type StateDamage } from './state-layout.js';

/** Reading the site state (layout: state-layout.ts): checked, hashed, and cleaned of what a stopped run left. */

export interface OpenedState {
  files: Map<string, string>;
  /** `revision`: read through `current`; `legacy`: loose files from before revisions; `empty`: nothing yet. */
  layout: 'empty' | 'legacy' | 'revision';
  revision: number;
  /** Members the manifest lists that are missing, changed, or not regular files; or the revision itself. */
  damage: StateDamage[];
  /** Leftovers removed, a crashed commit rolled forward, files ignored. */
  notes: string[];
  /** Modes found looser than the policy, each tightened (keys and secrets 0600, directories 0700). */
  warnings: string[];
}

interface Log {
  notes: string[];
  warnings: string[];
}

interface ManifestEntry {
  path: string;
  sha256: string;
}

/** Tightens a mode that grants more than `max`; returns a note when it did. */
async function tighten(abs: string, label: string, mode: number, max: number, fix = true): Promise<string | null> {
  if (!fix || (mode & 0o777 & ~max) === 0) return null;
  await chmod(abs, max);
  return `${label} was mode ${mode8(mode)}; set to ${mode8(max)}`;
}

/** Reads one revision: manifest first, then every member it lists, hashed; modes checked. */
async function readRevision(
  dir: string,
  name: string,
  log: Log,
  fix = true,
): Promise<{ files: Map<string, string>; damage: StateDamage[] } | { invalid: StateDamage }> {
  const root = join(dir, name);
  const rootSt = await lstatOrNull(root);
  if (!rootSt) return { invalid: { path: name, what: `is missing (${CURRENT} points to it)` } };
  if (!rootSt.isDirectory()) return { invalid: { path: name, what: `is ${kindOf(rootSt) ?? 'not a directory'}` } };
  const raw = await readRegular(join(root, STATE_MANIFEST));
  if (typeof raw === 'string') return { invalid: { path: `${name}/${STATE_MANIFEST}`, what: raw === 'missing' ? 'is missing' : `is ${raw}` } };
  let entries: ManifestEntry[];
  try {
    const m = JSON.parse(raw.toString('utf8')) as { kind?: unknown; files?: unknown };
    if (m.kind !== 'StateManifest' || !Array.isArray(m.files)) throw new Error('shape');
    entries = m.files as ManifestEntry[];
    if (!entries.every((e) => typeof e?.path === 'string' && SAFE_PATH.test(e.path) && typeof e.sha256 === 'string' && /^[0-9a-f]{64}$/.test(e.sha256)))
      throw new Error('entry');
  } catch {
    return { invalid: { path: `${name}/${STATE_MANIFEST}`, what: 'is not a state manifest' } };
  }
  const n = await tighten(root, `${name}/`, rootSt.mode, 0o700, fix);
  if (n) log.warnings.push(n);
  const files = new Map<string, string>();
  const damage: StateDamage[] = [];
  const listed = new Set(entries.map((e) => e.path));
  for (const e of entries) {
    const abs = join(root, e.path);
    const data = await readRegular(abs);
    if (typeof data === 'string') {
      damage.push({ path: e.path, what: data === 'missing' ? 'is missing' : `is ${data}, not the file kubeseed wrote` });
      continue;
    }
    if (sha256(data) !== e.sha256) {
      damage.push({ path: e.path, what: 'changed since kubeseed wrote it (its sha256 differs from the state manifest)' });
      continue;
    }
    const note = await tighten(abs, e.path, (await lstat(abs)).mode, stateFileMode(e.path), fix);
    if (note) log.warnings.push(note);
    files.set(e.path, data.toString('utf8'));
  }
  for (const ent of await readdir(root, { recursive: true, withFileTypes: true })) {
    const rel = relative(root, join(ent.parentPath, ent.name));
    if (ent.isDirectory()) {
      const note = await tighten(join(root, rel), `${rel}/`, (await lstat(join(root, rel))).mode, 0o700, fix);
      if (note) log.warnings.push(note);
    } else if (rel !== STATE_MANIFEST && !listed.has(rel)) log.notes.push(`${rel} is not part of the state (not in its manifest); ignored`);
  }
  return { files, damage };
}

/** Loose files of a state from before revisions: regular files only, a symlink is damage. */
async function readLegacy(dir: string, log: Log): Promise<{ files: Map<string, string>; damage: StateDamage[] }> {
  const files = new Map<string, string>();
  const damage: StateDamage[] = [];
  for (const top of LEGACY) {
    const st = await lstatOrNull(join(dir, top));
    if (!st) continue;
    const entries = st.isDirectory()
      ? (await readdir(join(dir, top), { recursive: true, withFileTypes: true })).map((e) => relative(dir, join(e.parentPath, e.name)))
      : [];
    for (const rel of [top, ...entries]) {
      const abs = join(dir, rel);
      const s = await lstat(abs);
      if (s.isDirectory()) {
        const n = await tighten(abs, `${rel}/`, s.mode, 0o700);
        if (n) log.warnings.push(n);
        continue;
      }
      if (rel.includes('.tmp-')) continue;
      const kind = kindOf(s);
      if (kind) {
        damage.push({ path: rel, what: `is ${kind}, not a file kubeseed wrote` });
        continue;
      }
      const data = await readRegular(abs);
      if (typeof data === 'string') {
        damage.push({ path: rel, what: `is ${data}` });
        continue;
      }
      const n = await tighten(abs, rel, s.mode, stateFileMode(rel));
      if (n) log.warnings.push(n);
      files.set(rel, data.toString('utf8'));
    }
  }
  return { files, damage };
}

/**
 * Opens the state for a command that holds its lock: finishes or discards what a crashed run left
 * (staging, an uncommitted revision, the loose files of an adopted state), checks the directory
 * and file modes (tightening looser ones, with a note), and reads and hashes every member.
 */
export async function openState(dir: string): Promise<OpenedState> {
  const notes: string[] = [];
  const warnings: string[] = [];
  const log = { notes, warnings };
  const top = await lstatOrNull(dir);
  if (!top) return { files: new Map(), layout: 'empty', revision: 0, damage: [], notes, warnings };
  if (!top.isDirectory())
    throw new InputError(`the state ${dir} is ${kindOf(top) ?? 'not a directory'}`, [], 'point --state at a directory (it is created if missing)');
  const n = await tighten(dir, 'the state directory', top.mode, 0o700);
  if (n) warnings.push(n);

  const names = (await readdir(dir)).filter((x) => !isLockFile(x));
  for (const x of names.filter((y) => y.startsWith(STAGING_PREFIX) || y.startsWith(LINK_PREFIX))) {
    await rm(join(dir, x), { recursive: true, force: true });
    notes.push(`removed ${x}, left by a run that stopped before it finished`);
  }
  const revs = names
    .map(revOf)
    .filter((r): r is number => r !== null)
    .sort((a, b) => b - a);

  let current: string | null = null;
  const link = await lstatOrNull(join(dir, CURRENT));
  if (link) {
    if (!link.isSymbolicLink())
      throw new InputError(
        `the state's ${CURRENT} (${join(dir, CURRENT)}) is ${kindOf(link) ?? 'not a symlink'}, not a link to a revision`,
        [],
        'restore the state from a backup',
      );
    current = await readlink(join(dir, CURRENT));
    if (revOf(current) === null)
      throw new InputError(`the state's ${CURRENT} points to ${current}, not to a revision (rev-N)`, [], 'restore the state from a backup');
  } else if (revs.length) {
    // A commit that stopped between renaming its revision in and switching the link: the newest
    // complete revision is the one it was committing, and the state it held is whole.
    for (const r of revs) {
      const probe = await readRevision(dir, `rev-${r}`, { notes: [], warnings: [] }, false);
      if ('files' in probe && probe.damage.length === 0) {
        current = `rev-${r}`;
        await switchCurrent(dir, current);
        notes.push(`${CURRENT} was missing; set to ${current}, the newest complete revision`);
        break;
      }
    }
  }

  if (!current) {
    for (const r of revs) {
      await rm(join(dir, `rev-${r}`), { recursive: true, force: true });
      notes.push(`removed rev-${r}, an incomplete revision`);
    }
    const legacy = await readLegacy(dir, log);
    if (!legacy.files.size && !legacy.damage.length) return { files: new Map(), layout: 'empty', revision: 0, damage: [], notes, warnings };
    return { ...legacy, layout: 'legacy', revision: 0, notes, warnings };
  }

  const read = await readRevision(dir, current, log);
  // Left as it is for a human to look at; only --rotate-ca goes past it (see certsStage).
  if ('invalid' in read) return { files: new Map(), damage: [read.invalid], layout: 'revision', revision: revOf(current)!, notes, warnings };
  for (const r of revs.filter((x) => `rev-${x}` !== current)) {
    await rm(join(dir, `rev-${r}`), { recursive: true, force: true });
    notes.push(`removed rev-${r}, a revision that was never committed or was replaced`);
  }
  // Loose files beside `current` are what an adoption copied and had not yet removed.
  const loose = await readLegacy(dir, { notes: [], warnings: [] });
  if (loose.files.size || loose.damage.length) {
    const differ = [...loose.files].filter(([p, c]) => read.files.get(p) !== c).map(([p]) => p);
    if (differ.length || loose.damage.length) {
      throw new InputError(
        `the state holds both revision ${current} and loose files that differ from it: ${[...differ, ...loose.damage.map((d) => d.path)].slice(0, 5).join(', ')}`,
        [],
        `move ${LEGACY.join(', ')} out of ${dir}: a state is either one or the other`,
      );
    }
    for (const x of LEGACY) await rm(join(dir, x), { recursive: true, force: true });
    notes.push(`removed the loose files of the state before revisions, already in ${current}`);
  }
  return { files: read.files, damage: read.damage, layout: 'revision', revision: revOf(current)!, notes, warnings };
}

/**
 * The state's files for a reader that changes nothing (tests, scripts): through `current` when the
 * state has revisions, else the loose files of an older state; null when there is none.
 */
export async function readState(dir: string): Promise<Map<string, string> | null> {
  const top = await lstatOrNull(dir);
  if (!top) return null;
  const link = await lstatOrNull(join(dir, CURRENT));
  if (link) {
    const read = await readRevision(dir, await readlink(join(dir, CURRENT)), { notes: [], warnings: [] }, false);
    if ('invalid' in read) throw new InputError(`state file ${read.invalid.path} ${read.invalid.what}`);
    return read.files.size ? read.files : null;
  }
  const files = new Map<string, string>();
  for (const ent of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!ent.isFile() || ent.name.includes('.tmp-') || isLockFile(ent.name)) continue;
    const abs = join(ent.parentPath, ent.name);
    files.set(relative(dir, abs), (await readRegular(abs)).toString());
  }
  return files.size ? files : null;
}

import { lstat, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { InputError } from '../model/index.js';
import { kindOf } from './regular.js';

/** Entries of a site's output directory that `gen bundle` replaces or deletes. */
export function isManagedOutput(name: string): boolean {
  return name === 'dist' || name === 'payload-cache' || /^dist\.old-\d+$/.test(name) || /^\.dist-staging-\d+$/.test(name);
}

/** The real path of `p`, whose tail need not exist yet: the existing part resolved, the rest appended. */
async function realish(p: string): Promise<string> {
  const tail: string[] = [];
  let cur = p;
  for (;;) {
    try {
      return join(await realpath(cur), ...tail.reverse());
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const up = dirname(cur);
      if (up === cur) return p;
      tail.push(basename(cur));
      cur = up;
    }
  }
}

const within = (inner: string, outer: string) => inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);

/**
 * Refuses a state the output could destroy or that is not where the user thinks: a symlink (keys
 * would land where it points), something else than a directory, a directory inside the bundle's
 * output (publishing a bundle replaces `dist` and would delete it), or one that holds the output.
 */
export async function checkStatePlacement(state: string, outRoot: string): Promise<void> {
  const st = await lstat(state).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  if (st?.isSymbolicLink()) {
    throw new InputError(
      `the state ${state} is a symlink (to ${await readlink(state)})`,
      [],
      'give the directory itself with --state: kubeseed writes keys only where it is told to',
    );
  }
  if (st && !st.isDirectory())
    throw new InputError(`the state ${state} is ${kindOf(st) ?? 'not a directory'}`, [], 'point --state at a directory (it is created if missing)');
  const realState = await realish(state);
  const realOut = await realish(outRoot);
  if (within(realOut, realState)) {
    throw new InputError(
      `the state ${state} holds the site's output directory ${outRoot}`,
      [],
      'keep the state and the output apart: e.g. --state <out>/<site>/state (the default) or a directory of its own',
    );
  }
  if (within(realState, realOut)) {
    const first = relative(realOut, realState).split(sep)[0]!;
    if (isManagedOutput(first)) {
      throw new InputError(
        `the state ${state} is inside the bundle output ${join(outRoot, first)}`,
        [],
        `gen bundle replaces ${join(outRoot, 'dist')} as a whole and would delete the state with it; keep it elsewhere, e.g. ${join(outRoot, 'state')} (the default)`,
      );
    }
  }
}

import { realFs } from '../io/fs.js';
import { hasErrors, InputError, type Catalog, type ResolvedSite } from '../model/index.js';
import { loadSite, type LoadedSite } from '../pipeline/load.js';
import type { CommandContext } from './commands.js';
import { reportIssues } from './output.js';

type Values = Record<string, string | boolean | undefined>;

/** The blueprint named by --site (default lab1) and --catalog, loaded and checked; nothing reported. */
export function loadSiteFrom(values: Values, ctx: CommandContext): Promise<LoadedSite> {
  return loadSite(realFs, {
    site: (values.site as string | undefined) ?? 'lab1',
    ...(values.catalog ? { catalog: values.catalog as string } : {}),
    cwd: ctx.streams.cwd,
    root: ctx.root,
    clock: { now: () => new Date() },
  });
}

/** For commands that need a valid site: its issues are reported (warnings too), errors end the command as bad input. */
export async function loadValidSite(values: Values, ctx: CommandContext): Promise<{ file: string; site: ResolvedSite; catalog: Catalog }> {
  const loaded = await loadSiteFrom(values, ctx);
  // The issues travel with the error (the CLI reports them, and puts them in --json's answer).
  if (hasErrors(loaded.issues) || !loaded.resolved || !loaded.catalog) throw new InputError(`${loaded.file} is not valid`, loaded.issues);
  if (loaded.issues.length) reportIssues(ctx.streams, loaded.issues);
  return { file: loaded.file, site: loaded.resolved, catalog: loaded.catalog };
}

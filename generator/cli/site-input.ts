import { realFs } from '../io/fs.js';
import { readDelivery } from '../io/delivery.js';
import { hasErrors, InputError, type Catalog, type ResolvedSite, type RunningSite } from '../model/index.js';
import { stateDirOf } from '../pipeline/certs.js';
import { loadSite, type LoadedSite } from '../pipeline/load.js';
import { runningSite } from '../update/record.js';
import type { CommandContext } from './commands.js';
import { reportIssues } from './output.js';

type Values = Record<string, string | boolean | undefined>;

/**
 * The blueprint named by --site (default lab1) and --catalog, loaded and checked; nothing reported.
 * With `running`, also against the site as last delivered: the delivery record in the state that
 * --state (or --out) locates, when there is one.
 */
export function loadSiteFrom(values: Values, ctx: CommandContext, opts: { running?: boolean } = {}): Promise<LoadedSite> {
  return loadSite(realFs, {
    site: (values.site as string | undefined) ?? 'lab1',
    ...(values.catalog ? { catalog: values.catalog as string } : {}),
    cwd: ctx.streams.cwd,
    root: ctx.root,
    clock: { now: () => new Date() },
    ...(opts.running ? { running: (name: string) => deliveredSite(name, values, ctx) } : {}),
  });
}

/** The running site the state's delivery record describes, or null without a record. */
async function deliveredSite(name: string, values: Values, ctx: CommandContext): Promise<RunningSite | null> {
  const dir = stateDirOf(name, {
    ...(values.state ? { state: values.state as string } : {}),
    ...(values.out ? { out: values.out as string } : {}),
    cwd: ctx.streams.cwd,
  });
  const { record } = await readDelivery(dir);
  return record ? runningSite(record) : null;
}

/** For commands that need a valid site: its issues are reported (warnings too), errors end the command as bad input. */
export async function loadValidSite(
  values: Values,
  ctx: CommandContext,
  opts: { running?: boolean } = {},
): Promise<{ file: string; site: ResolvedSite; catalog: Catalog }> {
  const loaded = await loadSiteFrom(values, ctx, opts);
  // The issues travel with the error (the CLI reports them, and puts them in --json's answer).
  if (hasErrors(loaded.issues) || !loaded.resolved || !loaded.catalog) throw new InputError(`${loaded.file} is not valid`, loaded.issues);
  if (loaded.issues.length) reportIssues(ctx.streams, loaded.issues);
  return { file: loaded.file, site: loaded.resolved, catalog: loaded.catalog };
}

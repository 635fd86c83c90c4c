import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { parseCatalog } from '../catalog/load.js';
import { InputError, type Catalog, type ClockPort, type FsPort, type Issue, type ResolvedSite, type RunningSite } from '../model/index.js';
import { checkSite, parseSite } from '../site/index.js';

export interface LoadOptions {
  /** A site name (`blueprints/sites/<name>.yaml`) or a path to a YAML file. */
  site: string;
  /** Catalog directory from `--catalog`; wins over `spec.artifacts.catalog`. */
  catalog?: string;
  cwd: string;
  root: string;
  /** Today, for the end-of-life rules. */
  clock: ClockPort;
  /** The site as last delivered, by the blueprint's site name (null: none yet), for the rules of a running site. */
  running?: (siteName: string) => Promise<RunningSite | null>;
}

export interface LoadedSite {
  file: string;
  issues: Issue[];
  catalog?: Catalog;
  resolved?: ResolvedSite;
}

export function looksLikePath(site: string): boolean {
  return site.includes('/') || /\.ya?ml$/.test(site);
}

export async function locateSite(fs: FsPort, opts: LoadOptions): Promise<string> {
  if (looksLikePath(opts.site)) {
    const file = resolve(opts.cwd, opts.site);
    if (!(await fs.exists(file)))
      throw new InputError(`site blueprint not found: ${file}`, [], 'give a path to a YAML file or the name of a site in blueprints/sites');
    return file;
  }
  const dir = join(opts.root, 'blueprints', 'sites');
  const file = join(dir, `${opts.site}.yaml`);
  if (await fs.exists(file)) return file;
  const known = (await fs.listFiles(dir)).filter((f) => f.endsWith('.yaml') && !f.includes('/')).map((f) => basename(f, '.yaml'));
  throw new InputError(`no site named '${opts.site}'`, [], `known sites: ${known.join(', ')}; or give a path to a YAML file`);
}

export async function readCatalog(fs: FsPort, dir: string): Promise<{ catalog?: Catalog; issues: Issue[] }> {
  if (!(await fs.exists(join(dir, 'catalog.yaml')))) {
    throw new InputError(`no catalog at ${dir}`, [], 'a catalog directory holds catalog.yaml and releases/*.yaml');
  }
  const paths = (await fs.listFiles(dir)).filter((p) => p.endsWith('.yaml'));
  const files = await Promise.all(paths.map(async (path) => ({ path, text: await fs.readText(join(dir, path)) })));
  return parseCatalog(dir, files);
}

/** Stage 1: read the blueprint and its catalog, validate everything, resolve. Writes nothing. */
export async function loadSite(fs: FsPort, opts: LoadOptions): Promise<LoadedSite> {
  const file = await locateSite(fs, opts);
  const parsed = parseSite(await fs.readText(file), file);
  if (!parsed.site) return { file, issues: parsed.issues };

  const fromSpec = parsed.site.spec.artifacts.catalog;
  const catalogDir = opts.catalog
    ? resolve(opts.cwd, opts.catalog)
    : fromSpec
      ? isAbsolute(fromSpec)
        ? fromSpec
        : resolve(dirname(file), fromSpec)
      : join(opts.root, 'blueprints', 'catalog');
  const cat = await readCatalog(fs, catalogDir);
  if (!cat.catalog) return { file, issues: [...parsed.issues, ...cat.issues] };
  const running = opts.running ? await opts.running(parsed.site.metadata.name) : null;
  const checked = checkSite(parsed, cat.catalog, opts.clock.now(), running);
  return { file, issues: checked.issues, catalog: cat.catalog, ...(checked.resolved ? { resolved: checked.resolved } : {}) };
}

import { parseStructured } from '../input/structured.js';
import type { Catalog, CatalogRelease, ComponentTemplate, Issue, OsPackageCatalog } from '../model/index.js';
import { downloadUrlProblem, TEMPLATE_PLACEHOLDERS, unknownPlaceholders } from './urls.js';
import { catalogFileSchema, catalogKeys, ospkgFileSchema, ospkgKeys, releaseFileSchema, releaseKeys } from './schema.js';

export interface CatalogFile {
  /** Path relative to the catalog directory, e.g. `releases/v1.34.2.yaml`. */
  path: string;
  text: string;
}

export const CATALOG_INDEX = 'catalog.yaml';
export const OSPKG_FILE = 'ospkg.yaml';

/** The catalog's files → a catalog, or every problem in them (each with file and line:col). */
export function parseCatalog(dir: string, files: readonly CatalogFile[]): { catalog?: Catalog; issues: Issue[] } {
  const issues: Issue[] = [];
  const index = files.find((f) => f.path === CATALOG_INDEX);
  if (!index) {
    return {
      issues: [
        {
          rule: 'catalog',
          severity: 'error',
          path: '',
          file: `${dir}/${CATALOG_INDEX}`,
          message: 'catalog index is missing',
          hint: 'a catalog directory holds catalog.yaml and releases/*.yaml',
        },
      ],
    };
  }
  const head = parseStructured(index.text, `${dir}/${index.path}`, catalogFileSchema, catalogKeys);
  issues.push(...head.issues);

  const releases: CatalogRelease[] = [];
  for (const f of files.filter((x) => x.path.startsWith('releases/')).sort((a, b) => a.path.localeCompare(b.path))) {
    const file = `${dir}/${f.path}`;
    const r = parseStructured(f.text, file, releaseFileSchema, releaseKeys);
    issues.push(...r.issues);
    if (!r.value) continue;
    const v = r.value;
    if (`releases/${v.version}.yaml` !== f.path) {
      issues.push({
        rule: 'catalog',
        severity: 'error',
        path: 'version',
        file,
        ...r.positions?.valueAt('version'),
        message: `${v.version} does not match the file name`,
        hint: `name the file releases/${v.version}.yaml`,
      });
    }
    releases.push({
      version: v.version,
      provenance: v.provenance,
      arch: v.arch,
      versions: v.versions,
      pinned: v.pinned,
      images: v.images.map((i) => ({ ...i, aliases: i.aliases })),
      ...(v.knownBad ? { knownBad: v.knownBad } : {}),
    });
  }
  let osPackages: OsPackageCatalog | undefined;
  const ospkg = files.find((f) => f.path === OSPKG_FILE);
  if (ospkg) {
    const r = parseStructured(ospkg.text, `${dir}/${OSPKG_FILE}`, ospkgFileSchema, ospkgKeys);
    issues.push(...r.issues);
    if (r.value) {
      osPackages = { families: r.value.families, needs: r.value.needs };
      for (const [family, a] of Object.entries(r.value.families)) {
        const at = (path: string, message: string, hint: string) =>
          issues.push({ rule: 'catalog', severity: 'error', path, file: `${dir}/${OSPKG_FILE}`, ...r.positions?.valueAt(path), message, hint });
        if (a && !(a.defaultRelease in a.releases))
          at(`families.${family}.defaultRelease`, `${a.defaultRelease} is not among the releases`, `known: ${Object.keys(a.releases).join(', ')}`);
        for (const [arch, source] of Object.entries(a?.sources ?? {})) {
          if (head.value && !(source in head.value.sources))
            at(`families.${family}.sources.${arch}`, `unknown source '${source}'`, 'define it under sources in catalog.yaml');
        }
      }
    }
  }
  if (!head.value) return { issues };

  const indexFile = `${dir}/${CATALOG_INDEX}`;
  for (const [name, url] of Object.entries(head.value.sources)) {
    const problem = downloadUrlProblem(url);
    if (problem)
      issues.push({
        rule: 'catalog-source-url',
        severity: 'error',
        path: `sources.${name}`,
        file: indexFile,
        ...head.positions?.valueAt(`sources.${name}`),
        ...problem,
      });
  }
  const components: ComponentTemplate[] = Object.entries(head.value.components).map(([name, c]) => ({ name, ...c }));
  for (const c of components) {
    const templates: [string, string][] = [[`components.${c.name}.path`, c.path]];
    if (c.checksum.kind !== 'pinned') templates.push([`components.${c.name}.checksum.path`, c.checksum.path]);
    if (c.checksum.kind === 'sums-file') templates.push([`components.${c.name}.checksum.entry`, c.checksum.entry]);
    for (const [path, template] of templates) {
      const unknown = unknownPlaceholders(template);
      if (unknown.length)
        issues.push({
          rule: 'catalog-template',
          severity: 'error',
          path,
          file: indexFile,
          ...head.positions?.valueAt(path),
          message: `unknown placeholder ${unknown.map((u) => `{${u}}`).join(', ')}`,
          hint: `placeholders: ${TEMPLATE_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
        });
    }
  }
  for (const c of components) {
    if (!(c.source in head.value.sources)) {
      issues.push({
        rule: 'catalog',
        severity: 'error',
        path: `components.${c.name}.source`,
        file: `${dir}/${CATALOG_INDEX}`,
        ...head.positions?.valueAt(`components.${c.name}.source`),
        message: `unknown source '${c.source}'`,
        hint: `define it under sources`,
      });
    }
  }
  for (const c of components) {
    if (c.replaces !== undefined && !components.some((x) => x.name === c.replaces)) {
      issues.push({
        rule: 'catalog',
        severity: 'error',
        path: `components.${c.name}.replaces`,
        file: `${dir}/${CATALOG_INDEX}`,
        ...head.positions?.valueAt(`components.${c.name}.replaces`),
        message: `replaces unknown component '${c.replaces}'`,
        hint: 'name a component of this catalog',
      });
    }
  }
  for (const rel of releases) {
    for (const c of components) {
      if (!(c.versionOf in rel.versions) && !c.optional) {
        issues.push({
          rule: 'catalog',
          severity: 'error',
          path: 'versions',
          file: `${dir}/releases/${rel.version}.yaml`,
          message: `no version for '${c.versionOf}' (needed by component ${c.name})`,
          hint: `add versions.${c.versionOf}`,
        });
      }
    }
  }
  if (issues.some((i) => i.severity === 'error')) return { issues };
  return {
    catalog: { dir, sources: head.value.sources, lifecycle: head.value.lifecycle, components, releases, ...(osPackages ? { osPackages } : {}) },
    issues,
  };
}

export function findRelease(catalog: Catalog, version: string): CatalogRelease | undefined {
  return catalog.releases.find((r) => r.version === version);
}

/** Fills {version}, {semver} and {arch} in a catalog path. */
export function expandTemplate(template: string, vars: { version: string; arch: string }): string {
  // parseCatalog refuses unknown placeholders; one here would be a catalog built another way.
  if (unknownPlaceholders(template).length) throw new Error(`internal: unknown placeholder in catalog template ${template}`);
  const semver = vars.version.replace(/^v/, '');
  return template.replaceAll('{version}', vars.version).replaceAll('{semver}', semver).replaceAll('{arch}', vars.arch);
}

export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

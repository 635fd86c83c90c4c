import type { Issue } from '../../model/index.js';
import { closest } from '../../input/suggest.js';
import { downloadUrlProblem, redactUrl } from '../../catalog/urls.js';
import { rule, type Rule } from './rule.js';

/** A registry as image references name it: host, optional port. */
const REGISTRY_HOST = /^[a-z0-9.-]+(:\d+)?$/;

/** Where artifacts and images come from: source overrides and registry mirrors. */
export const ARTIFACT_RULES: Rule[] = [
  rule({
    name: 'sources-known',
    summary: 'artifact source overrides name sources of the catalog and are http(s) URLs without credentials, not link-local or metadata hosts',
    check: ({ site, catalog }, report) =>
      Object.entries(site.spec.artifacts.sources).flatMap(([name, url]) => {
        const p = `spec.artifacts.sources.${name}`;
        const out: Issue[] = [];
        const known = Object.keys(catalog.sources);
        if (!known.includes(name)) {
          const near = closest(name, known);
          out.push(report(p, `unknown source '${name}'`, `${near ? `did you mean '${near}'? ` : ''}known: ${known.join(', ')}`));
        }
        const problem = downloadUrlProblem(url);
        if (problem) out.push(report(p, problem.message, problem.hint));
        return out;
      }),
  }),
  rule({
    name: 'registry-mirrors-valid',
    summary: 'registry mirrors map a registry host to an http(s) URL without credentials, not a link-local or metadata host',
    check: ({ site }, report) =>
      Object.entries(site.spec.artifacts.registryMirrors).flatMap(([host, url]) => {
        const p = `spec.artifacts.registryMirrors.${host}`;
        const out: Issue[] = [];
        if (!REGISTRY_HOST.test(host)) out.push(report(p, `${host} is not a registry host name`, 'e.g. registry.k8s.io'));
        const problem = downloadUrlProblem(url);
        if (problem) out.push(report(p, problem.message, problem.hint));
        return out;
      }),
  }),
  rule({
    name: 'node-registry-mirrors-valid',
    summary: 'on-site registry mirrors map a registry host to http(s) URLs',
    check: ({ site }, report) =>
      Object.entries(site.spec.containerRuntime.registryMirrors).flatMap(([host, urls]) => {
        const p = `spec.containerRuntime.registryMirrors.${host}`;
        const out: Issue[] = [];
        if (!REGISTRY_HOST.test(host)) out.push(report(p, `${host} is not a registry host name`, 'e.g. docker.io'));
        urls.forEach((url, i) => {
          if (!/^https?:\/\/[a-z0-9.-]+(:\d+)?(\/[^\s"]*)?$/i.test(url))
            out.push(report(`${p}[${i}]`, `${redactUrl(url)} is not an http(s) URL without credentials`, 'e.g. https://registry.site.internal:5000'));
        });
        return out;
      }),
  }),
];

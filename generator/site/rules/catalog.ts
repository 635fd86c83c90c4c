import { effectiveAddon, hasAddonImages } from '../../catalog/addons.js';
import { findRelease } from '../../catalog/load.js';
import { closest } from '../../input/suggest.js';
import type { Issue } from '../../model/index.js';
import { nodePath, rule, type Rule } from './rule.js';

/** What the site asks of the catalog: the release, its architectures, add-on images. */
export const CATALOG_RULES: Rule[] = [
  rule({
    name: 'version-in-catalog',
    summary: 'the Kubernetes version exists in the catalog',
    check: ({ site, catalog }, report) => {
      const v = site.spec.kubernetes.version;
      if (findRelease(catalog, v)) return [];
      const known = catalog.releases.map((r) => r.version);
      const near = closest(v, known);
      return [
        report('spec.kubernetes.version', `${v} is not in the catalog (${catalog.dir})`, `${near ? `did you mean ${near}? ` : ''}known: ${known.join(', ')}`),
      ];
    },
  }),
  rule({
    name: 'arch-supported',
    summary: "every architecture is offered by the catalog's release, and every node's arch is fetched",
    check: ({ site, catalog }, report) => {
      const rel = findRelease(catalog, site.spec.kubernetes.version);
      const arch = site.spec.artifacts.arch;
      const out: Issue[] = [];
      if (rel) {
        arch.forEach((a, i) => {
          if (!rel.arch.includes(a))
            out.push(report(`spec.artifacts.arch[${i}]`, `${rel.version} has no ${a} artifacts in the catalog`, `supported: ${rel.arch.join(', ')}`));
        });
      }
      site.spec.nodes.forEach((n, i) => {
        if (n.arch && !arch.includes(n.arch))
          out.push(report(nodePath(i, 'arch'), `${n.arch} is not in spec.artifacts.arch`, `add ${n.arch} to spec.artifacts.arch`));
      });
      return out;
    },
  }),
  rule({
    name: 'addons-in-catalog',
    summary: "every add-on and the network plugin have their images in the catalog's release",
    check: ({ site, catalog }, report) => {
      const rel = findRelease(catalog, site.spec.kubernetes.version);
      if (!rel) return [];
      const out: Issue[] = [];
      site.spec.addons.forEach((a, i) => {
        if (!hasAddonImages(rel, effectiveAddon(rel, a))) out.push(report(`spec.addons[${i}]`, `${rel.version} has no images for add-on ${a} in the catalog`));
      });
      const plugin = site.spec.network.plugin;
      if (plugin !== 'bridge' && !rel.images.some((img) => img.when.network === plugin)) {
        out.push(report('spec.network.plugin', `${rel.version} has no images for ${plugin} in the catalog`, 'bridge needs no image'));
      }
      return out;
    },
  }),
];

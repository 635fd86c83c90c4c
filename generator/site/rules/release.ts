import { ADDON_SUCCESSORS, effectiveAddon } from '../../catalog/addons.js';
import { findRelease } from '../../catalog/load.js';
import { containerdQuirk, minorOf, parseContainerdVersion, quirk } from '../../catalog/quirks.js';
import type { Issue } from '../../model/index.js';
import { rule, type Rule } from './rule.js';

/** Add-ons upstream no longer maintains: what happened, and since when. */
const RETIRED_ADDONS: Record<string, string> = {
  dashboard: 'kubernetes/dashboard was archived in January 2026',
  'ingress-nginx': 'ingress-nginx was retired in March 2026 and gets no more releases or security fixes',
};

/** What the components of the chosen release support: proxy modes, containerd options, add-ons. */
export const RELEASE_RULES: Rule[] = [
  rule({
    name: 'proxy-mode-supported',
    summary: "kube-proxy's mode exists in the release (nftables from 1.31); ipvs is deprecated from 1.35",
    check: ({ site, catalog }, report) => {
      const mode = site.spec.kubernetes.proxyMode;
      const v = site.spec.kubernetes.version;
      if (!mode || !findRelease(catalog, v)) return [];
      const minor = minorOf(v);
      const p = 'spec.kubernetes.proxyMode';
      if (mode === 'nftables' && !quirk('nftablesProxy', minor)) {
        return [
          report(
            p,
            `kube-proxy ${v} has no usable nftables mode (beta and on by default from 1.31, GA in 1.33)`,
            'use ipvs or iptables on this release, or Kubernetes 1.31 or newer',
          ),
        ];
      }
      if (mode === 'ipvs' && quirk('ipvsDeprecated', minor)) {
        return [
          report(
            p,
            `kube-proxy's ipvs mode is deprecated from 1.35 (KEP-5495) and will be removed`,
            "use nftables, upstream's replacement (the default when proxyMode is left out)",
            'warning',
          ),
        ];
      }
      return [];
    },
  }),
  rule({
    name: 'registry-mirrors-ignored',
    summary: 'on-site registry mirrors (hosts.toml) need containerd 1.5 or newer',
    check: ({ site, catalog }, report) => {
      const cd = findRelease(catalog, site.spec.kubernetes.version)?.versions.containerd;
      if (!cd || !Object.keys(site.spec.containerRuntime.registryMirrors).length || containerdQuirk('registryConfigPath', cd)) return [];
      return [
        report(
          'spec.containerRuntime.registryMirrors',
          `containerd ${cd} of ${site.spec.kubernetes.version} ignores registry mirrors: hosts.toml under config_path came with containerd 1.5`,
          'pull through artifacts.registryMirrors at bundle time instead, or use a release with containerd 1.5 or newer',
          'warning',
        ),
      ];
    },
  }),
  rule({
    name: 'containerd-glibc',
    summary: "containerd 2.x's regular build needs glibc 2.35: RHEL-family sites need the release's static build",
    check: ({ site, catalog }, report) => {
      const rel = findRelease(catalog, site.spec.kubernetes.version);
      const cd = rel?.versions.containerd;
      if (!rel || !cd || site.spec.os.family !== 'rhel' || parseContainerdVersion(cd).major < 2 || rel.versions['containerd-static']) return [];
      return [
        report(
          'spec.os.family',
          `containerd ${cd} of ${rel.version} is linked against glibc 2.35, newer than RHEL 9's 2.34, and the catalog names no static build for it`,
          'add versions.containerd-static (and its pins) to the release file',
          'warning',
        ),
      ];
    },
  }),
  rule({
    name: 'addon-retired',
    summary: 'add-ons retired upstream are warned about; dashboard becomes headlamp where the release no longer carries it',
    check: ({ site, catalog }, report) => {
      const rel = findRelease(catalog, site.spec.kubernetes.version);
      const out: Issue[] = [];
      site.spec.addons.forEach((a, i) => {
        const why = RETIRED_ADDONS[a];
        if (!why) return;
        const successor = ADDON_SUCCESSORS[a];
        const mapped = rel && successor && effectiveAddon(rel, a) === successor;
        out.push(
          report(
            `spec.addons[${i}]`,
            mapped ? `${why}: ${rel.version} installs ${successor} in its place` : why,
            successor ? `write ${successor} instead` : 'plan a replacement (e.g. a Gateway API implementation); the add-on keeps working as it is',
            'warning',
          ),
        );
      });
      return out;
    },
  }),
];

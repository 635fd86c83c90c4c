import { findRelease } from '../../catalog/load.js';
import { compareVersions, minorLine, parseVersion, type ReleaseVersion } from '../../catalog/versions.js';
import type { BundledRelease, CatalogRelease, Issue, Mode } from '../../model/index.js';
import { rule, type Rule } from './rule.js';

/**
 * Version skew on a site that has been bundled before: the release its state records (the one its
 * nodes run, or are being moved to) against the release the blueprint names now. Every rule is a
 * row of SKEW_RULES, with upstream's fact and where it is written; each reports at
 * spec.kubernetes.version, the one field that picks the release and with it etcd and containerd.
 */

const VERSION_PATH = 'spec.kubernetes.version';

/** The change a bundle would make: from the recorded release (null on a site never bundled) to the named one. */
export interface Transition {
  from: { release: BundledRelease; kubernetes: ReleaseVersion } | null;
  to: { release: CatalogRelease; kubernetes: ReleaseVersion };
  mode: Mode;
}

export interface SkewRule {
  name: string;
  summary: string;
  /** Where upstream states the fact the rule applies. */
  source: string;
  violation(t: Transition): { message: string; hint: string } | null;
}

/** How many minors a kubelet (or kube-proxy) of minor `m` may lag the apiserver: three from 1.25, two before (version-skew policy). */
export const maxNodeLag = (m: number) => (m < 25 ? 2 : 3);

/**
 * The oldest containerd each Kubernetes minor works with, newest first: the first row whose `from`
 * the release's minor reaches applies.
 */
export const CONTAINERD_MINIMUM: readonly { from: number; minimum: string; source: string }[] = [
  {
    from: 36,
    minimum: '2.0.0',
    source: 'Kubernetes 1.35 is the last release supporting containerd 1.x, per SIG Node in the v1.35 release announcement',
  },
  {
    from: 26,
    minimum: '1.6.15',
    source: 'Kubernetes 1.26 speaks CRI v1 only; containerd RELEASES.md "Kubernetes Support": v1.6.15+, v1.7.0+ for 1.26+',
  },
  { from: 19, minimum: '1.4.0', source: 'containerd RELEASES.md "Deprecated containerd and kubernetes versions": v1.4 for 1.19+ (CRI v1alpha2)' },
];

export function containerdMinimum(minor: number): { minimum: string; source: string } | null {
  return CONTAINERD_MINIMUM.find((r) => minor >= r.from) ?? null;
}

/**
 * etcd minor upgrades that need more than the one-minor step: the patch the old minor must have
 * reached first.
 */
export const ETCD_STEP_PREREQUISITES: readonly { to: string; fromAtLeast: string; source: string }[] = [
  {
    to: '3.6',
    fromAtLeast: '3.5.26',
    source: 'etcd.io/docs/latest/upgrades/upgrade_3_6 ("Update 3.5": every 3.5 member on 3.5.26 or later before 3.6)',
  },
];

/** Components a bundle may never move backwards, with why. */
const NO_DOWNGRADE: readonly { component: string; why: string }[] = [
  { component: 'kubernetes', why: 'kubeadm refuses it ("Downgrades are not supported yet", cmd/kubeadm/app/phases/upgrade/policy.go)' },
  { component: 'etcd', why: 'etcd 3.6 refuses a data directory written by a newer minor (etcd.io/docs/v3.6/downgrades)' },
  { component: 'containerd', why: 'containerd guarantees compatibility with the previous minor only, upwards (containerd RELEASES.md "Upgrade Path")' },
];

const prettyMinor = (v: ReleaseVersion) => `1.${v.minor}`;

export const SKEW_RULES: readonly SkewRule[] = [
  {
    name: 'upgrade-no-downgrade',
    summary: 'a site is never moved to an older Kubernetes, etcd or containerd than its state records',
    source: NO_DOWNGRADE.map((d) => `${d.component}: ${d.why}`).join('; '),
    violation: ({ from, to }) => {
      if (!from) return null;
      const older = NO_DOWNGRADE.flatMap(({ component }) => {
        const was = from.release.versions[component];
        const now = to.release.versions[component];
        const a = was ? parseVersion(was) : null;
        const b = now ? parseVersion(now) : null;
        return a && b && compareVersions(b, a) < 0 ? [`${component} ${was} -> ${now}`] : [];
      });
      if (!older.length) return null;
      return {
        message: `the site was last bundled with ${from.release.kubernetes}; ${to.release.version} would move it backwards (${older.join(', ')}), which kubeseed refuses`,
        hint: `write ${from.release.kubernetes} or a newer release; to return to an older one, restore the nodes and the state from the backups taken before the upgrade`,
      };
    },
  },
  {
    name: 'upgrade-control-plane-one-minor',
    summary: 'control planes move one Kubernetes minor at a time',
    source:
      'kubernetes.io/releases/version-skew-policy: HA kube-apiservers within one minor, and kube-apiserver must not skip minor versions when upgrading, even in single-instance clusters',
    violation: ({ from, to }) => {
      if (!from || to.kubernetes.minor - from.kubernetes.minor <= 1) return null;
      const next = `1.${from.kubernetes.minor + 1}`;
      return {
        message: `the site runs ${from.release.kubernetes}; ${to.release.version} skips ${to.kubernetes.minor - from.kubernetes.minor - 1} minor release(s): kube-apiserver may not skip a minor when upgrading`,
        hint: `upgrade to a ${next} release first, roll it out to every node, then to ${prettyMinor(to.kubernetes)}`,
      };
    },
  },
  {
    name: 'upgrade-kubelet-skew',
    summary: 'while control planes move first, every kubelet stays no newer than the apiserver and at most two (before 1.25) or three minors older',
    source: 'kubernetes.io/releases/version-skew-policy: kubelet must not be newer than kube-apiserver; up to three minors older (kubelet < 1.25: two)',
    violation: ({ from, to }) => {
      if (!from) return null;
      const kubelet = from.kubernetes.minor;
      const apiserver = to.kubernetes.minor;
      if (kubelet > apiserver)
        return {
          message: `the nodes' kubelets are ${from.release.kubernetes}: the ${to.release.version} apiservers would be older than them, and a kubelet must never be newer than the apiserver`,
          hint: `keep spec.kubernetes.version at ${prettyMinor(from.kubernetes)} or newer`,
        };
      const lag = maxNodeLag(kubelet);
      if (apiserver - kubelet <= lag) return null;
      return {
        message: `the nodes' kubelets stay on ${from.release.kubernetes} until their own update; ${apiserver - kubelet} minors behind a ${to.release.version} apiserver, more than the ${lag} a ${prettyMinor(from.kubernetes)} kubelet may lag`,
        hint: `upgrade one minor at a time (a ${`1.${kubelet + 1}`} release next), every node included, before the next step`,
      };
    },
  },
  {
    name: 'upgrade-kube-proxy-skew',
    summary:
      "kube-proxy moves with its node's kubelet; it is never newer than the apiserver nor further from the kubelet than two (before 1.25) or three minors",
    source:
      'kubernetes.io/releases/version-skew-policy: kube-proxy must not be newer than kube-apiserver, up to three minors older, and up to three minors older or newer than its kubelet (kube-proxy < 1.25: two)',
    violation: ({ from, to, mode }) => {
      if (!from) return null;
      const old = from.kubernetes.minor;
      const next = to.kubernetes.minor;
      // Binary mode updates kube-proxy in the node's own update, with its kubelet: it lags the new
      // apiservers as the kubelet does. kubeadm mode's `upgrade apply` moves the kube-proxy
      // DaemonSet on every node at once, ahead of the kubelets it runs beside.
      if (mode === 'binary') {
        if (old > next)
          return {
            message: `kube-proxy ${from.release.kubernetes} on the nodes would be newer than the ${to.release.version} apiservers`,
            hint: `keep spec.kubernetes.version at ${prettyMinor(from.kubernetes)} or newer`,
          };
        if (next - old <= maxNodeLag(old)) return null;
        return {
          message: `kube-proxy ${from.release.kubernetes} stays on each node until its update: ${next - old} minors behind a ${to.release.version} apiserver, more than the ${maxNodeLag(old)} allowed`,
          hint: `upgrade one minor at a time (a 1.${old + 1} release next)`,
        };
      }
      const lag = maxNodeLag(next);
      if (Math.abs(next - old) <= lag) return null;
      return {
        message: `kubeadm upgrade apply moves kube-proxy to ${to.release.version} on every node while their kubelets are still ${from.release.kubernetes}: ${Math.abs(next - old)} minors apart, more than the ${lag} allowed`,
        hint: `upgrade one minor at a time (a 1.${old + (next > old ? 1 : -1)} release next)`,
      };
    },
  },
  {
    name: 'upgrade-etcd-one-minor',
    summary: 'etcd moves one minor at a time (3.4 -> 3.5 -> 3.6), from the patch the next minor requires',
    source: `etcd.io/docs/v3.6/upgrades/upgrading-etcd: "Upgrading one minor version at a time ... Upgrades that skip a minor version are not supported"; ${ETCD_STEP_PREREQUISITES.map((p) => p.source).join('; ')}`,
    violation: ({ from, to }) => {
      const was = from?.release.versions.etcd;
      const now = to.release.versions.etcd;
      const a = was ? parseVersion(was) : null;
      const b = now ? parseVersion(now) : null;
      if (!a || !b || compareVersions(b, a) <= 0 || (a.major === b.major && a.minor === b.minor)) return null;
      if (a.major !== b.major || b.minor - a.minor > 1)
        return {
          message: `etcd would move from ${was} to ${now} (of ${to.release.version}), skipping a minor: etcd upgrades one minor at a time`,
          hint: `first bundle and roll out a release whose etcd is ${a.major}.${a.minor + 1}, then ${to.release.version}`,
        };
      const pre = ETCD_STEP_PREREQUISITES.find((p) => p.to === minorLine(b));
      const floor = pre ? parseVersion(pre.fromAtLeast) : null;
      if (!pre || !floor || compareVersions(a, floor) >= 0) return null;
      return {
        message: `etcd would move from ${was} to ${now} (of ${to.release.version}), but etcd ${minorLine(b)} requires every ${minorLine(a)} member on ${pre.fromAtLeast} or later first`,
        hint: `first bundle and roll out a release whose etcd is ${pre.fromAtLeast} or a later ${minorLine(a)} (a catalog release of the site's current minor), then ${to.release.version}`,
      };
    },
  },
  {
    name: 'containerd-minimum',
    summary: 'the release pairs its Kubernetes minor with a containerd that minor supports',
    source: CONTAINERD_MINIMUM.map((r) => `1.${r.from}+: containerd ${r.minimum}+ (${r.source})`).join('; '),
    violation: ({ to }) => {
      const cd = to.release.versions.containerd;
      const v = cd ? parseVersion(cd) : null;
      const min = containerdMinimum(to.kubernetes.minor);
      const floor = min ? parseVersion(min.minimum) : null;
      if (!v || !min || !floor || compareVersions(v, floor) >= 0) return null;
      return {
        message: `${to.release.version} pairs Kubernetes ${prettyMinor(to.kubernetes)} with containerd ${cd}, older than the ${min.minimum} it needs: ${min.source}`,
        hint: `set versions.containerd of releases/${to.release.version}.yaml in the catalog to ${min.minimum} or newer`,
      };
    },
  },
];

/** The rules of SKEW_RULES as validation rules: they need the recorded release (`previous` of the context), but for containerd-minimum. */
export const UPGRADE_RULES: Rule[] = SKEW_RULES.map((s) =>
  rule({
    name: s.name,
    summary: s.summary,
    check: ({ site, catalog, previous }, report): Issue[] => {
      const release = findRelease(catalog, site.spec.kubernetes.version);
      const next = release ? parseVersion(release.version) : null;
      if (!release || !next) return [];
      const was = previous ? parseVersion(previous.kubernetes) : null;
      const t: Transition = {
        from: previous && was ? { release: previous, kubernetes: was } : null,
        to: { release, kubernetes: next },
        mode: site.spec.kubernetes.mode,
      };
      const v = s.violation(t);
      return v ? [report(VERSION_PATH, v.message, v.hint)] : [];
    },
  }),
);

import { minorOf, quirk } from '../../catalog/quirks.js';
import { rule, type Rule } from './rule.js';

/** The host OS against the Kubernetes version and the output formats. */
export const OS_RULES: Rule[] = [
  rule({
    name: 'cgroup-v2-old-kubernetes',
    summary: 'Kubernetes before 1.25 on a cgroup-v2 host is a warning',
    check: ({ site }, report) => {
      const v = site.spec.kubernetes.version;
      let minor: number;
      try {
        minor = minorOf(v);
      } catch {
        return [];
      }
      const cgroup = site.spec.os.cgroupVersion ?? 2;
      if (cgroup !== 2 || quirk('cgroupV2', minor)) return [];
      return [
        report(
          'spec.os',
          `Kubernetes ${v} predates full cgroup v2 support, and current ${site.spec.os.family} releases boot with cgroup v2 only`,
          'boot the nodes with systemd.unified_cgroup_hierarchy=0 and set os.cgroupVersion: 1, or use Kubernetes 1.25 or newer',
          'warning',
        ),
      ];
    },
  }),
  rule({
    name: 'kickstart-needs-rhel',
    summary: 'the kickstart output is for RHEL-family hosts',
    check: ({ site }, report) => {
      const i = site.spec.output.formats.indexOf('kickstart');
      return i >= 0 && site.spec.os.family !== 'rhel'
        ? [report(`spec.output.formats[${i}]`, `kickstart installs RHEL-family hosts, but os.family is ${site.spec.os.family}`, 'use nocloud-iso or tarball for Debian and Ubuntu', 'warning')]
        : [];
    },
  }),
];

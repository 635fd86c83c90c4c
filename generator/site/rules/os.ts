import { minorOrNull, quirk } from '../../catalog/quirks.js';
import { DEB_PACKAGE_NAME } from '../../catalog/schema.js';
import { parseIPv4, specialRange } from '../ipv4.js';
import { isHostName, timezoneProblem } from '../names.js';
import { sshKeyProblem } from '../ssh-keys.js';
import { rule, type Rule } from './rule.js';

/** The host OS against the Kubernetes version and the output formats; the OS settings that land in its files. */
export const OS_RULES: Rule[] = [
  rule({
    name: 'ntp-servers-valid',
    summary: 'NTP servers are unicast IPv4 addresses or host names, one per entry (they become chrony.conf and kickstart lines)',
    check: ({ site }, report) =>
      site.spec.os.ntpServers.flatMap((server, i) => {
        const p = `spec.os.ntpServers[${i}]`;
        const ip = parseIPv4(server);
        if (ip !== null) {
          const special = specialRange(ip);
          return special ? [report(p, `${server} is a ${special} address, not a time server`, 'name a time server of the site')] : [];
        }
        if (isHostName(server)) return [];
        return [
          report(
            p,
            `${JSON.stringify(server)} is neither an IPv4 address nor a host name`,
            "one server per entry, without options: kubeseed writes chrony's options itself",
          ),
        ];
      }),
  }),
  rule({
    name: 'timezone-valid',
    summary: 'the time zone is a tz database name (it becomes the name of a zoneinfo file and a kickstart line)',
    check: ({ site }, report) => {
      const problem = timezoneProblem(site.spec.os.timezone);
      return problem ? [report('spec.os.timezone', problem.message, problem.hint)] : [];
    },
  }),
  rule({
    name: 'ssh-keys-valid',
    summary: 'every SSH key is one authorized_keys line sshd accepts: known type, a key of that type, known options',
    check: ({ site }, report) =>
      site.spec.os.sshAuthorizedKeys.flatMap((key, i) => {
        const problem = sshKeyProblem(key);
        return problem ? [report(`spec.os.sshAuthorizedKeys[${i}]`, problem.message, problem.hint)] : [];
      }),
  }),
  rule({
    name: 'cgroup-v2-old-kubernetes',
    summary: 'Kubernetes before 1.25 on a cgroup-v2 host is a warning',
    check: ({ site }, report) => {
      const v = site.spec.kubernetes.version;
      const minor = minorOrNull(v);
      if (minor === null) return [];
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
    name: 'cgroup-v1-refused',
    summary: 'the kubelet refuses cgroup v1 hosts from Kubernetes 1.35',
    check: ({ site }, report) => {
      const v = site.spec.kubernetes.version;
      const minor = minorOrNull(v);
      if (minor === null) return [];
      if (site.spec.os.cgroupVersion !== 1 || !quirk('cgroupV1Refused', minor)) return [];
      return [
        report(
          'spec.os.cgroupVersion',
          `the kubelet of ${v} refuses to start on a cgroup v1 host (failCgroupV1 defaults to true from 1.35, KEP-5573)`,
          'boot the nodes with cgroup v2 (the default of current distributions) and remove os.cgroupVersion, or use Kubernetes 1.34 or older',
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
        ? [
            report(
              `spec.output.formats[${i}]`,
              `kickstart installs RHEL-family hosts, but os.family is ${site.spec.os.family}`,
              'use nocloud-iso or tarball for Debian and Ubuntu',
              'warning',
            ),
          ]
        : [];
    },
  }),
  rule({
    name: 'os-packages-valid',
    summary: 'extra OS packages are Debian package names, for a family whose packages kubeseed carries',
    check: ({ site }, report) => {
      const os = site.spec.os;
      const out = os.packages.flatMap((p, i) =>
        DEB_PACKAGE_NAME.test(p)
          ? []
          : [
              report(
                `spec.os.packages[${i}]`,
                `'${p}' is not a Debian package name`,
                'lower case letters, digits, "+", "-" and ".", at least two characters, starting with a letter or digit; no version or architecture',
              ),
            ],
      );
      if (os.packages.length && os.family === 'rhel') {
        out.push(
          report(
            'spec.os.packages',
            'os.packages is carried for Debian and Ubuntu only; a RHEL-family node installs from its install media',
            'list them in your kickstart %packages, or leave os.packages out',
            'warning',
          ),
        );
      }
      return out;
    },
  }),
  rule({
    name: 'os-release-known',
    summary: 'a Debian or Ubuntu release is one whose archive the catalog knows (its packages travel in the payload)',
    check: ({ site, catalog }, report) => {
      const os = site.spec.os;
      if (os.family === 'rhel' || !catalog.osPackages || os.version === undefined) return [];
      const archive = catalog.osPackages.families[os.family];
      if (!archive)
        return [
          report(
            'spec.os.family',
            `the catalog (${catalog.dir}/ospkg.yaml) has no archive for ${os.family}`,
            'add the family to ospkg.yaml, or use another catalog',
          ),
        ];
      if (os.version in archive.releases) return [];
      return [
        report(
          'spec.os.version',
          `${os.family} ${os.version} is not a release the catalog carries packages for`,
          `known: ${Object.keys(archive.releases).join(', ')}`,
        ),
      ];
    },
  }),
];

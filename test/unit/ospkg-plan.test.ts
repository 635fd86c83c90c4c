import test from 'ava';
import type { Catalog, ResolvedSite } from '../../generator/model/index.js';
import { buildPlan } from '../../generator/plan/index.js';
import { checkSite, parseSite } from '../../generator/site/index.js';
import { loadDefaultCatalog, readRepo, TODAY } from '../helpers.js';
import { nodeNamed, siteFromLab1, type SiteEdit } from '../sites.js';

let catalog: Catalog;
test.before(async () => {
  catalog = await loadDefaultCatalog();
});

const site = (...edits: SiteEdit[]): ResolvedSite => siteFromLab1(catalog, ...edits);
const ALWAYS = ['conntrack', 'ebtables', 'ethtool', 'iptables', 'kmod', 'mount', 'procps', 'socat', 'util-linux'];

test('lab1 asks Debian 12 for the base tools, nft for kube-proxy (nftables, the 1.33+ default), nginx with its stream module and chrony on every node', (t) => {
  const os = buildPlan(site(), catalog).osPackages;
  t.is(os.repos.length, 1);
  const repo = os.repos[0]!;
  t.like(repo, {
    id: 'debian-12-amd64',
    family: 'debian',
    release: '12',
    suite: 'bookworm',
    components: ['main'],
    arch: 'amd64',
    mirror: 'https://deb.debian.org/debian',
    keys: 'keys/debian-archive-keys.asc',
  });
  const expected = [...ALWAYS, 'chrony', 'libnginx-mod-stream', 'nftables', 'nginx-light'].sort();
  t.deepEqual(repo.packages, expected);
  t.deepEqual(Object.keys(os.nodes), ['k8s-01', 'k8s-02', 'k8s-03']);
  for (const n of Object.values(os.nodes)) t.deepEqual(n, { repo: 'debian-12-amd64', packages: expected });
});

test('site choices change the request: iptables mode, no NTP, a VIP only on control planes, extra packages, a mirror', (t) => {
  const edited = site((s) => {
    s.spec.kubernetes.proxyMode = 'iptables';
    s.spec.os.ntpServers = [];
    s.spec.os.packages = ['nfs-common', 'jq', 'jq'];
    s.spec.controlPlane.loadBalancer = 'vip';
    s.spec.controlPlane.vip = '192.168.93.40';
    s.spec.network.interface = 'eth0';
    nodeNamed(s, 'k8s-03').roles = ['etcd', 'worker'];
    s.spec.artifacts.sources = { debian: 'http://mirror.site.internal/debian' };
  });
  const os = buildPlan(edited, catalog).osPackages;
  t.is(os.repos[0]!.mirror, 'http://mirror.site.internal/debian');
  t.deepEqual(os.nodes['k8s-01']!.packages, [...ALWAYS, 'haproxy', 'jq', 'keepalived', 'nfs-common'].sort());
  t.deepEqual(os.nodes['k8s-03']!.packages, [...ALWAYS, 'jq', 'nfs-common'].sort());
  t.deepEqual(os.repos[0]!.packages, [...ALWAYS, 'haproxy', 'jq', 'keepalived', 'nfs-common'].sort());
});

test('Ubuntu 24.04 takes main and universe from the Ubuntu archive, arm64 nodes from the ports archive', (t) => {
  const edited = site((s) => {
    s.spec.os.family = 'ubuntu';
    s.spec.os.version = '24.04';
    s.spec.artifacts.arch = ['amd64', 'arm64'];
    nodeNamed(s, 'k8s-03').arch = 'arm64';
  });
  const os = buildPlan(edited, catalog).osPackages;
  t.deepEqual(
    os.repos.map((r) => [r.id, r.suite, r.components.join(','), r.mirror]),
    [
      ['ubuntu-24.04-amd64', 'noble', 'main,universe', 'http://archive.ubuntu.com/ubuntu'],
      ['ubuntu-24.04-arm64', 'noble', 'main,universe', 'http://ports.ubuntu.com/ubuntu-ports'],
    ],
  );
  t.is(os.nodes['k8s-03']!.repo, 'ubuntu-24.04-arm64');
});

test('a site without os.version takes the family default release; a RHEL site plans no OS packages', (t) => {
  t.is(
    buildPlan(
      site((s) => {
        delete s.spec.os.version;
      }),
      catalog,
    ).osPackages.repos[0]!.id,
    'debian-12-amd64',
  );
  const rocky = checkSite(parseSite(readRepo('test/fixtures/sites/lab1-rocky.yaml'), 'lab1-rocky.yaml'), catalog, TODAY);
  t.deepEqual(buildPlan(rocky.resolved!, catalog).osPackages, { repos: [], nodes: {} });
});

test('a bad package name in os.packages is reported at its line and column', (t) => {
  const text = readRepo('blueprints/sites/lab1.yaml').replace(
    'ntpServers: [192.168.93.1]',
    'ntpServers: [192.168.93.1]\n    packages: [nfs-common, "jq>=1.6"]',
  );
  const r = checkSite(parseSite(text, 'lab1.yaml'), catalog, TODAY);
  const bad = r.issues.find((i) => i.rule === 'os-packages-valid');
  t.truthy(bad);
  t.is(bad!.path, 'spec.os.packages[1]');
  t.is(bad!.line, text.split('\n').findIndex((l) => l.includes('jq>=1.6')) + 1);
  t.true((bad!.col ?? 0) > 1);
});

test('kube-proxy in ipvs mode asks for the IPVS tools', (t) => {
  const os = buildPlan(
    site((s) => {
      s.spec.kubernetes.proxyMode = 'ipvs';
    }),
    catalog,
  ).osPackages;
  t.true(['ipset', 'ipvsadm'].every((p) => os.repos[0]!.packages.includes(p)));
  t.false(os.repos[0]!.packages.includes('nftables'));
});

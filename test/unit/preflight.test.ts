import test from 'ava';
import type { Catalog, ResolvedSite } from '../../generator/model/index.js';
import { buildPlan } from '../../generator/plan/index.js';
import { KERNEL_MODULES, kernelModules, preflightChecks, SYSCTL } from '../../generator/render/preflight.js';
import { renderLab1 } from '../goldens.js';
import { loadDefaultCatalog } from '../helpers.js';
import { kubeadmMode, siteFromLab1, type SiteEdit } from '../sites.js';

let catalog: Catalog;
test.before(async () => {
  catalog = await loadDefaultCatalog();
});

const site = (...edits: SiteEdit[]): ResolvedSite => siteFromLab1(catalog, ...edits);
const iptablesMode: SiteEdit = (x) => {
  x.spec.kubernetes.proxyMode = 'iptables';
};
const ipvsMode: SiteEdit = (x) => {
  x.spec.kubernetes.proxyMode = 'ipvs';
};
const names = (s: ResolvedSite, node = 0) => preflightChecks(s, s.nodes[node]!).map((c) => `${c.kind} ${c.name} ${c.package}`);

test('IPVS brings its kernel modules and ipset; iptables mode asks for neither', (t) => {
  const ipvs = site(ipvsMode);
  const iptables = site(iptablesMode);
  t.deepEqual(kernelModules(ipvs, ipvs.nodes[0]!), ['br_netfilter', 'overlay', 'ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', 'nf_conntrack']);
  t.deepEqual(kernelModules(iptables, iptables.nodes[0]!), ['br_netfilter', 'overlay', 'nf_conntrack']);
  t.true(names(ipvs).includes('command ipset ipset'));
  t.false(names(iptables).some((n) => n.includes('ipset') || n.includes('ip_vs')));
  for (const s of [ipvs, iptables]) t.true(names(s).includes('command conntrack conntrack'));
});

test("the local apiserver proxy needs nginx and its family's stream module; the VIP needs haproxy and keepalived on control planes only", (t) => {
  t.true(names(site()).includes('file /usr/sbin/nginx nginx-light'));
  t.true(names(site()).includes('file /usr/lib/nginx/modules/ngx_stream_module.so libnginx-mod-stream'));
  const rhel = site((x) => {
    x.spec.os.family = 'rhel';
    x.spec.os.version = '9';
  });
  t.true(names(rhel).includes('file /usr/lib64/nginx/modules/ngx_stream_module.so nginx-mod-stream'), names(rhel).join('\n'));
  t.true(names(rhel).includes('command conntrack conntrack-tools'));
  // The VIP choice alone, on lab1 with its third node a plain worker (what the checks read of the site).
  const base = site();
  const vip: ResolvedSite = {
    ...base,
    controlPlane: { ...base.controlPlane, loadBalancer: 'vip', vip: '192.168.93.40' },
    nodes: base.nodes.map((n, i) => (i === 2 ? { ...n, roles: ['worker'] } : n)),
  };
  const cp = vip.nodes.find((n) => n.roles.includes('control-plane'))!;
  const worker = vip.nodes.find((n) => !n.roles.includes('control-plane'))!;
  const of = (n: typeof cp) => preflightChecks(vip, n).map((c) => c.name);
  t.true(of(cp).includes('haproxy') && of(cp).includes('keepalived'));
  t.false(of(worker).includes('haproxy') || of(worker).includes('keepalived'));
  t.false(of(cp).includes('/usr/sbin/nginx'));
});

test('chrony is checked only when the site names NTP servers', (t) => {
  t.true(names(site()).includes('command chronyd chrony'));
  t.false(
    names(
      site((x) => {
        x.spec.os.ntpServers = [];
      }),
    ).some((n) => n.includes('chrony')),
  );
});

test('a kernel setting a module creates names a module the node always loads; the others are checked themselves', (t) => {
  const s = site();
  const checks = preflightChecks(s, s.nodes[0]!);
  for (const k of SYSCTL) {
    if (k.module) {
      t.true(
        KERNEL_MODULES.some((m) => m.name === k.module && Object.keys(m.when).length === 0),
        k.key,
      );
      t.false(
        checks.some((c) => c.name === k.key),
        `${k.key} is checked through ${k.module}`,
      );
    } else
      t.true(
        checks.some((c) => c.kind === 'sysctl' && c.name === k.key),
        k.key,
      );
  }
  t.true(checks.filter((c) => c.kind === 'module' || c.kind === 'sysctl').every((c) => c.package === 'linux-image-{kernel}'));
});

test('every program a rendered unit starts from the host (not from the payload) is a preflight check', async (t) => {
  const lab1 = await renderLab1();
  // Directories the payload fills, and programs of Debian's Essential packages (coreutils).
  const payload = ['/usr/local/bin/', '/usr/local/sbin/', '/opt/kubeseed/', '/opt/cni/'];
  const essential = ['/bin/mkdir', '/bin/chmod'];
  for (const node of lab1.nodes) {
    const n = lab1.site.nodes.find((x) => x.name === node.name)!;
    const checked = preflightChecks(lab1.site, n).map((c) => c.name);
    for (const unit of node.files.filter((f) => f.path.startsWith('/etc/systemd/system/'))) {
      for (const m of unit.content.matchAll(/^ExecStart(?:Pre)?=-?(\/\S+)/gm)) {
        const bin = m[1]!;
        if (payload.some((p) => bin.startsWith(p)) || essential.includes(bin)) continue;
        t.true(checked.includes(bin) || checked.includes(bin.slice(bin.lastIndexOf('/') + 1)), `${node.name} ${unit.path}: ${bin} is not checked`);
      }
    }
    // The modules-load file and first boot load the same modules preflight checks.
    const modulesLoad = node.files.find((f) => f.path === '/etc/modules-load.d/kubeseed.conf')!.content;
    t.deepEqual(
      modulesLoad.split('\n').filter((l) => l && !l.startsWith('#')),
      kernelModules(lab1.site, n),
    );
  }
});

test("every package the preflight names for a missing program is in the node's OS-package request or the baseline (ospkg.yaml)", (t) => {
  const variants = [site(ipvsMode), site(iptablesMode, kubeadmMode)];
  for (const s of variants) {
    const plan = buildPlan(s, catalog);
    for (const n of s.nodes) {
      const request = plan.osPackages.nodes[n.name]!;
      const repo = plan.osPackages.repos.find((r) => r.id === request.repo)!;
      const carried = new Set([...request.packages, ...(repo.baseline ?? [])]);
      for (const c of preflightChecks(s, n).filter((x) => x.kind === 'command' || x.kind === 'file')) {
        t.true(carried.has(c.package), `${s.kubernetes.mode} ${n.name}: ${c.kind} ${c.name} names ${c.package}, which the payload does not carry`);
      }
    }
  }
});

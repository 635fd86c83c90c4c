import test from 'ava';
import { join } from 'node:path';
import { parse } from 'yaml';
import { readState } from '../../generator/io/state.js';
import { readTemplates } from '../../generator/io/templates.js';
import type { Addon, Catalog } from '../../generator/model/index.js';
import { renderSite } from '../../generator/pipeline/render.js';
import type { StateFiles } from '../../generator/pki/issue.js';
import { fixtureStateDir } from '../goldens.js';
import { loadDefaultCatalog, repoRoot } from '../helpers.js';
import { siteFromLab1 } from '../sites.js';

let catalog: Catalog;
let state: StateFiles;
let templates: Awaited<ReturnType<typeof readTemplates>>;
test.before(async () => {
  catalog = await loadDefaultCatalog();
  state = (await readState(fixtureStateDir))!;
  templates = await readTemplates(join(repoRoot, 'blueprints', 'templates'));
});

/** lab1 on another release and network plugin; cgroup v1 for the releases that predate full cgroup v2 support. */
function render(version: string, plugin: 'flannel' | 'calico', addons: Addon[] = ['coredns', 'metrics-server']) {
  const site = siteFromLab1(catalog, (s) => {
    s.spec.kubernetes.version = version;
    s.spec.network.plugin = plugin;
    s.spec.addons = addons;
    if (version === 'v1.20.2') s.spec.os.cgroupVersion = 1;
  });
  return { site, ...renderSite(site, catalog, state, templates) };
}

const fileOf = (r: ReturnType<typeof render>, path: string, node = 'k8s-01') =>
  r.nodes.find((n) => n.name === node)!.files.find((f) => f.path === path)?.content;
const docs = (text: string) => text.split(/^---$/m).map((d) => parse(d));

test('every release of the catalog renders lab1 with flannel and with calico, every image a manifest names being in the plan', (t) => {
  for (const rel of catalog.releases) {
    for (const plugin of ['flannel', 'calico'] as const) {
      const r = render(rel.version, plugin);
      const planned = new Set(r.plan.images.map((i) => i.ref));
      const manifests = r.nodes[0]!.files.filter((f) => f.path.startsWith('/opt/kubeseed/manifests/'));
      t.true(manifests.length >= 3, `${rel.version} ${plugin}`);
      for (const m of manifests) {
        for (const ref of m.content.match(/(?<=image: )\S+/g) ?? []) t.true(planned.has(ref), `${rel.version} ${plugin} ${m.path}: ${ref} is not in the plan`);
      }
    }
  }
});

test('1.20.2 with flannel: no flannel-cni-plugin init container (its CNI plugins still carry flannel), containerd 1.4 gets config version 2 without hosts.toml and ctr import without --platform', (t) => {
  const r = render('v1.20.2', 'flannel');
  t.false(r.plan.images.some((i) => i.name === 'flannel-cni-plugin'));
  const ds = docs(fileOf(r, '/opt/kubeseed/manifests/10-flannel.yaml')!).find((d) => d?.kind === 'DaemonSet');
  t.deepEqual(
    ds.spec.template.spec.initContainers.map((c: { name: string }) => c.name),
    ['install-cni'],
  );
  t.false(ds.spec.template.spec.volumes.some((v: { name: string }) => v.name === 'cni-plugin'));
  const cd = fileOf(r, '/etc/containerd/config.toml')!;
  t.regex(cd, /^version = 2$/m);
  t.regex(cd, /sandbox_image = "registry\.k8s\.io\/pause:3\.2"/);
  t.notRegex(cd, /config_path/, 'containerd 1.4 has no registry config_path');
  const fb = fileOf(r, '/opt/kubeseed/firstboot')!;
  t.regex(fb, /ctr -n k8s\.io images import "\$PAYLOAD"/);
  t.notRegex(fb, /--platform/);
  t.regex(fileOf(r, '/var/lib/kube-proxy/config.yaml')!, /^mode: ipvs$/m, 'no nftables before 1.31: ipvs stays the default');
});

test('1.37.1 with flannel: the flannel-cni-plugin init container, config version 3, import with --platform, nftables by default', (t) => {
  const r = render('v1.37.1', 'flannel');
  const ds = docs(fileOf(r, '/opt/kubeseed/manifests/10-flannel.yaml')!).find((d) => d?.kind === 'DaemonSet');
  t.deepEqual(
    ds.spec.template.spec.initContainers.map((c: { name: string; image: string }) => [c.name, c.image]),
    [
      ['install-cni-plugin', 'docker.io/flannel/flannel-cni-plugin:v1.7.1-flannel1'],
      ['install-cni', 'docker.io/flannel/flannel:v0.28.4'],
    ],
  );
  t.regex(fileOf(r, '/etc/containerd/config.toml')!, /^version = 3$/m);
  t.regex(fileOf(r, '/opt/kubeseed/firstboot')!, /ctr -n k8s\.io images import --platform 'linux\/amd64' "\$PAYLOAD"/);
  t.regex(fileOf(r, '/var/lib/kube-proxy/config.yaml')!, /^mode: nftables$/m);
  t.notRegex(fileOf(r, '/var/lib/kube-proxy/config.yaml')!, /ipvs/);
});

test('dashboard on a release without it renders headlamp; the kubelet reads the real resolv.conf on Ubuntu (systemd-resolved)', (t) => {
  const r = render('v1.37.1', 'calico', ['coredns', 'dashboard']);
  t.deepEqual(r.site.addons, ['coredns', 'headlamp']);
  const files = r.nodes[0]!.files.map((f) => f.path);
  t.true(files.includes('/opt/kubeseed/manifests/40-headlamp.yaml'));
  t.false(files.includes('/opt/kubeseed/manifests/40-dashboard.yaml'));
  t.true(r.plan.images.some((i) => i.ref === 'ghcr.io/headlamp-k8s/headlamp:v0.45.0'));

  t.regex(fileOf(r, '/var/lib/kubelet/config.yaml')!, /^resolvConf: \/etc\/resolv\.conf$/m, 'Debian');
  const toUbuntu = (s: Parameters<Parameters<typeof siteFromLab1>[1]>[0]) => {
    s.spec.os.family = 'ubuntu';
    s.spec.os.version = '24.04';
  };
  const ubuntu = siteFromLab1(catalog, toUbuntu);
  const u = renderSite(ubuntu, catalog, state, templates);
  t.regex(u.nodes[0]!.files.find((f) => f.path === '/var/lib/kubelet/config.yaml')!.content, /^resolvConf: \/run\/systemd\/resolve\/resolv\.conf$/m);
  const own = siteFromLab1(catalog, toUbuntu, (s) => {
    s.spec.os.resolvConf = '/etc/kubeseed/resolv.conf';
  });
  t.regex(
    renderSite(own, catalog, state, templates).nodes[0]!.files.find((f) => f.path === '/var/lib/kubelet/config.yaml')!.content,
    /^resolvConf: \/etc\/kubeseed\/resolv\.conf$/m,
  );
});

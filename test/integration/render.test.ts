import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { readTemplates } from '../../generator/io/templates.js';
import type { Catalog, RenderedFile } from '../../generator/model/index.js';
import { renderSite, type RenderedNode } from '../../generator/pipeline/render.js';
import { buildPlan } from '../../generator/plan/index.js';
import { containerdQuirk } from '../../generator/catalog/quirks.js';
import { egressLint } from '../../generator/render/index.js';
import { fixtureCache, loadDefaultCatalog, repoRoot } from '../helpers.js';
import { renderLab1 } from '../goldens.js';
import { makeState } from '../pki-fixture.js';
import { ecdsa, k8s03Worker, kubeadmMode, nodeNamed, on120, relaxedTiming, siteFromLab1 } from '../sites.js';
import { tempDirs } from '../temp.js';

type Rendered = Awaited<ReturnType<typeof renderLab1>>;
let lab1: Rendered;
let old: Rendered;
let kadm: Rendered;
let catalog: Catalog;
const tmp = tempDirs();
const K8S_BIN = join(fixtureCache, 'kubernetes-v1.20.2', 'bin');

/** lab1 as the e2e boots it: Kubernetes 1.20.2, bridge networking, cgroup v1, no add-on images, relaxed timing. */
const asBooted = [on120, relaxedTiming, ecdsa];

test.before(async () => {
  catalog = await loadDefaultCatalog();
  lab1 = await renderLab1();
  const site = siteFromLab1(catalog, ...asBooted);
  const st = await makeState(site);
  tmp.adopt(st.root);
  const templates = await readTemplates(join(repoRoot, 'blueprints', 'templates'));
  old = { site, catalog, state: st.files, ...renderSite(site, catalog, st.files, templates) };
  // The same in kubeadm mode with external etcd (kubeseed's etcd units, kubeadm's control plane).
  const ksite = siteFromLab1(catalog, ...asBooted, kubeadmMode, (s) => {
    s.spec.kubernetes.etcdTopology = 'external';
  });
  const kst = await makeState(ksite);
  tmp.adopt(kst.root);
  kadm = { site: ksite, catalog, state: kst.files, ...renderSite(ksite, catalog, kst.files, templates) };
});

const every = () => [
  ...lab1.nodes.map((n) => ({ v: 'v1.37.1', n, r: lab1 })),
  ...old.nodes.map((n) => ({ v: 'v1.20.2', n, r: old })),
  ...kadm.nodes.map((n) => ({ v: 'v1.20.2 kubeadm', n, r: kadm })),
];
const file = (n: RenderedNode, path: string) => n.files.find((f) => f.path === path)!;

function write(dir: string, f: Pick<RenderedFile, 'path' | 'content'>, mode = 0o644): string {
  const p = join(dir, f.path);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, f.content, { mode });
  return p;
}

test("cloud-init's schema validator accepts every node's user-data, each under 64 KiB", (t) => {
  for (const { v, n } of every()) {
    const ud = n.seed['user-data'];
    t.true(ud.startsWith('#cloud-config\n'));
    t.true(Buffer.byteLength(ud) < 64 * 1024, `${v} ${n.name}: ${Buffer.byteLength(ud)} bytes`);
    const p = write(tmp('kubeseed-ud-'), { path: '/user-data', content: ud });
    const r = spawnSync('cloud-init', ['schema', '--config-file', p], { encoding: 'utf8' });
    t.is(r.status, 0, `${v} ${n.name}: ${r.stdout}${r.stderr}`);
    t.regex(r.stdout, /Valid cloud-config/);
    const doc = parse(ud, { version: '1.1' }) as { write_files: { permissions: unknown }[] };
    t.true(doc.write_files.every((w) => typeof w.permissions === 'string' && /^0[0-7]{3}$/.test(w.permissions)));
  }
});

test('the schema validator is a real check: it rejects an unquoted octal permission', (t) => {
  const p = write(tmp('kubeseed-ud-'), { path: '/user-data', content: '#cloud-config\nwrite_files:\n  - path: /x\n    permissions: 0600\n    content: x\n' });
  const r = spawnSync('cloud-init', ['schema', '--config-file', p], { encoding: 'utf8' });
  t.not(r.status, 0);
});

test('systemd-analyze verify accepts every unit, with the binaries it starts present', (t) => {
  for (const { v, n } of every()) {
    const root = tmp('kubeseed-units-');
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
    const units = n.files.filter((f) => f.path.startsWith('/etc/systemd/system/'));
    t.true(units.length >= 6);
    for (const u of units) {
      write(root, u);
      for (const m of u.content.matchAll(/^Exec[A-Za-z]*=-?(\/\S+)/gm)) {
        const bin = join(root, m[1]!);
        if (!existsSync(bin)) {
          mkdirSync(dirname(bin), { recursive: true });
          writeFileSync(bin, '#!/bin/sh\n');
          chmodSync(bin, 0o755);
        }
      }
    }
    // Drop-ins (kubeadm's kubelet flags) are loaded with their unit; only units are named.
    const named = units.filter((u) => !u.path.includes('.service.d/'));
    const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...named.map((u) => u.path.slice(1))], { cwd: root, encoding: 'utf8' });
    t.is(r.status, 0, `${v} ${n.name}: ${r.stderr}`);
    t.is(r.stderr.trim(), '', `${v} ${n.name}: no warnings: ${r.stderr}`);
  }
});

test('shellcheck passes every script', (t) => {
  for (const { v, n } of every()) {
    const scripts = n.files.filter((f) => f.content.startsWith('#!/bin/bash'));
    const etcdUnit = n.files.some((f) => f.path === '/etc/systemd/system/etcd.service');
    t.deepEqual(scripts.map((s) => s.path).sort(), [
      ...(etcdUnit ? ['/opt/kubeseed/etcd-join'] : []),
      '/opt/kubeseed/firstboot',
      '/usr/local/bin/kubeseed-status',
      '/usr/local/sbin/kubeseed-reset',
    ]);
    for (const s of scripts) {
      const p = write(tmp('kubeseed-sh-'), s);
      const r = spawnSync('shellcheck', ['--shell=bash', '--severity=style', p], { encoding: 'utf8' });
      t.is(r.status, 0, `${v} ${n.name} ${s.path}:\n${r.stdout}`);
    }
  }
});

test('nginx -t accepts the local apiserver proxy configuration', (t) => {
  for (const { v, n } of every()) {
    const dir = tmp('kubeseed-nginx-');
    mkdirSync(join(dir, 'logs'));
    const conf = write(dir, file(n, '/etc/kubeseed/apiserver-proxy.conf'));
    const r = spawnSync('nginx', ['-t', '-c', conf, '-p', dir], { encoding: 'utf8' });
    t.is(r.status, 0, `${v} ${n.name}: ${r.stderr}`);
    t.regex(file(n, '/etc/kubeseed/apiserver-proxy.conf').content, /listen 127\.0\.0\.1:8443;/);
  }
});

test("containerd config dump (Debian's containerd 1.6) reads the rendered version-2 config of containerd 1.x releases", (t) => {
  // containerd 2.x releases get version 3, which 1.6 cannot read: containerd-config.test.ts runs a 2.x on those.
  const v2 = every().filter(({ r }) => !containerdQuirk('configV3', r.site.containerRuntime.version));
  t.true(v2.length >= 3, 'the 1.20.2 sites render version 2');
  for (const { v, n, r: rendered } of v2) {
    const conf = write(tmp('kubeseed-containerd-'), file(n, '/etc/containerd/config.toml'));
    const r = spawnSync('containerd', ['--config', conf, 'config', 'dump'], { encoding: 'utf8' });
    t.is(r.status, 0, `${v} ${n.name}: ${r.stderr}`);
    const pause = rendered.plan.images.find((i) => i.name === 'pause')!.ref;
    t.regex(r.stdout, new RegExp(`sandbox_image = "${pause.replaceAll('.', '\\.')}"`));
    t.regex(r.stdout, /SystemdCgroup = true/);
    t.regex(r.stdout, /BinaryName = "\/usr\/local\/sbin\/runc"/);
  }
});

/** Runs a 1.20.2 binary in fresh mount and network namespaces, so it cannot touch the host's network or mounts. */
function runIsolated(bin: string, args: string[]) {
  return spawnSync('unshare', ['-m', '-n', '--fork', join(K8S_BIN, bin), ...args], { encoding: 'utf8', timeout: 20_000 });
}

test('the real kubelet 1.20.2 accepts the rendered KubeletConfiguration (and rejects a broken one)', (t) => {
  t.true(existsSync(join(K8S_BIN, 'kubelet')), 'kubelet 1.20.2 fixture present (scripts/e2e/build-kubernetes.sh)');
  for (const n of old.nodes) {
    const dir = tmp('kubeseed-kubelet-');
    const cfg = write(dir, file(n, '/var/lib/kubelet/config.yaml'));
    t.regex(readFileSync(cfg, 'utf8'), /nodeLeaseDurationSeconds: 80/, 'the relaxed heartbeat reaches the config the kubelet checks');
    const args = [
      '--config',
      cfg,
      '--kubeconfig',
      join(dir, 'none.conf'),
      '--root-dir',
      join(dir, 'root'),
      '--network-plugin=cni',
      '--container-runtime=remote',
      `--container-runtime-endpoint=unix://${dir}/none.sock`,
    ];
    const r = runIsolated('kubelet', args);
    const out = r.stdout + r.stderr;
    t.notRegex(out, /invalid configuration|failed to load Kubelet config file/i, `${n.name}: ${out.slice(0, 500)}`);
    // Validation passed: the kubelet went on to read the client CA the config names.
    t.regex(out, /unable to load client CA file \/etc\/kubernetes\/pki\/ca\.crt/);
    writeFileSync(cfg, file(n, '/var/lib/kubelet/config.yaml').content.replace('readOnlyPort: 0', 'readOnlyPort: -5'));
    t.regex(runIsolated('kubelet', args).stderr, /invalid configuration: readOnlyPort/);
  }
});

test('the real kube-proxy 1.20.2 accepts the rendered KubeProxyConfiguration (and rejects a broken one)', (t) => {
  for (const n of old.nodes) {
    const cfg = write(tmp('kubeseed-kube-proxy-'), file(n, '/var/lib/kube-proxy/config.yaml'));
    const r = runIsolated('kube-proxy', ['--config', cfg]);
    const out = r.stdout + r.stderr;
    t.notRegex(out, /failed validate|failed complete/i, `${n.name}: ${out.slice(0, 500)}`);
    t.regex(out, /\/var\/lib\/kube-proxy\/kubeconfig: no such file or directory/);
    writeFileSync(cfg, file(n, '/var/lib/kube-proxy/config.yaml').content.replace('mode: ipvs', 'mode: bogus'));
    t.regex(runIsolated('kube-proxy', ['--config', cfg]).stderr, /failed validate: KubeProxyConfiguration\.Mode/);
  }
});

test('egress lint: no node file points at a host outside the site', (t) => {
  for (const { v, n, r } of every()) {
    const seeds = Object.entries(n.seed).map(([path, content]) => ({ path, content }));
    t.deepEqual(egressLint(r.site, r.plan, [...n.files, ...seeds]), [], `${v} ${n.name}`);
  }
});

test('egress lint is a real check: it finds a public image, URL and time pool', (t) => {
  const bad = [
    { path: '/x.yaml', content: 'spec:\n  containers:\n    - image: docker.io/library/nginx:latest\n' },
    { path: '/y.conf', content: 'server https://example.com:443\n' },
    { path: '/etc/chrony/sources.d/z.sources', content: 'pool 2.debian.pool.ntp.org iburst\n' },
  ];
  const findings = egressLint(lab1.site, lab1.plan, bad);
  t.deepEqual(
    findings.map((f) => f.path),
    ['/x.yaml', '/x.yaml', '/y.conf', '/etc/chrony/sources.d/z.sources'],
  );
});

test("a worker's files hold no CA private key, no etcd key, no sa.key and no admin kubeconfig", async (t) => {
  const site = siteFromLab1(catalog, ecdsa, k8s03Worker);
  const st = await makeState(site);
  tmp.adopt(st.root);
  const r = renderSite(site, catalog, st.files, await readTemplates(join(repoRoot, 'blueprints', 'templates')));
  const worker = r.nodes.find((n) => n.name === 'k8s-03')!;
  const blob = [...worker.files.map((f) => f.content), ...Object.values(worker.seed)].join('\n');
  const secret = [...st.files].filter(([p]) =>
    /^pki\/(ca|etcd-ca|front-proxy-ca|sa|admin|bootstrapper|etcd-healthcheck-client|apiserver-etcd-client)\.key$|^pki\/etcd-(server|peer)\//.test(p),
  );
  t.true(secret.length >= 9);
  for (const [p, pem] of secret) {
    t.false(blob.includes(pem.trim().split('\n').slice(1, -1).join('\n')), `${p} leaked into the worker`);
    t.false(blob.includes(Buffer.from(pem).toString('base64')), `${p} leaked into a worker kubeconfig`);
  }
  t.false(
    worker.files.some(
      (f) => f.path.includes('admin') || f.path.startsWith('/etc/systemd/system/kube-apiserver') || f.path.startsWith('/etc/systemd/system/etcd'),
    ),
  );
});

test('every node gets exactly the rendered and PKI files its plan lists', (t) => {
  for (const r of [lab1, old, kadm]) {
    for (const n of r.nodes) {
      const planned = r.plan.nodes.find((x) => x.name === n.name)!.files.filter((f) => f.origin.startsWith('render:') || f.origin.startsWith('pki:'));
      const dirs = planned.filter((f) => f.path.endsWith('/')).map((f) => f.path);
      const listed = planned
        .filter((f) => !f.path.endsWith('/'))
        .map((f) => `${f.path} ${f.mode}`)
        .sort();
      const rendered = n.files
        .filter((f) => !dirs.some((d) => f.path.startsWith(d)))
        .map((f) => `${f.path} ${f.mode}`)
        .sort();
      t.deepEqual(rendered, listed, `${r.site.kubernetes.version} ${n.name}`);
      for (const d of dirs)
        t.true(
          n.files.some((f) => f.path.startsWith(d)),
          `${n.name} has files under ${d}`,
        );
    }
  }
});

test('version quirks reach the flags: 1.20 keeps --insecure-port=0 and the dockershim kubelet flags, 1.37 drops them', (t) => {
  const api120 = file(old.nodes[0]!, '/etc/systemd/system/kube-apiserver.service').content;
  const api134 = file(lab1.nodes[0]!, '/etc/systemd/system/kube-apiserver.service').content;
  t.regex(api120, /--insecure-port=0/);
  t.notRegex(api134, /insecure-port/);
  const kl120 = file(old.nodes[0]!, '/etc/systemd/system/kubelet.service').content;
  const kl134 = file(lab1.nodes[0]!, '/etc/systemd/system/kubelet.service').content;
  t.regex(kl120, /--network-plugin=cni[\s\S]*--container-runtime=remote[\s\S]*--container-runtime-endpoint=unix:\/\/\/run\/containerd\/containerd\.sock/);
  t.notRegex(kl134, /network-plugin|container-runtime/);
  t.regex(file(lab1.nodes[0]!, '/var/lib/kubelet/config.yaml').content, /containerRuntimeEndpoint: unix:\/\/\/run\/containerd\/containerd\.sock/);
  t.truthy(file(lab1.nodes[0]!, '/opt/kubeseed/manifests/01-cluster-admins.yaml'));
  t.falsy(old.nodes[0]!.files.find((f) => f.path.includes('cluster-admins')));
});

test('bridge networking: each node gets its own pod subnet and routes to every other node', (t) => {
  const subnets = old.nodes.map((n) => JSON.parse(file(n, '/etc/cni/net.d/10-kubeseed-bridge.conflist').content).plugins[0].ipam.ranges[0][0].subnet as string);
  t.deepEqual(subnets, ['172.30.0.0/24', '172.30.1.0/24', '172.30.2.0/24']);
  const routes = file(old.nodes[0]!, '/etc/systemd/system/kubeseed-routes.service').content;
  t.regex(routes, /ip route replace 172\.30\.1\.0\/24 via 192\.168\.93\.46/);
  t.regex(routes, /ip route replace 172\.30\.2\.0\/24 via 192\.168\.93\.47/);
  t.notRegex(routes, /172\.30\.0\.0\/24/);
});

test('rendering is deterministic, and uses the plan gen plan prints', async (t) => {
  const templates = await readTemplates(join(repoRoot, 'blueprints', 'templates'));
  const again = renderSite(old.site, catalog, old.state, templates);
  t.deepEqual(again.nodes, old.nodes);
  t.deepEqual(again.plan, buildPlan(old.site, catalog));
});

test('PyYAML (what cloud-init reads with) sees every MAC, mode and address of the seed as a string', async (t) => {
  const site = siteFromLab1(catalog, (s) => {
    nodeNamed(s, 'k8s-01').mac = '52:54:00:12:34:56';
  });
  const { noCloudSeed } = await import('../../generator/render/index.js');
  const seed = noCloudSeed(site, site.nodes[0]!, lab1.nodes[0]!.files);
  const py = `import json, sys, yaml\nnc = yaml.safe_load(open(sys.argv[1]))\nud = yaml.safe_load(open(sys.argv[2]))\nprint(json.dumps([nc['ethernets']['primary']['match']['macaddress'], [w['permissions'] for w in ud['write_files']]]))`;
  const dir = tmp('kubeseed-pyyaml-');
  const nc = write(dir, { path: '/network-config', content: seed['network-config'] });
  const ud = write(dir, { path: '/user-data', content: seed['user-data'] });
  // Debian's python3, whose PyYAML is the one cloud-init uses.
  const r = spawnSync('/usr/bin/python3', ['-c', py, nc, ud], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const [mac, modes] = JSON.parse(r.stdout) as [unknown, unknown[]];
  t.is(mac, '52:54:00:12:34:56');
  t.true(modes.every((m) => typeof m === 'string'));
});

test("loadBalancer vip: haproxy -c and keepalived -t accept the control planes' configs; workers get neither", async (t) => {
  const vipSite = siteFromLab1(catalog, ecdsa, k8s03Worker, (s) => {
    s.spec.controlPlane.loadBalancer = 'vip';
    s.spec.controlPlane.vip = '192.168.93.40';
    s.spec.network.interface = 'eth0';
  });
  const st = await makeState(vipSite);
  tmp.adopt(st.root);
  const r = renderSite(vipSite, catalog, st.files, await readTemplates(join(repoRoot, 'blueprints', 'templates')));
  const priorities: number[] = [];
  for (const n of r.nodes) {
    const cp = vipSite.nodes.find((x) => x.name === n.name)!.roles.includes('control-plane');
    const hap = n.files.find((f) => f.path === '/etc/haproxy/haproxy.cfg');
    const ka = n.files.find((f) => f.path === '/etc/keepalived/keepalived.conf');
    t.is(Boolean(hap && ka), cp, `${n.name}: load balancer only on control planes`);
    t.falsy(n.files.find((f) => f.path.includes('apiserver-proxy')));
    t.regex(file(n, '/etc/kubernetes/kubelet.conf').content, /server: https:\/\/192\.168\.93\.40:8443/);
    if (!cp) continue;
    const dir = tmp('kubeseed-vip-');
    const hr = spawnSync('haproxy', ['-c', '-f', write(dir, hap!)], { encoding: 'utf8' });
    t.is(hr.status, 0, `${n.name}: ${hr.stdout}${hr.stderr}`);
    t.is(ka!.mode, '0600');
    const kr = spawnSync('keepalived', ['-t', '-f', write(dir, ka!), '-l'], { encoding: 'utf8' });
    t.is(kr.status, 0, `${n.name}: ${kr.stdout}${kr.stderr}`);
    priorities.push(Number(/priority (\d+)/.exec(ka!.content)![1]));
    t.regex(ka!.content, /virtual_ipaddress \{\n {4}192\.168\.93\.40\/24 dev eth0/);
    t.true(n.seed['network-config'].includes('set-name: eth0'));
  }
  t.deepEqual(priorities, [150, 149], 'the first control plane is preferred');
  const broken = write(tmp('kubeseed-vip-bad-'), { path: '/k.conf', content: 'vrrp_instance x {\n  state SOMETIMES\n  bogus_keyword 1\n}\n' });
  t.not(spawnSync('keepalived', ['-t', '-f', broken, '-l'], { encoding: 'utf8' }).status, 0, 'keepalived -t is a real check');
});

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments, parseDocument } from 'yaml';
import { realFs } from '../../generator/io/fs.js';
import { readState } from '../../generator/io/state.js';
import type { Catalog } from '../../generator/model/index.js';
import { loadSite } from '../../generator/pipeline/load.js';
import { buildPlan } from '../../generator/plan/index.js';
import { TOKEN_PATH } from '../../generator/pki/issue.js';
import { discoveryHash } from '../../generator/pki/secrets.js';
import { selectForNode } from '../../generator/pki/select.js';
import { kubeadmApiVersion, kubeadmConfig } from '../../generator/render/kubeadm.js';
import { fixtureCache, repoRoot, runCli, testClock } from '../helpers.js';
import { tempDirs } from '../temp.js';

/**
 * kubeadm 1.20.2 from Debian's source, built by scripts/e2e/build-kubernetes.sh with one backport:
 * 1.20's dry run could not use pre-placed CAs (kubernetes/kubeadm#2512, fixed in 1.24 by
 * kubernetes/kubernetes#108410); the fix touches only the dry-run path.
 */
const KUBEADM = join(fixtureCache, 'kubernetes-v1.20.2', 'bin', 'kubeadm');

const dir = tempDirs()('kubeseed-kubeadm-');

/** lab1 on Kubernetes 1.20.2 in kubeadm mode, with its etcd stacked or external. */
async function site(name: string, topology: 'stacked' | 'external', addons: string[] = [], editCatalog: (c: Catalog) => void = () => {}) {
  const doc = parseDocument(readFileSync(join(repoRoot, 'blueprints', 'sites', 'lab1.yaml'), 'utf8'));
  doc.setIn(['metadata', 'name'], name);
  doc.setIn(['spec', 'kubernetes', 'version'], 'v1.20.2');
  doc.setIn(['spec', 'kubernetes', 'mode'], 'kubeadm');
  doc.setIn(['spec', 'kubernetes', 'etcdTopology'], topology);
  doc.setIn(['spec', 'os', 'cgroupVersion'], 1);
  doc.setIn(['spec', 'pki', 'keyAlgorithm'], 'ecdsa-p256');
  doc.setIn(['spec', 'network', 'plugin'], 'bridge');
  doc.setIn(['spec', 'addons'], addons);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, doc.toString());
  const state = join(dir, `${name}-state`);
  const certs = runCli(['certs', '--site', file, '--state', state]);
  if (certs.code !== 0) throw new Error(certs.stderr);
  const loaded = await loadSite(realFs, { site: file, cwd: dir, root: repoRoot, clock: testClock });
  if (!loaded.resolved || !loaded.catalog) throw new Error(JSON.stringify(loaded.issues));
  editCatalog(loaded.catalog);
  return { site: loaded.resolved, state: (await readState(state))!, images: buildPlan(loaded.resolved, loaded.catalog).images };
}

/** A node's PKI files and kubeadm.yaml laid out under a root of its own. */
function layOut(root: string, s: Awaited<ReturnType<typeof site>>, nodeName: string): string {
  const node = s.site.nodes.find((n) => n.name === nodeName)!;
  for (const f of selectForNode(s.site, node, s.state)) {
    const p = join(root, f.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.content);
    chmodSync(p, Number.parseInt(f.mode, 8));
  }
  const config = join(root, 'kubeadm.yaml');
  writeFileSync(
    config,
    kubeadmConfig(s.site, node, { token: s.state.get(TOKEN_PATH)!.trim(), caCertHash: discoveryHash(s.state.get('pki/ca.crt')!) }, s.images),
  );
  return config;
}

/**
 * kubeadm with the node's /etc/kubernetes and /var/lib/kubelet bind-mounted over the host's, in a
 * mount namespace and an empty network namespace of its own: its preflight looks the node name up
 * in DNS, and test traffic stays on this machine.
 */
function kubeadm(root: string, args: string[]) {
  for (const d of ['/etc/kubernetes', '/var/lib/kubelet']) {
    mkdirSync(d, { recursive: true });
    mkdirSync(join(root, d), { recursive: true });
  }
  const script = `mount --bind ${root}/etc/kubernetes /etc/kubernetes && mount --bind ${root}/var/lib/kubelet /var/lib/kubelet && exec "$@"`;
  return spawnSync('unshare', ['-m', '-n', 'sh', '-c', script, 'sh', KUBEADM, ...args], { encoding: 'utf8' });
}

const CERTS_STACKED = [
  'ca',
  'apiserver',
  'apiserver-kubelet-client',
  'front-proxy-ca',
  'front-proxy-client',
  'etcd/ca',
  'etcd/server',
  'etcd/peer',
  'etcd/healthcheck-client',
  'apiserver-etcd-client',
];

test.before(() => {
  if (!existsSync(KUBEADM)) throw new Error(`no kubeadm at ${KUBEADM}: run scripts/e2e/build-kubernetes.sh`);
});

test('the kubeadm API version follows the release: v1beta2 to 1.21, v1beta3 from 1.22, v1beta4 from 1.31', (t) => {
  t.deepEqual([20, 21, 22, 30, 31, 34].map(kubeadmApiVersion), [
    'kubeadm.k8s.io/v1beta2',
    'kubeadm.k8s.io/v1beta2',
    'kubeadm.k8s.io/v1beta3',
    'kubeadm.k8s.io/v1beta3',
    'kubeadm.k8s.io/v1beta4',
    'kubeadm.k8s.io/v1beta4',
  ]);
});

test('kubeadm init --dry-run (real kubeadm 1.20.2, stacked etcd) uses every pre-issued certificate and generates none', async (t) => {
  t.timeout(60_000);
  const s = await site('kadm-stacked', 'stacked');
  const root = join(dir, 'stacked-root');
  const config = layOut(root, s, 'k8s-01');
  // The add-ons first boot skips too: kube-proxy runs as a host service, CoreDNS from the site's manifest.
  const r = kubeadm(root, ['init', '--config', config, '--dry-run', '--ignore-preflight-errors=all', '--skip-phases=addon/kube-proxy,addon/coredns']);
  t.is(r.status, 0, r.stdout + r.stderr);
  for (const c of CERTS_STACKED)
    t.regex(r.stdout, new RegExp(`\\[certs\\] Using existing ${c.replace('/', '\\/')} (certificate authority|certificate and key on disk)`), c);
  t.notRegex(r.stdout, /Generating "(?!sa")[^"]+" certificate/);
  t.regex(r.stdout, /\[etcd\] Creating static Pod manifest for local etcd/);
  t.regex(r.stdout, /--encryption-provider-config=\/etc\/kubernetes\/encryption-config\.yaml/);
  t.regex(r.stdout, /\[kubeconfig\] Writing "admin\.conf" kubeconfig file/);
  t.regex(r.stdout, /Your Kubernetes control-plane has initialized successfully/);

  const kc = join(dir, 'stacked-kubeconfigs');
  mkdirSync(kc);
  const k = kubeadm(root, ['init', 'phase', 'kubeconfig', 'all', '--config', config, '--kubeconfig-dir', kc]);
  t.is(k.status, 0, k.stdout + k.stderr);
  // admin and kubelet go through the site's endpoint; kubeadm points the controller-manager and the
  // scheduler at their own node's apiserver.
  const servers: Record<string, string> = {
    'admin.conf': 'https://127.0.0.1:8443',
    'kubelet.conf': 'https://127.0.0.1:8443',
    'controller-manager.conf': 'https://192.168.93.45:6443',
    'scheduler.conf': 'https://192.168.93.45:6443',
  };
  for (const [f, server] of Object.entries(servers)) {
    const conf = parseDocument(readFileSync(join(kc, f), 'utf8')).toJS() as {
      clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
    };
    t.is(conf.clusters[0]!.cluster.server, server, f);
    t.is(Buffer.from(conf.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString(), s.state.get('pki/ca.crt')!, `${f} trusts the site CA`);
  }
});

test("kubeadm config images list (real kubeadm 1.20.2) names exactly the release's control-plane, etcd and CoreDNS images, not its own defaults", async (t) => {
  // Tags other than kubeadm 1.20's compiled-in etcd 3.4.13-0 and CoreDNS 1.7.0, so the test shows whose choice kubeadm runs.
  const s = await site('kadm-images', 'stacked', ['coredns'], (c) => {
    const release = c.releases.find((r) => r.version === 'v1.20.2')!;
    const retag: Record<string, string> = { etcd: 'registry.k8s.io/etcd:3.4.13-3', coredns: 'registry.k8s.io/coredns:1.7.1' };
    release.images = release.images.map((i) => (retag[i.name] ? { ...i, ref: retag[i.name]! } : i));
  });
  const config = layOut(join(dir, 'images-root'), s, 'k8s-01');
  const r = spawnSync('unshare', ['-n', KUBEADM, 'config', 'images', 'list', '--config', config], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const listed = r.stdout.trim().split('\n');
  const carried = new Set(s.images.map((i) => i.ref));
  // kube-proxy runs as a host service: first boot skips kubeadm's kube-proxy add-on.
  t.deepEqual(
    listed.filter((ref) => !carried.has(ref) && !ref.includes('/kube-proxy:')),
    [],
  );
  for (const ref of ['registry.k8s.io/etcd:3.4.13-3', 'registry.k8s.io/coredns:1.7.1', 'registry.k8s.io/kube-apiserver:v1.20.2', 'registry.k8s.io/pause:3.2'])
    t.true(listed.includes(ref), `${ref} not in: ${listed.join(' ')}`);
});

test('external etcd: kubeadm skips its etcd certificates and points the apiserver at the etcd units', async (t) => {
  t.timeout(60_000);
  const s = await site('kadm-external', 'external');
  const root = join(dir, 'external-root');
  const config = layOut(root, s, 'k8s-01');
  // Preflight is skipped here: it would wait 45 s for the external etcd, which this test does not run.
  const r = kubeadm(root, ['init', '--config', config, '--dry-run', '--skip-phases=preflight,addon/kube-proxy,addon/coredns']);
  t.is(r.status, 0, r.stdout + r.stderr);
  for (const c of ['ca', 'apiserver', 'apiserver-kubelet-client', 'front-proxy-ca', 'front-proxy-client'])
    t.regex(r.stdout, new RegExp(`\\[certs\\] Using existing ${c} `), c);
  t.regex(r.stdout, /External etcd mode: Skipping etcd\/ca/);
  t.notRegex(r.stdout, /Generating "(?!sa")[^"]+" certificate/);
  t.regex(r.stdout, /--etcd-servers=https:\/\/192\.168\.93\.45:2379,https:\/\/192\.168\.93\.46:2379,https:\/\/192\.168\.93\.47:2379/);
  t.notRegex(r.stdout, /Creating static Pod manifest for local etcd/);
});

test('join configurations: control planes join with controlPlane set, all with the token and the CA hash; kubeadm parses them', async (t) => {
  const s = await site('kadm-join', 'stacked');
  const hash = discoveryHash(s.state.get('pki/ca.crt')!);
  for (const name of ['k8s-02', 'k8s-03']) {
    const root = join(dir, `join-${name}`);
    const config = layOut(root, s, name);
    const docs = parseAllDocuments(readFileSync(config, 'utf8')).map((d) => d.toJS());
    t.is(docs.length, 1);
    t.is(docs[0].kind, 'JoinConfiguration');
    t.deepEqual(docs[0].discovery.bootstrapToken.caCertHashes, [hash]);
    t.is(docs[0].controlPlane.localAPIEndpoint.advertiseAddress, s.site.nodes.find((n) => n.name === name)!.ip);
    const r = spawnSync('unshare', ['-n', KUBEADM, 'config', 'migrate', '--old-config', config], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /kind: JoinConfiguration/);
  }
});

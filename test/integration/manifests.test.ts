/**
 * The cluster manifests against a real kube-apiserver (1.20.2, built from Debian's source) on
 * loopback, with Debian's etcd behind it: every add-on and both CNI plugins that come as manifests
 * are applied for real with Debian's kubectl, which validates each object against the server's
 * OpenAPI schema; Calico's resources are then created and served, and the RBAC of Calico's CNI
 * token is what it claims to be. Nothing runs the pods: no controller is started.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { readTemplates } from '../../generator/io/templates.js';
import type { Catalog } from '../../generator/model/index.js';
import { renderSite } from '../../generator/pipeline/render.js';
import { K8S_BIN, layNodeFiles, startApiserver } from '../apiserver.js';
import { loadDefaultCatalog, repoRoot } from '../helpers.js';
import { makeState } from '../pki-fixture.js';
import { siteFromLab1 } from '../sites.js';
import { tempDirs } from '../temp.js';

const ADDONS = ['coredns', 'metrics-server', 'dashboard', 'ingress-nginx'] as const;
const stops: (() => void)[] = [];
const tmp = tempDirs();
let catalog: Catalog;
test.before(async () => {
  catalog = await loadDefaultCatalog();
});
test.after.always(() => {
  for (const stop of stops) stop();
});

/** lab1 with calico and every add-on, on the given version; the bootstrap node's files in a temp root. */
async function renderCalicoSite(version: string, root: string) {
  const site = siteFromLab1(catalog, (s) => {
    s.spec.kubernetes.version = version;
    s.spec.network.plugin = 'calico';
    s.spec.addons = [...ADDONS];
  });
  const st = await makeState(site);
  tmp.adopt(st.root);
  const templates = await readTemplates(join(repoRoot, 'blueprints', 'templates'));
  const r = renderSite(site, catalog, st.files, templates);
  const node = r.nodes.find((n) => n.name === site.derived.bootstrapNode)!;
  layNodeFiles(root, node.files);
  return {
    site,
    node,
    manifests: node.files
      .filter((f) => f.path.startsWith('/opt/kubeseed/manifests/'))
      .map((f) => join(root, f.path))
      .sort(),
  };
}

test('a real kube-apiserver 1.20.2 accepts calico, coredns, metrics-server, dashboard (headlamp on 1.37) and ingress-nginx as rendered for 1.20.2 and 1.37.1', async (t) => {
  t.true(existsSync(join(K8S_BIN, 'kube-apiserver')), 'kube-apiserver 1.20.2 fixture present (scripts/e2e/build-kubernetes.sh)');
  const work = tmp('kubeseed-apiserver-');
  const old = await renderCalicoSite('v1.20.2', join(work, 'v120'));
  const cur = await renderCalicoSite('v1.37.1', join(work, 'v137'));
  const pki = join(work, 'v120', 'etc/kubernetes/pki');

  // As the rendered apiserver units have it: the CNI DaemonSets run privileged.
  const api = await startApiserver({ work, pki, serviceCIDR: old.site.kubernetes.serviceCIDR, flags: ['--allow-privileged=true'] });
  stops.push(api.stop);
  // The bootstrap node's own credential (system:masters), pointed at this apiserver instead of the site's proxy.
  const kubeconfig = join(work, 'v120', 'etc/kubernetes/kubeseed-bootstrap.conf');
  const kubectl = (args: string[], input?: string) => api.kubectl(kubeconfig, args, input);
  t.is(await api.ready(kubeconfig, 60), '');

  const names = (files: string[]) => files.map((f) => f.split('/').pop());
  t.deepEqual(names(old.manifests), [
    '00-kubeseed-site.yaml',
    '02-kubelet-rotation.yaml',
    '10-calico.yaml',
    '20-coredns.yaml',
    '30-metrics-server.yaml',
    '40-dashboard.yaml',
    '50-ingress-nginx.yaml',
  ]);
  t.deepEqual(names(cur.manifests), [
    '00-kubeseed-site.yaml',
    '01-cluster-admins.yaml',
    '02-kubelet-rotation.yaml',
    '10-calico.yaml',
    '20-coredns.yaml',
    '30-metrics-server.yaml',
    '40-headlamp.yaml',
    '50-ingress-nginx.yaml',
  ]);
  for (const [label, set] of [
    ['1.20.2', old.manifests],
    ['1.37.1', cur.manifests],
  ] as const) {
    // A Job's pod template is immutable: the other version's certgen jobs go first (no controller runs, nothing else to clean).
    if (label === '1.37.1') t.is(kubectl(['-n', 'ingress-nginx', 'delete', 'jobs', '--all']).status, 0);
    for (const f of set) {
      // kubectl validates every object against the server's schema: an unknown or mistyped field fails here.
      let r = kubectl(['apply', '--validate=true', '-f', f]);
      // A custom resource's kind is only served once its definition is established; the first pass may be early.
      for (let i = 0; i < 10 && r.status !== 0 && /no matches for kind/.test(r.stderr); i++) {
        await new Promise((res) => setTimeout(res, 1000));
        r = kubectl(['apply', '--validate=true', '-f', f]);
      }
      t.is(r.status, 0, `${label} ${f.split('/').pop()}: ${r.stdout}${r.stderr}`);
      const objects = parseAllDocuments(Buffer.from(await import('node:fs').then((fs) => fs.readFileSync(f))).toString()).length;
      t.is(r.stdout.trim().split('\n').length, objects, `${label} ${f.split('/').pop()}: one line per object\n${r.stdout}`);
    }
  }

  // Calico's resources are served: an IP pool and a network policy are stored and read back.
  const ipPool = {
    apiVersion: 'crd.projectcalico.org/v1',
    kind: 'IPPool',
    metadata: { name: 'test-pool' },
    spec: { cidr: old.site.kubernetes.podCIDR, vxlanMode: 'Always', natOutgoing: true },
  };
  const policy = {
    apiVersion: 'crd.projectcalico.org/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'test', namespace: 'default' },
    spec: { selector: 'all()' },
  };
  const created = kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [ipPool, policy] }));
  t.is(created.status, 0, created.stderr);
  t.is(kubectl(['get', 'ippools.crd.projectcalico.org', 'test-pool', '-o', 'jsonpath={.spec.vxlanMode}']).stdout, 'Always');
  t.true(kubectl(['get', 'crd', '-o', 'name']).stdout.includes('tiers.crd.projectcalico.org'));

  // calico-node may mint a token for the CNI plugin's account, and for no other.
  const canI = (as: string, ...args: string[]) => kubectl(['auth', 'can-i', `--as=system:serviceaccount:kube-system:${as}`, ...args]).stdout.trim();
  t.is(canI('calico-node', 'create', 'serviceaccounts/calico-cni-plugin', '--subresource=token', '-n', 'kube-system'), 'yes');
  t.is(canI('calico-node', 'create', 'serviceaccounts/calico-node', '--subresource=token', '-n', 'kube-system'), 'no');
  t.is(canI('calico-cni-plugin', 'create', 'ipamblocks.crd.projectcalico.org'), 'yes');
  t.is(canI('calico-cni-plugin', 'delete', 'ippools.crd.projectcalico.org'), 'no');
  // A node may ask for the renewal of its own client certificate (what the CSR approver checks
  // before it approves one), not for a new identity; other accounts may not.
  const canNode = (...args: string[]) => kubectl(['auth', 'can-i', '--as=system:node:k8s-01', '--as-group=system:nodes', ...args]).stdout.trim();
  t.is(canNode('create', 'certificatesigningrequests.certificates.k8s.io', '--subresource=selfnodeclient'), 'yes');
  t.is(canNode('create', 'certificatesigningrequests.certificates.k8s.io', '--subresource=nodeclient'), 'no');
  t.is(canI('calico-node', 'create', 'certificatesigningrequests.certificates.k8s.io', '--subresource=selfnodeclient'), 'no');
  // The dashboard's own account reads no secret but its own.
  t.is(
    kubectl(['auth', 'can-i', '--as=system:serviceaccount:kubernetes-dashboard:kubernetes-dashboard', 'get', 'secrets', '-n', 'kube-system']).stdout.trim(),
    'no',
  );
  // Headlamp has no rights of its own: it acts with the token an operator signs in with.
  t.is(kubectl(['auth', 'can-i', '--as=system:serviceaccount:headlamp:headlamp', 'list', 'pods', '-A']).stdout.trim(), 'no');
  t.is(
    kubectl(['-n', 'headlamp', 'get', 'deploy', 'headlamp', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']).stdout,
    'ghcr.io/headlamp-k8s/headlamp:v0.45.0',
  );

  // The site's pod CIDR and its own apiserver endpoint reached the objects.
  const env = kubectl([
    '-n',
    'kube-system',
    'get',
    'ds',
    'calico-node',
    '-o',
    'jsonpath={.spec.template.spec.containers[0].env[?(@.name=="CALICO_IPV4POOL_CIDR")].value}',
  ]).stdout;
  t.is(env, old.site.kubernetes.podCIDR);
  t.is(
    kubectl([
      '-n',
      'kube-system',
      'get',
      'cm',
      'kubernetes-services-endpoint',
      '-o',
      'jsonpath={.data.KUBERNETES_SERVICE_HOST}:{.data.KUBERNETES_SERVICE_PORT}',
    ]).stdout,
    '127.0.0.1:8443',
  );
  const args = kubectl(['-n', 'ingress-nginx', 'get', 'deploy', 'ingress-nginx-controller', '-o', 'jsonpath={.spec.template.spec.containers[0].args}']).stdout;
  t.regex(args, /--controller-class=k8s.io\/ingress-nginx/, 'the 1.37 manifest (applied last) carries the 1.x controller flags');
});

/**
 * kubelet client certificate rotation against the real programs (1.20.2, built from Debian's
 * source): a kube-apiserver on loopback with Debian's etcd, and the kube-controller-manager with
 * the flags kubeseed renders (its signing CA, --cluster-signing-duration, every controller, the
 * service-account credentials). A node renews its own client certificate as the kubelet does with
 * rotateCertificates: a CSR for its own name, with its own credential; the rotation binding
 * (02-kubelet-rotation.yaml) lets the controller-manager's approver approve it, and its signer
 * issues it with the cluster CA for certValidity. A CSR for another node's name is not approved.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { readTemplates } from '../../generator/io/templates.js';
import type { Catalog } from '../../generator/model/index.js';
import { KUBECONFIG, manifestPath, NODE } from '../../generator/model/layout.js';
import { renderSite } from '../../generator/pipeline/render.js';
import { controllerManagerFlags } from '../../generator/render/flags.js';
import { K8S_BIN, layNodeFiles, startApiserver } from '../apiserver.js';
import { loadDefaultCatalog, repoRoot } from '../helpers.js';
import { makeState } from '../pki-fixture.js';
import { ecdsa, on120, siteFromLab1 } from '../sites.js';
import { tempDirs } from '../temp.js';

const stops: (() => void)[] = [];
const tmp = tempDirs();
let catalog: Catalog;
test.before(async () => {
  catalog = await loadDefaultCatalog();
});
test.after.always(() => {
  for (const stop of stops) stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a node's renewal of its own client certificate is approved and signed by the controller-manager as kubeseed renders it; another node's name is not", async (t) => {
  t.timeout(10 * 60_000);
  t.true(existsSync(join(K8S_BIN, 'kube-controller-manager')), 'kube-controller-manager 1.20.2 fixture present (scripts/e2e/build-kubernetes.sh)');
  const site = siteFromLab1(catalog, ecdsa, on120);
  const st = await makeState(site);
  tmp.adopt(st.root);
  const work = tmp('kubeseed-rotation-');
  const root = join(work, 'root');
  const templates = await readTemplates(join(repoRoot, 'blueprints', 'templates'));
  const node = renderSite(site, catalog, st.files, templates).nodes.find((n) => n.name === site.derived.bootstrapNode)!;
  layNodeFiles(root, node.files);
  const at = (p: string) => join(root, p);
  const pki = at(NODE.pki);

  const api = await startApiserver({ work, pki, serviceCIDR: site.kubernetes.serviceCIDR, flags: ['--enable-admission-plugins=NodeRestriction'] });
  stops.push(api.stop);
  const server = api.server;
  const logs = { cm: { text: '' } };
  const kubectl = (kubeconfig: string, args: string[], input?: string) => api.kubectl(at(kubeconfig), args, input);
  const admin = (args: string[], input?: string) => kubectl(KUBECONFIG.bootstrapper, args, input);
  t.is(await api.ready(at(KUBECONFIG.bootstrapper)), '');

  // The controller-manager with the rendered flags, pointed at this apiserver; it serves nothing.
  const cmConfig = parse(readFileSync(at(KUBECONFIG.controllerManager), 'utf8')) as { clusters: { cluster: { server: string } }[] };
  cmConfig.clusters[0]!.cluster.server = server;
  writeFileSync(at(KUBECONFIG.controllerManager), stringify(cmConfig), { mode: 0o600 });
  const flags = controllerManagerFlags(site)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `--${k}=${v!.startsWith(`${NODE.kubernetes}/`) ? at(v!) : v}`);
  t.true(flags.includes('--cluster-signing-duration=8760h'), flags.join(' '));
  api.start(join(K8S_BIN, 'kube-controller-manager'), [...flags, '--port=0', '--secure-port=0'], logs.cm);

  const applied = admin(['apply', '-f', at(manifestPath('02-kubelet-rotation.yaml'))]);
  t.is(applied.status, 0, applied.stderr);

  // Two CSRs from node k8s-01, as its kubelet makes them: one for itself, one for another node.
  const csr = (name: string, cn: string) => {
    const key = join(work, `${name}.key`);
    const out = spawnSync(
      'openssl',
      ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/O=system:nodes/CN=${cn}`, '-keyout', key],
      { encoding: 'utf8' },
    );
    t.is(out.status, 0, out.stderr);
    return JSON.stringify({
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name },
      spec: {
        request: Buffer.from(out.stdout).toString('base64'),
        signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
        usages: ['digital signature', 'key encipherment', 'client auth'],
      },
    });
  };
  for (const [name, cn] of [
    ['renewal-self', 'system:node:k8s-01'],
    ['renewal-other', 'system:node:k8s-02'],
  ] as const) {
    const created = kubectl(KUBECONFIG.kubelet, ['create', '-f', '-'], csr(name, cn));
    t.is(created.status, 0, `${name}: ${created.stderr}`);
  }

  let issued = '';
  for (let i = 0; i < 240 && !issued; i++) {
    await sleep(500);
    issued = admin(['get', 'csr', 'renewal-self', '-o', 'jsonpath={.status.certificate}']).stdout.trim();
  }
  t.truthy(issued, `no certificate issued for the node's own renewal:\n${admin(['get', 'csr', '-o', 'wide']).stdout}\n${logs.cm.text.slice(-4000)}`);
  const cert = new X509Certificate(Buffer.from(issued, 'base64'));
  const ca = new X509Certificate(st.files.get('pki/ca.crt')!);
  t.true(cert.verify(ca.publicKey), 'signed by the cluster CA');
  t.is(cert.subject, 'O=system:nodes\nCN=system:node:k8s-01');
  const hours = (new Date(cert.validTo).getTime() - Date.now()) / 3_600_000;
  t.true(hours > 8759 && hours <= 8760, `valid for certValidity (8760h) from now: ${hours} h`);
  t.regex(admin(['get', 'csr', 'renewal-self', '-o', 'jsonpath={.status.conditions[*].type}']).stdout, /Approved/);
  t.regex(admin(['get', 'csr', 'renewal-self', '-o', 'jsonpath={.status.conditions[*].reason}']).stdout, /AutoApproved/);

  // The approver went over both; a node asking in another node's name is left pending.
  await sleep(5000);
  t.is(admin(['get', 'csr', 'renewal-other', '-o', 'jsonpath={.status.conditions}']).stdout.trim(), '');
  t.is(admin(['get', 'csr', 'renewal-other', '-o', 'jsonpath={.status.certificate}']).stdout.trim(), '');
});

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
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { readTemplates } from '../../generator/io/templates.js';
import type { Catalog } from '../../generator/model/index.js';
import { KUBECONFIG, manifestPath, NODE } from '../../generator/model/layout.js';
import { renderSite } from '../../generator/pipeline/render.js';
import { controllerManagerFlags } from '../../generator/render/flags.js';
import { debianKubectl, fixtureCache, loadDefaultCatalog, repoRoot } from '../helpers.js';
import { freePort } from '../loopback.js';
import { makeState } from '../pki-fixture.js';
import { ecdsa, on120, siteFromLab1 } from '../sites.js';
import { tempDirs } from '../temp.js';

const K8S_BIN = join(fixtureCache, 'kubernetes-v1.20.2', 'bin');
const procs: ChildProcess[] = [];
const tmp = tempDirs();
let catalog: Catalog;
test.before(async () => {
  catalog = await loadDefaultCatalog();
});
test.after.always(() => {
  for (const p of procs) p.kill('SIGKILL');
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(bin: string, args: string[], log: { text: string }): ChildProcess {
  const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout.on('data', (d: Buffer) => (log.text = (log.text + d.toString()).slice(-20000)));
  p.stderr.on('data', (d: Buffer) => (log.text = (log.text + d.toString()).slice(-20000)));
  procs.push(p);
  return p;
}

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
  for (const f of node.files) {
    mkdirSync(dirname(join(root, f.path)), { recursive: true });
    writeFileSync(join(root, f.path), f.content, { mode: Number.parseInt(f.mode, 8) });
  }
  const at = (p: string) => join(root, p);
  const pki = at(NODE.pki);

  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const server = `https://127.0.0.1:${apiPort}`;
  const logs = { etcd: { text: '' }, apiserver: { text: '' }, cm: { text: '' } };
  start(
    'etcd',
    [
      '--data-dir',
      join(work, 'etcd'),
      '--listen-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
    ],
    logs.etcd,
  );
  start(
    join(K8S_BIN, 'kube-apiserver'),
    [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      '--insecure-port=0',
      `--tls-cert-file=${pki}/apiserver.crt`,
      `--tls-private-key-file=${pki}/apiserver.key`,
      `--client-ca-file=${pki}/ca.crt`,
      `--service-account-key-file=${pki}/sa.pub`,
      `--service-account-signing-key-file=${pki}/sa.key`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      `--service-cluster-ip-range=${site.kubernetes.serviceCIDR}`,
      `--cert-dir=${join(work, 'apiserver-certs')}`,
    ],
    logs.apiserver,
  );

  const kubectl = (kubeconfig: string, args: string[], input?: string) =>
    spawnSync(debianKubectl, ['--kubeconfig', at(kubeconfig), '--server', server, ...args], { encoding: 'utf8', input, timeout: 60_000 });
  const admin = (args: string[], input?: string) => kubectl(KUBECONFIG.bootstrapper, args, input);
  let ready = admin(['get', '--raw', '/readyz']);
  for (let i = 0; i < 240 && ready.stdout.trim() !== 'ok'; i++) {
    await sleep(500);
    ready = admin(['get', '--raw', '/readyz']);
  }
  t.is(ready.stdout.trim(), 'ok', `apiserver not ready:\n${ready.stderr}\n${logs.apiserver.text.slice(-3000)}\n${logs.etcd.text.slice(-1000)}`);

  // The controller-manager with the rendered flags, pointed at this apiserver; it serves nothing.
  const cmConfig = parse(readFileSync(at(KUBECONFIG.controllerManager), 'utf8')) as { clusters: { cluster: { server: string } }[] };
  cmConfig.clusters[0]!.cluster.server = server;
  writeFileSync(at(KUBECONFIG.controllerManager), stringify(cmConfig), { mode: 0o600 });
  const flags = controllerManagerFlags(site)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `--${k}=${v!.startsWith(`${NODE.kubernetes}/`) ? at(v!) : v}`);
  t.true(flags.includes('--cluster-signing-duration=8760h'), flags.join(' '));
  start(join(K8S_BIN, 'kube-controller-manager'), [...flags, '--port=0', '--secure-port=0'], logs.cm);

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

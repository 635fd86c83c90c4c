import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certPaths } from '../../generator/pki/issue.js';
import { discoveryHash } from '../../generator/pki/secrets.js';
import { operatorFiles, selectForNode } from '../../generator/pki/select.js';
import { certInstances } from '../../generator/pki/table.js';
import type { Catalog } from '../../generator/model/index.js';
import { debianKubectl, loadDefaultCatalog, repoRoot } from '../helpers.js';
import { makeState } from '../pki-fixture.js';
import { ecdsa, keyAlgorithm, siteFromLab1 } from '../sites.js';
import { tempDirs } from '../temp.js';

let catalog: Catalog;
const tmp = tempDirs();
test.before(async () => {
  catalog = await loadDefaultCatalog();
});

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });

const EKU_OID: Record<string, string> = { server: '1.3.6.1.5.5.7.3.1', client: '1.3.6.1.5.5.7.3.2' };

for (const alg of ['rsa-2048', 'ecdsa-p256'] as const) {
  test(`${alg}: every certificate of lab1 matches the table (openssl and node:crypto)`, async (t) => {
    const site = siteFromLab1(catalog, keyAlgorithm(alg));
    const st = await makeState(site);
    tmp.adopt(st.root);
    const now = Date.now();
    for (const inst of certInstances(site)) {
      if (inst.spec.kind === 'keypair') continue;
      const p = certPaths(inst);
      const crtFile = join(st.dir, 'current', p.crt);
      const keyFile = join(st.dir, 'current', p.key);
      t.is(statSync(keyFile).mode & 0o777, 0o600, `${inst.id} key is 0600`);
      const caFile = join(st.dir, 'current', `pki/${inst.spec.kind === 'ca' ? inst.spec.name : inst.spec.ca}.crt`);
      t.regex(openssl('verify', '-CAfile', caFile, crtFile), /: OK\n$/, `${inst.id} chains to its CA`);

      const subject = openssl('x509', '-in', crtFile, '-noout', '-subject', '-nameopt', 'RFC2253').trim();
      const want = ['CN=' + inst.cn, ...inst.o.map((o) => 'O=' + o)].join(',');
      t.is(subject, `subject=${want}`, `${inst.id} subject`);
      const text = openssl('x509', '-in', crtFile, '-noout', '-text');
      const cert = new X509Certificate(readFileSync(crtFile));
      t.is(cert.serialNumber.length >= 30, true, `${inst.id} has a 128-bit serial`);
      t.regex(text, /Subject Key Identifier/);
      t.true(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(readFileSync(keyFile))), `${inst.id} key matches`);
      const lifetimeH = (new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()) / 3.6e6;
      if (inst.spec.kind === 'ca') {
        t.true(cert.ca);
        t.regex(text, /Basic Constraints: critical\n\s+CA:TRUE, pathlen:0/);
        t.regex(text, /Key Usage: critical\n\s+Digital Signature, Certificate Sign, CRL Sign/);
        t.true(Math.abs(lifetimeH - (site.pki.caValidityHours + 5 / 60)) < 0.01, `${inst.id} lives 10 years`);
        t.is(cert.subjectAltName, `DNS:${inst.cn}`);
      } else {
        t.false(cert.ca);
        t.regex(text, /Basic Constraints: critical\n\s+CA:FALSE/);
        t.regex(text, /Authority Key Identifier/);
        t.regex(text, alg === 'rsa-2048' ? /Key Usage: critical\n\s+Digital Signature, Key Encipherment/ : /Key Usage: critical\n\s+Digital Signature\n/);
        t.deepEqual([...(cert.keyUsage ?? [])].sort(), inst.spec.usages.map((u) => EKU_OID[u]!).sort(), `${inst.id} extended key usage`);
        t.true(Math.abs(lifetimeH - (site.pki.certValidityHours + 5 / 60)) < 0.01, `${inst.id} lives 1 year`);
        const sans = (cert.subjectAltName ?? '').split(', ').filter(Boolean);
        const wantSans = [...inst.sans.dns.map((d) => `DNS:${d}`), ...inst.sans.ips.map((i) => `IP Address:${i === '::1' ? '0:0:0:0:0:0:0:1' : i}`)];
        t.deepEqual(sans.sort(), wantSans.sort(), `${inst.id} SANs`);
        t.true(cert.verify(new X509Certificate(readFileSync(caFile)).publicKey));
      }
      t.true(new Date(cert.validFrom).getTime() <= now && new Date(cert.validTo).getTime() > now);
      t.regex(text, alg === 'rsa-2048' ? /Public-Key: \(2048 bit\)/ : /Public-Key: \(256 bit\)[\s\S]*NIST CURVE: P-256/);
    }
    t.is(statSync(st.dir).mode & 0o777, 0o700, 'state directory is 0700');
  });
}

test('rsa-4096 keys are 4096 bits', async (t) => {
  const { realCrypto } = await import('../../generator/io/crypto.js');
  const k = await realCrypto.generateKeyPair('rsa-4096');
  const dir = tmp('kubeseed-4096-');
  writeFileSync(join(dir, 'k.pem'), k.privateKeyPem);
  t.regex(openssl('pkey', '-in', join(dir, 'k.pem'), '-noout', '-text'), /Private-Key: \(4096 bit/);
});

test("discovery hash matches kubeadm's golden vector and openssl", async (t) => {
  const pem = readFileSync(join(repoRoot, 'test', 'fixtures', 'pki', 'kubeadm-pubkeypin-test.crt'), 'utf8');
  t.is(discoveryHash(pem), 'sha256:345959acb2c3b2feb87d281961c893f62a314207ef02599f1cc4a5fb255480b3');
  const site = siteFromLab1(catalog, ecdsa);
  const st = await makeState(site);
  tmp.adopt(st.root);
  const der = execFileSync('openssl', ['x509', '-in', join(st.dir, 'current/pki/ca.crt'), '-pubkey', '-noout']);
  const spki = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: der });
  const want = execFileSync('openssl', ['dgst', '-sha256', '-hex'], { input: spki, encoding: 'utf8' }).split('= ')[1]!.trim();
  t.is(discoveryHash(st.files.get('pki/ca.crt')!), `sha256:${want}`);
});

test("Debian's kubectl accepts every kubeconfig, each pointing at the right server", async (t) => {
  t.true(statSync(debianKubectl).isFile(), 'Debian kubectl present (scripts/setup-test-tools.sh installs it)');
  const site = siteFromLab1(catalog, ecdsa);
  const st = await makeState(site);
  tmp.adopt(st.root);
  const files = [
    ...site.nodes.flatMap((n) => selectForNode(site, n, st.files).map((f) => ({ ...f, node: n.name }))),
    ...operatorFiles(site, st.files).map((f) => ({ ...f, node: 'operator' })),
  ];
  const kubeconfigs = files.filter((f) => f.path.endsWith('.conf') || f.path.endsWith('kubeconfig'));
  t.is(kubeconfigs.length, 3 * 4 + 1 + 1, 'controller-manager, scheduler, kubelet, kube-proxy per node; bootstrapper; admin');
  const dir = tmp('kubeseed-kc-');
  for (const [i, f] of kubeconfigs.entries()) {
    const file = join(dir, `${i}.conf`);
    writeFileSync(file, f.content, { mode: 0o600 });
    const r = spawnSync(debianKubectl, ['config', 'view', '--raw', '-o', 'json', '--kubeconfig', file], { encoding: 'utf8' });
    t.is(r.status, 0, `${f.node}:${f.path}: ${r.stderr}`);
    const cfg = JSON.parse(r.stdout) as {
      clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
      users: { user: Record<string, string> }[];
      'current-context': string;
    };
    const server = cfg.clusters[0]!.cluster.server;
    const expected =
      f.path.includes('controller-manager') || f.path.includes('scheduler') || f.path.includes('kubeseed-bootstrap')
        ? 'https://127.0.0.1:6443'
        : f.node === 'operator'
          ? 'https://192.168.93.45:6443'
          : 'https://127.0.0.1:8443';
    t.is(server, expected, `${f.node}:${f.path} server`);
    t.is(Buffer.from(cfg.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString(), st.files.get('pki/ca.crt')!);
    const cert = new X509Certificate(Buffer.from(cfg.users[0]!.user['client-certificate-data']!, 'base64'));
    t.true(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(Buffer.from(cfg.users[0]!.user['client-key-data']!, 'base64'))));
    t.truthy(cfg['current-context']);
  }
});

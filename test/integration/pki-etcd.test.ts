import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { selectForNode } from '../../generator/pki/select.js';
import type { Catalog } from '../../generator/model/index.js';
import { loadDefaultCatalog } from '../helpers.js';
import { makeState } from '../pki-fixture.js';
import { ecdsa, loopbackSiteFromLab1 } from '../sites.js';
import { tempDirs } from '../temp.js';

/**
 * Three real etcd members (Debian's etcd-server 3.4) on loopback addresses, each with exactly the
 * files the site gives that node, with client and peer certificate authentication on.
 */
const procs: ChildProcess[] = [];
const tmp = tempDirs();
test.after.always(() => {
  for (const p of procs) p.kill('SIGKILL');
});

const LOOPBACK = ['127.0.0.11', '127.0.0.12', '127.0.0.13'];

function loopbackSite(catalog: Catalog) {
  return loopbackSiteFromLab1(catalog, ecdsa, (s) => {
    if (s.spec.nodes.length !== LOOPBACK.length) throw new Error(`lab1 has ${s.spec.nodes.length} nodes, the test has ${LOOPBACK.length} loopback addresses`);
    s.spec.nodes.forEach((n, i) => {
      n.address = `${LOOPBACK[i]}/8`;
      n.gateway = '127.0.0.1';
      n.dns = ['127.0.0.1'];
    });
  });
}

function etcdctl(root: string, certBase: string, endpoints: string[]) {
  return spawnSync(
    'etcdctl',
    [
      '--endpoints',
      endpoints.join(','),
      '--cacert',
      `${root}/etc/kubernetes/pki/etcd/ca.crt`,
      '--cert',
      `${certBase}.crt`,
      '--key',
      `${certBase}.key`,
      '--command-timeout=5s',
      '--dial-timeout=3s',
      'endpoint',
      'health',
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 30_000,
    },
  );
}

test('three etcd members form a cluster with the site certificates; etcdctl needs the apiserver-etcd-client certificate', async (t) => {
  const catalog = await loadDefaultCatalog();
  const site = loopbackSite(catalog);
  const st = await makeState(site);
  tmp.adopt(st.root);
  const work = tmp('kubeseed-etcd-');

  const logs: Record<string, string> = {};
  for (const node of site.nodes) {
    const root = join(work, node.name);
    for (const f of selectForNode(site, node, st.files)) {
      mkdirSync(dirname(join(root, f.path)), { recursive: true });
      writeFileSync(join(root, f.path), f.content, { mode: Number.parseInt(f.mode, 8) });
    }
    const pki = `${root}/etc/kubernetes/pki/etcd`;
    const data = join(root, 'var/lib/etcd');
    mkdirSync(data, { recursive: true, mode: 0o700 });
    const p = spawn(
      'etcd',
      [
        '--name',
        node.name,
        '--data-dir',
        data,
        '--listen-client-urls',
        `https://${node.ip}:2379`,
        '--advertise-client-urls',
        `https://${node.ip}:2379`,
        '--listen-peer-urls',
        `https://${node.ip}:2380`,
        '--initial-advertise-peer-urls',
        `https://${node.ip}:2380`,
        '--initial-cluster',
        site.derived.etcdInitialCluster,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        'kubeseed-test',
        '--client-cert-auth',
        '--trusted-ca-file',
        `${pki}/ca.crt`,
        '--cert-file',
        `${pki}/server.crt`,
        '--key-file',
        `${pki}/server.key`,
        '--peer-client-cert-auth',
        '--peer-trusted-ca-file',
        `${pki}/ca.crt`,
        '--peer-cert-file',
        `${pki}/peer.crt`,
        '--peer-key-file',
        `${pki}/peer.key`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    logs[node.name] = '';
    p.stderr.on('data', (d: Buffer) => (logs[node.name] += d.toString()));
    p.stdout.on('data', (d: Buffer) => (logs[node.name] += d.toString()));
    procs.push(p);
  }

  const cp = join(work, site.derived.bootstrapNode);
  const good = `${cp}/etc/kubernetes/pki/apiserver-etcd-client`;
  let health = etcdctl(cp, good, site.derived.etcdEndpoints);
  for (let i = 0; i < 40 && health.status !== 0; i++) {
    await new Promise((r) => setTimeout(r, 500));
    health = etcdctl(cp, good, site.derived.etcdEndpoints);
  }
  t.is(
    health.status,
    0,
    `etcdctl endpoint health failed:\n${health.stdout}${health.stderr}\n${Object.entries(logs)
      .map(([n, l]) => `--- ${n}\n${l.slice(-2000)}`)
      .join('\n')}`,
  );
  for (const ip of LOOPBACK) t.regex(health.stdout + health.stderr, new RegExp(`https://${ip.replaceAll('.', '\\.')}:2379 is healthy`));

  const members = spawnSync(
    'etcdctl',
    [
      '--endpoints',
      site.derived.etcdEndpoints[0]!,
      '--cacert',
      `${cp}/etc/kubernetes/pki/etcd/ca.crt`,
      '--cert',
      `${good}.crt`,
      '--key',
      `${good}.key`,
      'member',
      'list',
    ],
    { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } },
  );
  t.is(members.stdout.trim().split('\n').length, 3, members.stdout + members.stderr);

  // A kubelet's certificate is issued by the cluster CA, not the etcd CA: etcd must refuse it.
  const kubeletRoot = join(work, 'kubelet-creds');
  const kubeletCert = selectForNode(site, site.nodes[1]!, st.files).filter((f) => f.path.startsWith('/var/lib/kubelet/pki/kubelet.'));
  for (const f of kubeletCert) {
    mkdirSync(dirname(join(kubeletRoot, f.path)), { recursive: true });
    writeFileSync(join(kubeletRoot, f.path), f.content, { mode: 0o600 });
  }
  const refused = etcdctl(cp, `${kubeletRoot}/var/lib/kubelet/pki/kubelet`, site.derived.etcdEndpoints);
  t.not(refused.status, 0, 'etcd accepted a certificate from the wrong CA');
  t.regex(refused.stdout + refused.stderr, /unhealthy/);
  // The client only sees a failed connection; the member's own log names the reason.
  await new Promise((r) => setTimeout(r, 300));
  t.regex(
    Object.values(logs).join('\n'),
    /rejected connection from .*(certificate signed by unknown authority|bad certificate)/,
    'etcd rejected the client certificate itself',
  );
});

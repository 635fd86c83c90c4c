import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WrittenNode } from '../../../generator/site/index.js';
import { DIST } from '../../../generator/pack/dist-layout.js';
import { cliPath } from '../../helpers.js';
import { hostOf, pollUntil, type E2eRun } from './context.js';

/**
 * `--day2 renew` on a running site: `gen certs --renew` and `gen bundle` with the run's site and
 * payload inputs, then each node's update applied over ssh one node at a time (etcd members first,
 * as apply-updates.sh does), and checked: every apiserver, etcd member and kubelet serves a
 * certificate with a new serial, every node stays Ready, no pod restarted, and the same update
 * applied again is a no-op.
 */

/** Where each node serves TLS: the apiserver (control planes), etcd (members), the kubelet (every node). */
function endpoints(r: E2eRun, n: WrittenNode): { what: string; port: number }[] {
  // The admin kubeconfig names a control plane's own port on sites without a VIP (the e2e sites).
  const server = /server: https:\/\/[^\s:]+:(\d+)/.exec(readFileSync(join(r.dist, DIST.adminKubeconfig), 'utf8'));
  const apiserverPort = server ? Number(server[1]) : 6443;
  return [
    ...(n.roles.includes('control-plane') ? [{ what: 'apiserver', port: apiserverPort }] : []),
    ...(n.roles.includes('etcd') ? [{ what: 'etcd', port: 2379 }] : []),
    { what: 'kubelet', port: 10250 },
  ];
}

/** The serial of the certificate a TLS endpoint serves, read from the host inside the run's namespace. */
function servedSerial(r: E2eRun, host: string, port: number): string {
  const s = r.inNs('sh', ['-c', `openssl s_client -connect ${host}:${port} -servername ${host} </dev/null 2>/dev/null | openssl x509 -noout -serial`], {
    allowFail: true,
  });
  return s.stdout.trim().replace(/^serial=/, '');
}

function serials(r: E2eRun): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of r.site.spec.nodes) for (const e of endpoints(r, n)) out.set(`${n.name} ${e.what}`, servedSerial(r, hostOf(n), e.port));
  return out;
}

/** Every container's restart count, by pod and container. */
function restarts(r: E2eRun): Map<string, string> {
  const k = r.kubectl(
    ['get', 'pods', '-A', '-o', 'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}={.status.containerStatuses[*].restartCount}{"\\n"}{end}'],
    { allowFail: true },
  );
  return new Map(
    k.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('=') as [string, string]),
  );
}

/** Ships a node's update through ssh's stdin and runs its apply; returns apply's exit code and output. */
export function applyOver(r: E2eRun, n: WrittenNode, tarball: string): { code: number; out: string } {
  const name = tarball.slice(tarball.lastIndexOf('/') + 1);
  const dir = name.replace(/\.update\.tar\.gz$/, '');
  const b64 = readFileSync(tarball).toString('base64');
  const script = `set -e\ncd /tmp\nrm -rf ${dir}\nbase64 -d >${name} <<'EOF'\n${b64}\nEOF\ntar -xzpf ${name}\n./${dir}/apply\n`;
  // apply restarts etcd, the apiserver, the controllers, the kubelet and kube-proxy one after another, each waited for healthy: minutes on an emulated guest.
  const s = r.ssh(n, `${script}echo "apply-exit=$?"`, true, 60, 1200);
  const ok = /apply-exit=0/.test(s.stdout);
  return { code: ok ? 0 : 1, out: (s.stdout + s.stderr).trim() };
}

export async function checkDay2Renew(r: E2eRun, runSite: string, artifacts: string): Promise<void> {
  const before = serials(r);
  const restartsBefore = restarts(r);
  const gen = (...args: string[]) => spawnSync(process.execPath, [cliPath, ...args, '--site', runSite], { cwd: r.work, encoding: 'utf8' });
  const renew = gen('certs', '--renew');
  r.check('day2 renew: gen certs --renew', renew.status === 0, renew.stderr.trim().split('\n').slice(-3).join('; '));
  const b = gen('bundle', '--artifacts', artifacts);
  r.check('day2 renew: gen bundle makes node updates', b.status === 0 && /node updates for /.test(b.stdout), b.stdout.trim().split('\n').at(-1));

  // The order apply-updates.sh takes: etcd members, then the other control planes, then the rest.
  const rank = (n: WrittenNode) => (n.roles.includes('etcd') ? 0 : n.roles.includes('control-plane') ? 1 : 2);
  const order = [...r.site.spec.nodes].sort((a, c) => rank(a) - rank(c) || a.name.localeCompare(c.name));
  const tarballs = new Map<string, string>();
  for (const n of order) {
    const dir = join(r.dist, DIST.nodeDir(n.name));
    const t = readdirSync(dir).find((f) => f.endsWith('.update.tar.gz'));
    if (t) tarballs.set(n.name, join(dir, t));
  }
  r.check(
    'day2 renew: every node has an update',
    order.every((n) => tarballs.has(n.name)),
    [...tarballs.values()].map((p) => p.slice(r.dist.length + 1)).join(', '),
  );

  for (const n of order) {
    const t = tarballs.get(n.name);
    if (!t) continue;
    const a = applyOver(r, n, t);
    r.check(`day2 renew: ${n.name}: update applied`, a.code === 0, a.out.split('\n').slice(-2).join('; '));
    const ready = await pollUntil(600_000, () => {
      const k = r.kubectl(['get', 'node', n.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], { allowFail: true });
      return k.stdout.trim() === 'True';
    });
    r.check(`day2 renew: ${n.name}: Ready after its update`, ready);
  }

  const after = serials(r);
  const same = [...before].filter(([k, v]) => !v || after.get(k) === v || !after.get(k)).map(([k]) => k);
  r.check(
    'day2 renew: apiserver, etcd and kubelet serve certificates with new serials',
    same.length === 0,
    same.length ? `unchanged or unread: ${same.join(', ')}` : `${after.size} endpoints`,
  );
  const nodes = r.kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'], {
    allowFail: true,
  });
  r.check(
    'day2 renew: every node Ready',
    r.site.spec.nodes.every((n) => nodes.stdout.includes(`${n.name}=True`)),
    nodes.stdout.trim().split('\n').join(', '),
  );
  const restartsAfter = restarts(r);
  // Under kubeadm the control plane's static pods restart by design (their containers are how the update restarts them).
  const staticPods = new Set(
    r.site.spec.kubernetes.mode === 'kubeadm'
      ? r.site.spec.nodes
          .filter((n) => n.roles.includes('control-plane'))
          .flatMap((n) => ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map((c) => `kube-system/${c}-${n.name}`))
      : [],
  );
  const restarted = [...restartsBefore]
    .filter(([pod, count]) => restartsAfter.has(pod) && restartsAfter.get(pod) !== count && !staticPods.has(pod))
    .map(([pod]) => pod);
  r.check(
    `day2 renew: no pod restarted${staticPods.size ? " but kubeadm's static pods" : ''}`,
    restarted.length === 0,
    restarted.join(', ') || `${restartsAfter.size} pods`,
  );

  for (const n of order) {
    const t = tarballs.get(n.name);
    if (!t) continue;
    const again = applyOver(r, n, t);
    r.check(`day2 renew: ${n.name}: the same update again is a no-op`, again.code === 0 && again.out.includes('nothing to do'), again.out.split('\n').at(-1));
  }
}

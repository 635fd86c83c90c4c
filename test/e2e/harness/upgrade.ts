import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { WrittenNode, WrittenSite } from '../../../generator/site/index.js';
import { DIST } from '../../../generator/pack/dist-layout.js';
import { cliPath, debianKubectl } from '../../helpers.js';
import { hostOf, pollUntil, type E2eRun } from './context.js';
import { payloadInputs } from './os-packages.js';
import { artifactsFor } from './bundle.js';

/**
 * `--upgrade VERSION` on a running site (issue #23): a DaemonSet runs on every node, the blueprint
 * names VERSION, `gen bundle` makes the upgrade (the new release's payload and one update per
 * node), and the bundle's own apply-updates.sh rolls it out over ssh from the operator's side
 * (etcd members and control planes first, each worker cordoned and drained before and uncordoned
 * after). Checked: every component reports VERSION (kubectl version's server, each node's
 * kubeletVersion, each apiserver's /version, each running binary), every node records it, the
 * DaemonSet's pods are the same pods and Running, and apply-updates.sh run again changes nothing.
 */

export interface UpgradeFigures {
  from: string;
  to: string;
  /** From the start of apply-updates.sh to every node reporting the new kubeletVersion. */
  startToAllNodesOnNewVersionSeconds: number;
  applyUpdatesSeconds: number;
  secondApplySeconds: number;
}

const DAEMONSET = 'upgrade-probe';

function daemonSet(): string {
  return stringify({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: DAEMONSET, namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: DAEMONSET } },
      template: {
        metadata: { labels: { app: DAEMONSET } },
        spec: {
          // Every node, control planes included.
          tolerations: [{ operator: 'Exists' }],
          containers: [{ name: 'sleep', image: 'docker.io/library/busybox:1.35.0', imagePullPolicy: 'Never', command: ['sleep', '86400'] }],
        },
      },
    },
  });
}

/** The DaemonSet's pods: uid, node, phase and restart count. */
function probePods(r: E2eRun): { uid: string; node: string; phase: string; restarts: string }[] {
  const k = r.kubectl(
    [
      'get',
      'pods',
      '-n',
      'default',
      '-l',
      `app=${DAEMONSET}`,
      '-o',
      'jsonpath={range .items[*]}{.metadata.uid} {.spec.nodeName} {.status.phase} {.status.containerStatuses[0].restartCount}{"\\n"}{end}',
    ],
    { allowFail: true },
  );
  return k.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [uid = '', node = '', phase = '', restarts = ''] = l.split(' ');
      return { uid, node, phase, restarts };
    });
}

function kubeletVersions(r: E2eRun): Map<string, string> {
  const k = r.kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.nodeInfo.kubeletVersion}{"\\n"}{end}'], { allowFail: true });
  return new Map(
    k.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('=') as [string, string]),
  );
}

/** Runs the bundle's apply-updates.sh inside the namespace as the operator would: ssh as the nodes' sudo user, kubectl with the admin kubeconfig. */
function applyUpdates(r: E2eRun): { code: number; out: string; seconds: number } {
  const t0 = Date.now();
  const kubectlDir = debianKubectl.slice(0, debianKubectl.lastIndexOf('/'));
  const s = spawnSync('ip', ['netns', 'exec', r.ns, 'sh', join(r.dist, DIST.applyUpdates)], {
    encoding: 'utf8',
    cwd: r.dist,
    maxBuffer: 1 << 26,
    // Every node's update restarts its components and waits for each; on emulated guests that is minutes per node.
    timeout: 3_600_000,
    env: {
      ...process.env,
      PATH: `${kubectlDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      KUBESEED_SSH_USER: 'debian',
      KUBESEED_SSH_OPTS: `-i ${r.sshKey} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=60 -o BatchMode=yes`,
      KUBESEED_READY_TIMEOUT: '900',
    },
  });
  return { code: s.status ?? 1, out: `${s.stdout}${s.stderr}`, seconds: (Date.now() - t0) / 1000 };
}

/** A field of a JSON answer, or '' when the answer is not JSON (a failed kubectl prints an error instead). */
function parsedOr<T>(text: string, pick: (j: T) => string | undefined): string {
  try {
    return pick(JSON.parse(text) as T) ?? '';
  } catch {
    return '';
  }
}

const tail = (text: string, n = 3) => text.trim().split('\n').slice(-n).join('; ');

/** What runs on a node, by binary: whether the process runs the installed file (not a replaced one) and what that file reports. */
function runningVersions(r: E2eRun, n: WrittenNode): string {
  const bins = ['kubelet', 'kube-proxy', ...(n.roles.includes('control-plane') ? ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] : [])];
  const script = bins
    .map((b) => `p=$(pidof ${b} | cut -d' ' -f1); e=$(readlink /proc/$p/exe); v=$(/usr/local/bin/${b} --version 2>&1 | awk '{print $2}'); echo "${b} $e $v"`)
    .join('\n');
  return r.ssh(n, script).stdout.trim();
}

export async function checkUpgrade(r: E2eRun, runSite: string, version: string): Promise<UpgradeFigures | null> {
  const from = r.site.spec.kubernetes.version;
  const nodes = r.site.spec.nodes;
  // 1. A DaemonSet on every node, Running before the upgrade.
  const ds = r.kubectl(['apply', '-f', '-'], { input: daemonSet(), allowFail: true });
  r.check('upgrade: DaemonSet created', ds.status === 0, tail(ds.stdout + ds.stderr, 1));
  const running = await pollUntil(600_000, () => {
    const p = probePods(r);
    return p.length === nodes.length && p.every((x) => x.phase === 'Running');
  });
  const before = probePods(r);
  r.check(`upgrade: DaemonSet Running on every node before the upgrade`, running, before.map((p) => `${p.node}=${p.phase}`).join(', '));

  // 2. The blueprint names the new release; gen bundle makes the upgrade with its payload.
  const site = parse(readFileSync(runSite, 'utf8')) as WrittenSite;
  copyFileSync(runSite, `${runSite}.${from}`);
  site.spec.kubernetes.version = version;
  writeFileSync(runSite, stringify(site));
  const work = join(r.work, 'upgrade');
  mkdirSync(work, { recursive: true });
  const inputs = await payloadInputs(work, runSite, artifactsFor(version, r.site.spec.kubernetes.mode), (m) => r.log(m));
  const validate = spawnSync(process.execPath, [cliPath, 'validate', '--site', runSite], { cwd: r.work, encoding: 'utf8' });
  r.check(`upgrade: gen validate accepts ${from} -> ${version}`, validate.status === 0, tail(validate.stdout + validate.stderr, 2));
  r.log(`gen bundle (${from} -> ${version})`);
  const b = spawnSync(process.execPath, [cliPath, 'bundle', '--site', runSite, '--artifacts', inputs.dir, '--json'], {
    cwd: r.work,
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const updates = parsedOr(b.stdout, (j: { nodeUpdates?: string[] }) => (j.nodeUpdates ?? []).join(','));
  const updated = nodes.filter((n) => updates.split(',').includes(n.name));
  r.check(
    'upgrade: gen bundle makes an update for every node',
    b.status === 0 && updated.length === nodes.length,
    b.status === 0 ? `node updates for ${updates || 'none'}` : tail(b.stderr),
  );
  if (b.status !== 0 || updated.length !== nodes.length) return null;

  // 3. The rollout, from the operator's side.
  const t0 = Date.now();
  const first = applyUpdates(r);
  r.check('upgrade: apply-updates.sh rolls every node (etcd and control planes first, workers drained)', first.code === 0, tail(first.out, 4));
  const allNew = await pollUntil(600_000, () => {
    const v = kubeletVersions(r);
    return nodes.every((n) => v.get(n.name) === version);
  });
  const toAllNew = (Date.now() - t0) / 1000;
  const kubelets = kubeletVersions(r);
  r.check(
    `upgrade: every node's kubeletVersion is ${version}`,
    allNew,
    [...kubelets].map(([n, v]) => `${n}=${v}`).join(', ') + ` (${toAllNew.toFixed(0)} s from the start of the upgrade)`,
  );

  // 4. Every component reports the new version.
  const kv = r.kubectl(['version', '-o', 'json'], { allowFail: true });
  const server = parsedOr(kv.stdout, (j: { serverVersion?: { gitVersion?: string } }) => j.serverVersion?.gitVersion);
  r.check(`upgrade: kubectl version reports server ${version}`, server === version, server || tail(kv.stderr, 1));
  const admin = readFileSync(join(r.dist, DIST.adminKubeconfig), 'utf8');
  const port = /server: https:\/\/[^\s:]+:(\d+)/.exec(admin)?.[1] ?? '6443';
  for (const n of nodes.filter((x) => x.roles.includes('control-plane'))) {
    const v = r.kubectl(['--server', `https://${hostOf(n)}:${port}`, 'get', '--raw', '/version'], { allowFail: true });
    const git = parsedOr(v.stdout, (j: { gitVersion?: string }) => j.gitVersion);
    r.check(`upgrade: ${n.name}: apiserver /version is ${version}`, git === version, git || tail(v.stderr, 1));
  }
  for (const n of nodes) {
    const running = runningVersions(r, n);
    const lines = running.split('\n').filter(Boolean);
    const ok = lines.length > 0 && lines.every((l) => / \/usr\/local\/bin\/\S+ /.test(`${l} `) && l.endsWith(` ${version}`) && !l.includes('(deleted)'));
    r.check(`upgrade: ${n.name}: every running component is the installed ${version} binary`, ok, lines.join('; '));
    const status = r.ssh(n, 'kubeseed-status 2>/dev/null | grep -E "^(release|site revision):"');
    r.check(`upgrade: ${n.name}: kubeseed-status shows kubernetes=${version}`, status.stdout.includes(`kubernetes=${version}`), tail(status.stdout, 2));
    const kept = r.ssh(n, 'test -x /usr/local/sbin/kubeseed-rollback && ls /var/lib/kubeseed/rollback/root/usr/local/bin | paste -sd, -');
    r.check(
      `upgrade: ${n.name}: the previous binaries are kept for kubeseed-rollback`,
      kept.status === 0 && kept.stdout.includes('kubelet'),
      kept.stdout.trim(),
    );
  }

  // 5. The workload lived through it.
  const after = probePods(r);
  const lost = before.filter((p) => !after.some((a) => a.uid === p.uid && a.phase === 'Running' && a.restarts === p.restarts));
  r.check(
    'upgrade: the DaemonSet pods survive (same pods, Running, not restarted)',
    before.length === nodes.length && lost.length === 0,
    lost.length
      ? `changed: ${lost.map((p) => p.node).join(', ')}; now ${after.map((p) => `${p.node}=${p.phase}/${p.restarts}`).join(', ')}`
      : `${after.length} pods`,
  );
  const cordoned = r.kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.spec.unschedulable}{"\\n"}{end}'], { allowFail: true });
  r.check('upgrade: no node left cordoned', !/=true/.test(cordoned.stdout), cordoned.stdout.trim().split('\n').join(', '));

  // 6. The same upgrade again: nothing to do on any node.
  const second = applyUpdates(r);
  const noop = nodes.filter((n) => second.out.includes(`== ${n.name} (${hostOf(n)}): already at site revision`));
  r.check(
    'upgrade: a second application of the same upgrade is a no-op',
    second.code === 0 && noop.length === nodes.length,
    `${second.seconds.toFixed(0)} s; ${tail(second.out, nodes.length + 1)}`,
  );
  return {
    from,
    to: version,
    startToAllNodesOnNewVersionSeconds: Math.round(toAllNew),
    applyUpdatesSeconds: Math.round(first.seconds),
    secondApplySeconds: Math.round(second.seconds),
  };
}

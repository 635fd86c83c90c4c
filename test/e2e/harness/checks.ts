import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { hostOf, pollUntil, sleep, type E2eRun } from './context.js';
import type { Machines } from './boot.js';

/** Waits for every node Ready; returns the seconds from the last power-on to the last Ready look. */
export async function checkAllReady(r: E2eRun, machines: Machines): Promise<number> {
  let ready: string[] = [];
  const allReady = await pollUntil(r.opts.timeoutS * 1000, () => {
    const k = r.kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'], {
      allowFail: true,
    });
    ready = k.stdout
      .split('\n')
      .filter((l) => l.endsWith('=True'))
      .map((l) => l.split('=')[0]!);
    return r.site.spec.nodes.every((n) => ready.includes(n.name));
  });
  const allReadyS = (Date.now() - machines.lastPowerOn) / 1000;
  r.check('every node Ready', allReady, `ready: ${ready.join(', ') || 'none'}; ${allReadyS.toFixed(0)} s after the last power-on`);
  return allReadyS;
}

/** Each node's first-boot orchestrator said so on its serial console. */
export async function checkFirstBootComplete(r: E2eRun): Promise<void> {
  const nodes = r.site.spec.nodes;
  for (let i = 0; i < 60 && !nodes.every((n) => r.serial(n.name).includes('first boot complete')); i++) await sleep(5000);
  for (const n of nodes)
    r.check(`${n.name}: first boot complete`, r.serial(n.name).includes(`kubeseed[${n.name}] node ${n.name} is Ready; first boot complete`));
}

/** etcd: every member healthy over TLS, asked with the apiserver's client certificate. */
export function checkEtcdHealth(r: E2eRun): void {
  const state = r.pkiState;
  const etcdEndpoints = r.site.spec.nodes.filter((n) => n.roles.includes('etcd')).map((n) => `https://${hostOf(n)}:2379`);
  const health = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      r.ns,
      'etcdctl',
      '--endpoints',
      etcdEndpoints.join(','),
      '--cacert',
      join(state, 'etcd-ca.crt'),
      '--cert',
      join(state, 'apiserver-etcd-client.crt'),
      '--key',
      join(state, 'apiserver-etcd-client.key'),
      'endpoint',
      'health',
    ],
    { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } },
  );
  r.check(
    'etcdctl endpoint health: every member',
    health.status === 0 && etcdEndpoints.every((e) => (health.stdout + health.stderr).includes(`${e} is healthy`)),
    (health.stdout + health.stderr).trim().split('\n').join('; '),
  );
}

/** A DaemonSet of busybox web servers from the payload (pulls forbidden), a NodePort Service in front. */
const WEB = {
  apiVersion: 'v1',
  kind: 'List',
  items: [
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'e2e-web', namespace: 'default' },
      spec: {
        selector: { matchLabels: { app: 'e2e-web' } },
        template: {
          metadata: { labels: { app: 'e2e-web' } },
          spec: {
            tolerations: [{ operator: 'Exists' }],
            containers: [
              {
                name: 'web',
                image: 'docker.io/library/busybox:1.35.0',
                imagePullPolicy: 'Never',
                command: ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'],
                ports: [{ containerPort: 8080 }],
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'e2e-web', namespace: 'default' },
      spec: { type: 'NodePort', selector: { app: 'e2e-web' }, ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] },
    },
  ],
};

/** The workload: pods from the payload on every node, pod-to-pod traffic, the ClusterIP and NodePort Service. */
export async function checkWorkload(r: E2eRun): Promise<void> {
  const nodes = r.site.spec.nodes;
  r.kubectl(['apply', '-f', '-'], { input: JSON.stringify(WEB), allowFail: true });
  let pods: { name: string; node: string; ip: string }[] = [];
  const tApply = Date.now();
  const podsEverywhere = await pollUntil(900_000, () => {
    const k = r.kubectl(
      ['get', 'pods', '-l', 'app=e2e-web', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.spec.nodeName}={.status.podIP}={.status.phase}{"\\n"}{end}'],
      { allowFail: true },
    );
    pods = k.stdout
      .split('\n')
      .filter((l) => l.endsWith('=Running'))
      .map((l) => {
        const [name, node, ip] = l.split('=');
        return { name: name!, node: node!, ip: ip! };
      });
    return nodes.every((n) => pods.some((p) => p.node === n.name));
  });
  r.check(
    'a busybox DaemonSet from the payload runs on every node',
    podsEverywhere,
    `${pods.map((p) => `${p.name}@${p.node} ${p.ip}`).join(', ') || 'none running'}; ${((Date.now() - tApply) / 1000).toFixed(0)} s after apply`,
  );
  const pulls = r.kubectl(
    ['get', 'pods', '-A', '-o', 'jsonpath={range .items[*]}{range .status.containerStatuses[*]}{.state.waiting.reason}{"\\n"}{end}{end}'],
    { allowFail: true },
  ).stdout;
  r.check('no pod waits on an image pull', !/ErrImagePull|ImagePullBackOff/.test(pulls));

  // Not `wget -T`: Debian's busybox 1.35 crashes on it; its timeout applet bounds the wait instead.
  const wget = (pod: string, url: string) => r.kubectl(['exec', pod, '--', 'timeout', '10', 'wget', '-q', '-O', '-', url], { allowFail: true }).stdout.trim();
  const pairs: string[] = [];
  let pairsOk = pods.length > 1;
  for (const a of pods)
    for (const b of pods) {
      if (a === b) continue;
      const got = wget(a.name, `http://${b.ip}:8080/`);
      pairs.push(`${a.node}→${b.node}: ${got === b.name ? 'ok' : `got '${got}'`}`);
      if (got !== b.name) pairsOk = false;
    }
  r.check('pod-to-pod traffic between nodes', pairsOk, pairs.join(', '));
  // A Service answers once the endpoint controller has listed its pods; under emulation the
  // controller-manager may be restarting after a lost lease when the pods start, so wait for that
  // (bounded) before asking kube-proxy's rules.
  let endpoints: string[] = [];
  const tEndpoints = Date.now();
  await pollUntil(900_000, () => {
    endpoints = r
      .kubectl(['get', 'endpoints', 'e2e-web', '-o', 'jsonpath={.subsets[*].addresses[*].ip}'], { allowFail: true })
      .stdout.trim()
      .split(/\s+/)
      .filter(Boolean);
    return pods.every((p) => endpoints.includes(p.ip));
  });
  r.log(`Service e2e-web endpoints: ${endpoints.join(', ') || 'none'} after ${((Date.now() - tEndpoints) / 1000).toFixed(0)} s`);
  const clusterIP = r.kubectl(['get', 'svc', 'e2e-web', '-o', 'jsonpath={.spec.clusterIP}'], { allowFail: true }).stdout.trim();
  const viaService = pods.map((p) => {
    let got = '';
    for (let i = 0; i < 5 && !got; i++) got = wget(p.name, `http://${clusterIP}/`);
    return `${p.node}: ${got || 'no answer'}`;
  });
  r.check(
    `ClusterIP Service ${clusterIP} reachable from a pod on every node`,
    viaService.every((v) => v.includes('e2e-web-')),
    viaService.join(', '),
  );
  const nodePort = nodes.map((n) => {
    const got = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        r.ns,
        process.execPath,
        '-e',
        `fetch('http://${hostOf(n)}:30080/',{signal:AbortSignal.timeout(5000)}).then(r=>r.text()).then(t=>console.log(t.trim())).catch(e=>console.log('error '+e.message))`,
      ],
      { encoding: 'utf8' },
    );
    return `${n.name}: ${got.stdout.trim()}`;
  });
  r.check(
    'NodePort 30080 answers on every node',
    nodePort.every((v) => v.includes('e2e-web-')),
    nodePort.join(', '),
  );
  if (r.failed) {
    console.log(r.kubectl(['get', 'nodes,daemonsets,pods', '-A', '-o', 'wide'], { allowFail: true }).stdout);
    console.log(r.kubectl(['get', 'events', '-A', '--sort-by=.lastTimestamp'], { allowFail: true }).stdout.split('\n').slice(-25).join('\n'));
  }
}

/** Restarts systemd made of each control-plane unit, and leader leases lost (journal, or the static pods' logs under kubeadm). */
const CONTROL_PLANE_HEALTH = [
  'for u in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet; do',
  '  systemctl cat $u >/dev/null 2>&1 && echo "$u restarts $(systemctl show -p NRestarts --value $u)";',
  'done;',
  'echo "leader leases lost $( (journalctl -o cat -u kube-controller-manager -u kube-scheduler; cat /var/log/pods/kube-system_kube-controller-manager-*/*/* /var/log/pods/kube-system_kube-scheduler-*/*/*) 2>/dev/null | grep -c \'leaderelection lost\')"',
].join(' ');

/**
 * What the control plane went through, per control-plane node: a controller-manager or scheduler
 * that keeps losing its leader lease (and restarting) stalls every controller, which is how a slow
 * host shows up.
 */
export function controlPlaneHealth(r: E2eRun): Record<string, string> {
  const controlPlane: Record<string, string> = {};
  for (const n of r.site.spec.nodes.filter((x) => x.roles.includes('control-plane'))) {
    controlPlane[n.name] = r.ssh(n, CONTROL_PLANE_HEALTH).stdout.trim().split('\n').join(', ') || 'no answer';
    r.log(`${n.name} control plane: ${controlPlane[n.name]}`);
  }
  return controlPlane;
}

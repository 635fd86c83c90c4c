/**
 * End-to-end boot: `npm run test:e2e [-- --site test/e2e/sites/smoke2.yaml] [--reverse] [--late NODE] [--reboot NODE|none] [--icount SHIFT|off] [--timeout S] [--report FILE]`.
 * Builds (or reuses) the hermetic fixtures, runs the real `gen bundle`, and boots every node in
 * QEMU (software emulation) on a bridge inside a network namespace made for the run: no route
 * leads anywhere else, so a missing artifact shows up as a failure, never as a silent download.
 * Must run as root (network namespaces, tap devices).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import { cliPath, debianKubectl, fixtureCache, repoRoot } from '../helpers.js';

const { values } = parseArgs({ options: { site: { type: 'string', default: 'test/e2e/sites/lab1.yaml' }, reverse: { type: 'boolean' }, late: { type: 'string' }, reboot: { type: 'string' }, timeout: { type: 'string', default: '1800' }, keep: { type: 'boolean' }, report: { type: 'string' }, icount: { type: 'string', default: '0' } } });
const sitePath = resolve(repoRoot, values.site!);
const site = parse(readFileSync(sitePath, 'utf8')) as { metadata: { name: string }; spec: { kubernetes?: { mode?: string }; nodes: { name: string; address: string; gateway: string; mac: string; roles: string[] }[] } };
for (const [flag, name] of [['--late', values.late], ['--reboot', values.reboot]] as const) {
  if (name !== undefined && name !== 'none' && !site.spec.nodes.some((n) => n.name === name)) {
    console.error(`${flag} ${name}: ${values.site} has no such node (nodes: ${site.spec.nodes.map((n) => n.name).join(', ')})`);
    process.exit(2);
  }
}
if (values.icount !== 'off' && !/^\d+$/.test(values.icount!)) {
  console.error(`--icount ${values.icount}: give a shift (0 = one nanosecond of guest time per instruction) or off`);
  process.exit(2);
}
const guest = join(fixtureCache, 'guest-bookworm');
/** kubeadm sites take the variant whose image archive also holds the control-plane images. */
const artifacts = join(fixtureCache, site.spec.kubernetes?.mode === 'kubeadm' ? 'e2e-artifacts-kubeadm' : 'e2e-artifacts');
const work = mkdtempSync(join(tmpdir(), 'kubeseed-e2e-'));
const ns = `kse2e-${process.pid}`;
/** Each node's current QEMU (a reboot replaces it). */
const vm: Record<string, ChildProcess> = {};
const results: { name: string; ok: boolean; detail?: string }[] = [];
const t0 = Date.now();
const sshKey = join(work, 'id_ed25519');
const log = (m: string) => console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${m}`);

function run(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, maxBuffer: 1 << 26, ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}) });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r;
}
const inNs = (cmd: string, args: string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}) => run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
// Bounded: an overloaded apiserver makes kubectl retry discovery for minutes, which would stall the
// deadline loop and keep Ctrl-C (handled between calls) from cleaning up.
const kubectl = (args: string[], opts: { input?: string; allowFail?: boolean } = {}) =>
  inNs(debianKubectl, ['--kubeconfig', join(work, 'output', site.metadata.name, 'dist', 'admin', 'admin.kubeconfig'), '--request-timeout=30s', ...args], { timeoutMs: 90_000, ...opts });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * Asks `done` every 5 s until it holds or `ms` of wall-clock time have passed; true if it held.
 * A clock, not a count of polls: on a slow host each kubectl call inside `done` takes seconds too.
 */
async function pollUntil(ms: number, done: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (done()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(5000);
  }
}
function check(name: string, ok: boolean, detail?: string) {
  results.push({ name, ok, ...(detail ? { detail } : {}) });
  log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
}

/**
 * A shell script run on a node as root, over ssh inside the namespace (the key reaches the guest through the site's sshAuthorizedKeys); on stdin, so no shell on the way rewrites it.
 * A loaded guest's sshd can take tens of seconds to answer, and an empty answer must not pass for a result: 60 s to connect unless a poll asks for less.
 */
function ssh(node: { address: string }, command: string, allowFail = true, connectTimeoutS = 60) {
  return inNs('ssh', ['-i', sshKey, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', `ConnectTimeout=${connectTimeoutS}`, '-o', 'BatchMode=yes', `debian@${node.address.split('/')[0]}`, 'sudo sh -s'], { input: command, allowFail, timeoutMs: 120_000 });
}

/** Restarts systemd made of each control-plane unit, and leader leases lost (journal, or the static pods' logs under kubeadm). */
const CONTROL_PLANE_HEALTH = [
  'for u in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet; do',
  '  systemctl cat $u >/dev/null 2>&1 && echo "$u restarts $(systemctl show -p NRestarts --value $u)";',
  'done;',
  'echo "leader leases lost $( (journalctl -o cat -u kube-controller-manager -u kube-scheduler; cat /var/log/pods/kube-system_kube-controller-manager-*/*/* /var/log/pods/kube-system_kube-scheduler-*/*/*) 2>/dev/null | grep -c \'leaderelection lost\')"',
].join(' ');

let cleaningUp = false;
function cleanup() {
  cleaningUp = true;
  for (const p of Object.values(vm)) p.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', ns]);
  if (!values.keep && results.every((r) => r.ok)) rmSync(work, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the e2e boot needs root (network namespaces, tap devices)');
  log('fixtures');
  run('bash', [join(repoRoot, 'scripts/e2e/setup.sh')]);
  run('bash', [join(repoRoot, 'scripts/e2e/build-kubernetes.sh')]);
  run('bash', [join(repoRoot, 'scripts/e2e/build-guest.sh')]);
  run(process.execPath, [join(repoRoot, 'scripts/e2e/build-artifacts.mjs')]);

  // The site as written, plus an ssh key of this run: the harness looks inside nodes through it.
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kubeseed-e2e', '-f', sshKey]);
  const derived = parse(readFileSync(sitePath, 'utf8')) as { spec: { os: { sshAuthorizedKeys?: string[] }; artifacts: { catalog?: string } } };
  derived.spec.os.sshAuthorizedKeys = [readFileSync(`${sshKey}.pub`, 'utf8').trim()];
  if (derived.spec.artifacts.catalog) derived.spec.artifacts.catalog = resolve(sitePath, '..', derived.spec.artifacts.catalog);
  const runSite = join(work, 'site.yaml');
  writeFileSync(runSite, stringify(derived));

  log(`gen bundle ${values.site}`);
  const b = spawnSync(process.execPath, [cliPath, 'bundle', '--site', runSite, '--artifacts', artifacts], { cwd: work, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`gen bundle failed:\n${b.stderr}`);
  const dist = join(work, 'output', site.metadata.name, 'dist');
  const payload = JSON.parse(readFileSync(join(dist, 'manifest.json'), 'utf8')).payload.replace(/\.tar$/, '.iso') as string;

  const gw = site.spec.nodes[0]!.gateway;
  const prefix = site.spec.nodes[0]!.address.split('/')[1];
  run('ip', ['netns', 'add', ns]);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  run('ip', ['-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);
  run('ip', ['-n', ns, 'addr', 'add', `${gw}/${prefix}`, 'dev', 'br0']);
  run('ip', ['-n', ns, 'link', 'set', 'br0', 'up']);

  const order = values.reverse ? [...site.spec.nodes].reverse() : site.spec.nodes;
  const powerOn: Record<string, number> = {};
  const rebooting = new Set<string>();
  const boot = (n: (typeof order)[number], i: number) => {
    const tap = `tap${i}`;
    const disk = join(work, `${n.name}.qcow2`);
    const first = !(n.name in powerOn);
    if (first) {
      inNs('ip', ['tuntap', 'add', tap, 'mode', 'tap']);
      run('ip', ['-n', ns, 'link', 'set', tap, 'master', 'br0']);
      run('ip', ['-n', ns, 'link', 'set', tap, 'up']);
      run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', join(guest, 'disk.img'), '-F', 'raw', disk]);
    }
    // TCG's translation cache (1 GiB by default) filled within five minutes of a smoke boot and was
    // flushed (`info jit` on the monitor): every Go binary's hot code was then translated again. 2 GiB
    // is QEMU's ceiling on x86_64 hosts; only the pages it uses take host memory.
    // -no-reboot: a guest's reboot ends its QEMU and the harness starts a fresh one on the same disk. A warm
    // reset keeps the full cache of the previous boot, and QEMU 7.2 then spent ~40 ms on every store the new
    // kernel made into a page that once held code: modprobe clearing one page for minutes, soft lockups,
    // no login after 16 min (CI of 2026-11-24, reproduced here). A fresh process is a cold power cycle.
    // The default TCG model (qemu64) lacks AES-NI and PCLMULQDQ: Go then does TLS in software AES/GHASH, and
    // every etcd, apiserver and kubelet connection costs many times more emulated instructions than on real nodes.
    const p = spawn('ip', ['netns', 'exec', ns, 'qemu-system-x86_64', '-machine', 'q35', '-accel', 'tcg,tb-size=2048', '-no-reboot', '-cpu', 'max', '-m', '3072', '-smp', '1',
      // Guest time from the instruction count (docs/decisions.md): each guest sees a steady 1 GHz machine, so its
      // leases, renew deadlines and etcd elections measure its own progress, not how busy the host's two cores are.
      ...(values.icount === 'off' ? [] : ['-icount', `shift=${values.icount},sleep=on`]),
      '-kernel', join(guest, 'vmlinuz'), '-initrd', join(guest, 'initrd.img'),
      // Under TCG the guest sees unsynchronised TSCs and falls back to the HPET, which turns every clock read of
      // etcd, the apiserver and the kubelet into an emulated MMIO trap; tsc=reliable keeps the cheap clock.
      '-append', 'root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=0 tsc=reliable mitigations=off',
      // The disk is thrown away after the run: ignoring flushes spares etcd's fsyncs a trip to the host's disk.
      '-drive', `file=${disk},if=virtio,format=qcow2,cache=unsafe`,
      '-drive', `file=${join(dist, 'nodes', n.name, 'seed.iso')},if=virtio,format=raw,readonly=on`,
      '-drive', `file=${join(dist, 'payload', payload)},if=virtio,format=raw,readonly=on`,
      '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${n.mac}`,
      // A monitor per VM on a socket in the run's directory: `info jit` and friends while a run is slow.
      '-display', 'none', '-monitor', `unix:${join(work, `monitor-${n.name}.sock`)},server=on,wait=off`,
      // Appended, so that a node started again after its reboot keeps the log of its first boot.
      '-chardev', `file,id=serial0,path=${join(work, `serial-${n.name}.log`)},append=on`, '-serial', 'chardev:serial0'], { stdio: 'ignore' });
    vm[n.name] = p;
    p.on('exit', (code, signal) => {
      if (!cleaningUp && !rebooting.has(n.name)) log(`${n.name}: QEMU exited on its own (${signal ?? `code ${code}`}); the node is down`);
    });
    if (first) powerOn[n.name] = Date.now();
    log(`powered on ${n.name}`);
  };
  for (const [i, n] of order.entries()) {
    if (values.late === n.name) {
      setTimeout(() => boot(n, i), 120_000);
      continue;
    }
    boot(n, i);
  }

  let ready: string[] = [];
  const allReady = await pollUntil(Number(values.timeout) * 1000, () => {
    const r = kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'], { allowFail: true });
    ready = r.stdout.split('\n').filter((l) => l.endsWith('=True')).map((l) => l.split('=')[0]!);
    return site.spec.nodes.every((n) => ready.includes(n.name));
  });
  const lastPowerOn = Math.max(...Object.values(powerOn));
  const allReadyS = (Date.now() - lastPowerOn) / 1000;
  check('every node Ready', allReady, `ready: ${ready.join(', ') || 'none'}; ${allReadyS.toFixed(0)} s after the last power-on`);

  const serial = (n: string) => (existsSync(join(work, `serial-${n}.log`)) ? readFileSync(join(work, `serial-${n}.log`), 'utf8') : '');
  for (let i = 0; i < 60 && !site.spec.nodes.every((n) => serial(n.name).includes('first boot complete')); i++) await sleep(5000);
  for (const n of site.spec.nodes) check(`${n.name}: first boot complete`, serial(n.name).includes(`kubeseed[${n.name}] node ${n.name} is Ready; first boot complete`));

  // etcd: every member healthy over TLS, asked with the apiserver's client certificate.
  const state = join(work, 'output', site.metadata.name, 'state', 'current', 'pki');
  const etcdEndpoints = site.spec.nodes.filter((n) => n.roles.includes('etcd')).map((n) => `https://${n.address.split('/')[0]}:2379`);
  const health = spawnSync('ip', ['netns', 'exec', ns, 'etcdctl', '--endpoints', etcdEndpoints.join(','), '--cacert', join(state, 'etcd-ca.crt'), '--cert', join(state, 'apiserver-etcd-client.crt'), '--key', join(state, 'apiserver-etcd-client.key'), 'endpoint', 'health'], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
  check('etcdctl endpoint health: every member', health.status === 0 && etcdEndpoints.every((e) => (health.stdout + health.stderr).includes(`${e} is healthy`)), (health.stdout + health.stderr).trim().split('\n').join('; '));

  // A DaemonSet of busybox web servers from the payload (pulls forbidden), a NodePort Service in front.
  const web = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'e2e-web', namespace: 'default' }, spec: { selector: { matchLabels: { app: 'e2e-web' } }, template: { metadata: { labels: { app: 'e2e-web' } }, spec: { tolerations: [{ operator: 'Exists' }], containers: [{ name: 'web', image: 'docker.io/library/busybox:1.35.0', imagePullPolicy: 'Never', command: ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'], ports: [{ containerPort: 8080 }] }] } } } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'e2e-web', namespace: 'default' }, spec: { type: 'NodePort', selector: { app: 'e2e-web' }, ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] } },
    ],
  };
  kubectl(['apply', '-f', '-'], { input: JSON.stringify(web), allowFail: true });
  let pods: { name: string; node: string; ip: string }[] = [];
  const tApply = Date.now();
  const podsEverywhere = await pollUntil(900_000, () => {
    const r = kubectl(['get', 'pods', '-l', 'app=e2e-web', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.spec.nodeName}={.status.podIP}={.status.phase}{"\\n"}{end}'], { allowFail: true });
    pods = r.stdout.split('\n').filter((l) => l.endsWith('=Running')).map((l) => { const [name, node, ip] = l.split('='); return { name: name!, node: node!, ip: ip! }; });
    return site.spec.nodes.every((n) => pods.some((p) => p.node === n.name));
  });
  check('a busybox DaemonSet from the payload runs on every node', podsEverywhere, `${pods.map((p) => `${p.name}@${p.node} ${p.ip}`).join(', ') || 'none running'}; ${((Date.now() - tApply) / 1000).toFixed(0)} s after apply`);
  const pulls = kubectl(['get', 'pods', '-A', '-o', 'jsonpath={range .items[*]}{range .status.containerStatuses[*]}{.state.waiting.reason}{"\\n"}{end}{end}'], { allowFail: true }).stdout;
  check('no pod waits on an image pull', !/ErrImagePull|ImagePullBackOff/.test(pulls));

  // Not `wget -T`: Debian's busybox 1.35 crashes on it; its timeout applet bounds the wait instead.
  const wget = (pod: string, url: string) => kubectl(['exec', pod, '--', 'timeout', '10', 'wget', '-q', '-O', '-', url], { allowFail: true }).stdout.trim();
  const pairs: string[] = [];
  let pairsOk = pods.length > 1;
  for (const a of pods) for (const b of pods) {
    if (a === b) continue;
    const got = wget(a.name, `http://${b.ip}:8080/`);
    pairs.push(`${a.node}→${b.node}: ${got === b.name ? 'ok' : `got '${got}'`}`);
    if (got !== b.name) pairsOk = false;
  }
  check('pod-to-pod traffic between nodes', pairsOk, pairs.join(', '));
  // A Service answers once the endpoint controller has listed its pods; under emulation the
  // controller-manager may be restarting after a lost lease when the pods start, so wait for that
  // (bounded) before asking kube-proxy's rules.
  let endpoints: string[] = [];
  const tEndpoints = Date.now();
  await pollUntil(900_000, () => {
    endpoints = kubectl(['get', 'endpoints', 'e2e-web', '-o', 'jsonpath={.subsets[*].addresses[*].ip}'], { allowFail: true }).stdout.trim().split(/\s+/).filter(Boolean);
    return pods.every((p) => endpoints.includes(p.ip));
  });
  log(`Service e2e-web endpoints: ${endpoints.join(', ') || 'none'} after ${((Date.now() - tEndpoints) / 1000).toFixed(0)} s`);
  const clusterIP = kubectl(['get', 'svc', 'e2e-web', '-o', 'jsonpath={.spec.clusterIP}'], { allowFail: true }).stdout.trim();
  const viaService = pods.map((p) => { let got = ''; for (let i = 0; i < 5 && !got; i++) got = wget(p.name, `http://${clusterIP}/`); return `${p.node}: ${got || 'no answer'}`; });
  check(`ClusterIP Service ${clusterIP} reachable from a pod on every node`, viaService.every((v) => v.includes('e2e-web-')), viaService.join(', '));
  const nodePort = site.spec.nodes.map((n) => {
    const ip = n.address.split('/')[0];
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', `fetch('http://${ip}:30080/',{signal:AbortSignal.timeout(5000)}).then(r=>r.text()).then(t=>console.log(t.trim())).catch(e=>console.log('error '+e.message))`], { encoding: 'utf8' });
    return `${n.name}: ${r.stdout.trim()}`;
  });
  check('NodePort 30080 answers on every node', nodePort.every((v) => v.includes('e2e-web-')), nodePort.join(', '));
  if (results.some((r) => !r.ok)) {
    console.log(kubectl(['get', 'nodes,daemonsets,pods', '-A', '-o', 'wide'], { allowFail: true }).stdout);
    console.log(kubectl(['get', 'events', '-A', '--sort-by=.lastTimestamp'], { allowFail: true }).stdout.split('\n').slice(-25).join('\n'));
  }
  // What the control plane went through: a controller-manager or scheduler that keeps losing its
  // leader lease (and restarting) stalls every controller, which is how a slow host shows up.
  const controlPlane: Record<string, string> = {};
  for (const n of site.spec.nodes.filter((x) => x.roles.includes('control-plane'))) {
    controlPlane[n.name] = ssh(n, CONTROL_PLANE_HEALTH).stdout.trim().split('\n').join(', ') || 'no answer';
    log(`${n.name} control plane: ${controlPlane[n.name]}`);
  }

  // Reboot one node: it comes back Ready, its pods run again, and first boot repeats nothing.
  const rebootName = values.reboot ?? site.spec.nodes[site.spec.nodes.length - 1]!.name;
  const rebooted = site.spec.nodes.find((n) => n.name === rebootName);
  if (rebooted && values.reboot !== 'none') {
    const bootId = ssh(rebooted, 'cat /proc/sys/kernel/random/boot_id').stdout.trim();
    const statusBefore = ssh(rebooted, 'cat /var/lib/kubeseed/status.json').stdout.trim();
    const serialBefore = serial(rebooted.name).length;
    const tReboot = Date.now();
    rebooting.add(rebooted.name);
    const old = vm[rebooted.name]!;
    const down = new Promise<boolean>((done) => {
      if (old.exitCode !== null || old.signalCode !== null) return done(true);
      const timer = setTimeout(() => done(false), 300_000);
      old.once('exit', () => {
        clearTimeout(timer);
        done(true);
      });
    });
    ssh(rebooted, 'systemctl reboot');
    log(`rebooting ${rebooted.name}`);
    if (await down) {
      log(`${rebooted.name} went down after ${((Date.now() - tReboot) / 1000).toFixed(0)} s; powering it on again`);
      boot(rebooted, order.indexOf(rebooted));
    } else log(`${rebooted.name} did not shut down within 300 s`);
    rebooting.delete(rebooted.name);
    let back = false;
    let newId = '';
    for (let i = 0; i < 120 && !back; i++) {
      await sleep(5000);
      // Polled every 5 s while the node is down: a short connect timeout keeps the polls on time.
      newId = ssh(rebooted, 'cat /proc/sys/kernel/random/boot_id', true, 5).stdout.trim();
      if (!newId || newId === bootId) continue;
      const r = kubectl(['get', 'node', rebooted.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], { allowFail: true });
      const pod = kubectl(['get', 'pods', '-l', 'app=e2e-web', '--field-selector', `spec.nodeName=${rebooted.name}`, '-o', 'jsonpath={.items[*].status.phase}/{.items[*].status.containerStatuses[*].ready}'], { allowFail: true }).stdout.trim();
      back = r.stdout.trim() === 'True' && pod === 'Running/true';
    }
    const afterReboot = serial(rebooted.name).slice(serialBefore);
    check(`${rebooted.name}: back Ready with its pod running after a reboot`, back, `${((Date.now() - tReboot) / 1000).toFixed(0)} s; boot id ${bootId.slice(0, 8)} → ${newId.slice(0, 8) || 'none'}`);
    // Each line reaches the serial console twice (console and journal): count names once.
    const repeated = [...new Set([...afterReboot.matchAll(/kubeseed\[[^\]]+\] step \d+\/\d+ ([a-z-]+): start/g)].map((m) => m[1]))];
    const skipped = [...new Set([...afterReboot.matchAll(/kubeseed\[[^\]]+\] step \d+\/\d+ ([a-z-]+): already done/g)].map((m) => m[1]))];
    const statusAfter = ssh(rebooted, 'cat /var/lib/kubeseed/status.json').stdout.trim();
    const statusWord = !statusBefore || !statusAfter ? `unread (${statusBefore ? 'after' : 'before'} the reboot)` : statusAfter === statusBefore ? 'unchanged' : 'changed';
    const noticed = afterReboot.includes('first boot was already complete');
    check(`${rebooted.name}: the reboot repeated no first-boot step`, repeated.length === 0 && skipped.length > 0 && statusWord === 'unchanged' && noticed, `already done: ${skipped.join(', ') || 'none'}; started again: ${repeated.join(', ') || 'none'}; status.json ${statusWord}${noticed ? '' : '; no "first boot was already complete" on the console'}`);
    if (!back) console.log(ssh(rebooted, 'crictl pods; journalctl -b -u kubelet --no-pager | tail -n 60').stdout);
  }

  // Power off, then read every disk: status.json says done; a worker holds no CA private key.
  cleaningUp = true;
  for (const p of Object.values(vm)) p.kill('SIGKILL');
  await sleep(2000);
  for (const n of site.spec.nodes) {
    const raw = join(work, `${n.name}.raw`);
    run('qemu-img', ['convert', '-O', 'raw', join(work, `${n.name}.qcow2`), raw]);
    // The VM was switched off hard: replay the ext4 journal so debugfs sees the last writes.
    run('e2fsck', ['-y', '-E', 'journal_only', raw], { allowFail: true });
    const status = run('debugfs', ['-R', 'cat /var/lib/kubeseed/status.json', raw], { allowFail: true }).stdout;
    check(`${n.name}: status.json says done (read from its disk)`, /"state":"done"/.test(status), status.trim().slice(0, 120));
    if (!n.roles.includes('control-plane') && !n.roles.includes('etcd')) {
      const pki = run('debugfs', ['-R', 'ls -p /etc/kubernetes/pki', raw], { allowFail: true }).stdout;
      const etcdDir = run('debugfs', ['-R', 'ls -p /etc/kubernetes/pki/etcd', raw], { allowFail: true }).stdout;
      const keys = [...pki.matchAll(/\/([^/]+\.key)\//g)].map((m) => m[1]);
      check(`${n.name} (worker): no CA private key, no etcd or service-account key on its disk`, keys.length === 0 && !/\.key/.test(etcdDir), `keys under /etc/kubernetes/pki: ${keys.join(', ') || 'none'}`);
    }
    rmSync(raw, { force: true });
  }

  const steps: Record<string, Record<string, number>> = {};
  for (const n of site.spec.nodes) {
    steps[n.name] = Object.fromEntries([...serial(n.name).matchAll(/kubeseed\[[^\]]+\] step \d+\/\d+ ([a-z-]+): done in (\d+) s/g)].map((m) => [m[1]!, Number(m[2])]));
  }
  const report = { site: site.metadata.name, reboot: values.reboot === 'none' ? null : rebootName, nodes: site.spec.nodes.length, order: values.reverse ? 'reverse' : 'normal', late: values.late ?? null, lastPowerOnToAllReadySeconds: Math.round(allReadyS), guestClock: values.icount === 'off' ? 'host' : `icount shift=${values.icount}`, stepGuestSeconds: steps, controlPlane, checks: results };
  writeFileSync(join(work, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  if (values.report) writeFileSync(resolve(values.report), `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report, null, 2));
}

main()
  .catch((e: Error) => check('harness', false, e.message))
  .finally(() => {
    if (results.some((r) => !r.ok)) {
      for (const n of site.spec.nodes) {
        const f = join(work, `serial-${n.name}.log`);
        if (existsSync(f)) console.log(`--- tail of ${n.name}'s serial log ---\n${readFileSync(f, 'utf8').split('\n').slice(-40).join('\n')}`);
      }
      console.log(`logs kept in ${work}`);
    }
    cleanup();
    const passed = results.filter((r) => r.ok).length;
    console.log(`${passed} passed, ${results.length - passed} failed`);
    process.exitCode = results.every((r) => r.ok) && results.length > 0 ? 0 : 1;
  });

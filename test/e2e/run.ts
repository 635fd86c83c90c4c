/**
 * End-to-end boot: `npm run test:e2e [-- --site test/e2e/sites/smoke2.yaml] [--reverse] [--late NODE]`.
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
import { parse } from 'yaml';
import { cliPath, debianKubectl, fixtureCache, repoRoot } from '../helpers.js';

const { values } = parseArgs({ options: { site: { type: 'string', default: 'test/e2e/sites/smoke2.yaml' }, reverse: { type: 'boolean' }, late: { type: 'string' }, timeout: { type: 'string', default: '1200' }, keep: { type: 'boolean' } } });
const sitePath = resolve(repoRoot, values.site!);
const site = parse(readFileSync(sitePath, 'utf8')) as { metadata: { name: string }; spec: { nodes: { name: string; address: string; gateway: string; mac: string; roles: string[] }[] } };
const guest = join(fixtureCache, 'guest-bookworm');
const artifacts = join(fixtureCache, 'e2e-artifacts');
const work = mkdtempSync(join(tmpdir(), 'kubeseed-e2e-'));
const ns = `kse2e-${process.pid}`;
const procs: ChildProcess[] = [];
const results: { name: string; ok: boolean; detail?: string }[] = [];
const t0 = Date.now();
const log = (m: string) => console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${m}`);

function run(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, maxBuffer: 1 << 26 });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r;
}
const inNs = (cmd: string, args: string[], opts: { input?: string; allowFail?: boolean } = {}) => run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
const kubectl = (args: string[], opts: { input?: string; allowFail?: boolean } = {}) => inNs(debianKubectl, ['--kubeconfig', join(work, 'output', site.metadata.name, 'dist', 'admin', 'admin.kubeconfig'), ...args], opts);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function check(name: string, ok: boolean, detail?: string) {
  results.push({ name, ok, ...(detail ? { detail } : {}) });
  log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
}

function cleanup() {
  for (const p of procs) p.kill('SIGKILL');
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

  log(`gen bundle ${values.site}`);
  const b = spawnSync(process.execPath, [cliPath, 'bundle', '--site', sitePath, '--artifacts', artifacts], { cwd: work, encoding: 'utf8' });
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
  const boot = (n: (typeof order)[number], i: number) => {
    const tap = `tap${i}`;
    inNs('ip', ['tuntap', 'add', tap, 'mode', 'tap']);
    run('ip', ['-n', ns, 'link', 'set', tap, 'master', 'br0']);
    run('ip', ['-n', ns, 'link', 'set', tap, 'up']);
    const disk = join(work, `${n.name}.qcow2`);
    run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', join(guest, 'disk.img'), '-F', 'raw', disk]);
    const p = spawn('ip', ['netns', 'exec', ns, 'qemu-system-x86_64', '-machine', 'q35', '-accel', 'tcg', '-m', '3072', '-smp', '2',
      '-kernel', join(guest, 'vmlinuz'), '-initrd', join(guest, 'initrd.img'),
      '-append', 'root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=0',
      '-drive', `file=${disk},if=virtio,format=qcow2`,
      '-drive', `file=${join(dist, 'nodes', n.name, 'seed.iso')},if=virtio,format=raw,readonly=on`,
      '-drive', `file=${join(dist, 'payload', payload)},if=virtio,format=raw,readonly=on`,
      '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${n.mac}`,
      '-display', 'none', '-monitor', 'none', '-serial', `file:${join(work, `serial-${n.name}.log`)}`], { stdio: 'ignore' });
    procs.push(p);
    powerOn[n.name] = Date.now();
    log(`powered on ${n.name}`);
  };
  for (const [i, n] of order.entries()) {
    if (values.late === n.name) {
      setTimeout(() => boot(n, i), 120_000);
      continue;
    }
    boot(n, i);
  }

  const deadline = Date.now() + Number(values.timeout) * 1000;
  let ready: string[] = [];
  while (Date.now() < deadline) {
    const r = kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'], { allowFail: true });
    ready = r.stdout.split('\n').filter((l) => l.endsWith('=True')).map((l) => l.split('=')[0]!);
    if (site.spec.nodes.every((n) => ready.includes(n.name))) break;
    await sleep(5000);
  }
  const lastPowerOn = Math.max(...Object.values(powerOn));
  const allReadyS = (Date.now() - lastPowerOn) / 1000;
  check('every node Ready', site.spec.nodes.every((n) => ready.includes(n.name)), `ready: ${ready.join(', ') || 'none'}; ${allReadyS.toFixed(0)} s after the last power-on`);

  const serial = (n: string) => (existsSync(join(work, `serial-${n}.log`)) ? readFileSync(join(work, `serial-${n}.log`), 'utf8') : '');
  for (let i = 0; i < 60 && !site.spec.nodes.every((n) => serial(n.name).includes('first boot complete')); i++) await sleep(5000);
  for (const n of site.spec.nodes) check(`${n.name}: first boot complete`, serial(n.name).includes(`kubeseed[${n.name}] node ${n.name} is Ready; first boot complete`));

  // A DaemonSet of the payload's own image, pulls forbidden: every node runs a pod from the payload.
  const ds = { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'e2e-probe', namespace: 'default' }, spec: { selector: { matchLabels: { app: 'e2e-probe' } }, template: { metadata: { labels: { app: 'e2e-probe' } }, spec: { tolerations: [{ operator: 'Exists' }], containers: [{ name: 'p', image: 'registry.k8s.io/pause:3.2', imagePullPolicy: 'Never' }] } } } };
  kubectl(['apply', '-f', '-'], { input: JSON.stringify(ds), allowFail: true });
  let running: string[] = [];
  for (let i = 0; i < 60; i++) {
    const r = kubectl(['get', 'pods', '-l', 'app=e2e-probe', '-o', 'jsonpath={range .items[*]}{.spec.nodeName}={.status.phase}={.status.podIP}{"\\n"}{end}'], { allowFail: true });
    running = r.stdout.split('\n').filter((l) => l.includes('=Running=')).map((l) => l.split('=')[0]!);
    if (site.spec.nodes.every((n) => running.includes(n.name))) break;
    await sleep(5000);
  }
  check('a payload image runs on every node', site.spec.nodes.every((n) => running.includes(n.name)), `running on: ${running.join(', ') || 'none'}`);
  const pulls = kubectl(['get', 'pods', '-A', '-o', 'jsonpath={range .items[*]}{range .status.containerStatuses[*]}{.state.waiting.reason}{"\\n"}{end}{end}'], { allowFail: true }).stdout;
  check('no pod waits on an image pull', !/ErrImagePull|ImagePullBackOff/.test(pulls));

  const steps: Record<string, Record<string, number>> = {};
  for (const n of site.spec.nodes) {
    steps[n.name] = Object.fromEntries([...serial(n.name).matchAll(/kubeseed\[[^\]]+\] step \d+\/\d+ ([a-z-]+): done in (\d+) s/g)].map((m) => [m[1]!, Number(m[2])]));
  }
  const report = { site: site.metadata.name, nodes: site.spec.nodes.length, order: values.reverse ? 'reverse' : 'normal', late: values.late ?? null, lastPowerOnToAllReadySeconds: Math.round(allReadyS), stepSeconds: steps, checks: results };
  writeFileSync(join(work, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
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

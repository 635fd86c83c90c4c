import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { DIST } from '../../../generator/pack/dist-layout.js';
import { FILES, NETWORK_LEFTOVERS, NODE, NODE_FILES } from '../../../generator/model/layout.js';
import type { WrittenNode, WrittenSite } from '../../../generator/site/index.js';
import { parseRecord, type DeliveryRecord } from '../../../generator/update/record.js';
import { cliPath, fixtureCache } from '../../helpers.js';
import type { Machines } from './boot.js';
import { hostOf, pollUntil, run, sleep, type E2eRun } from './context.js';
import { applyOver } from './day2.js';

/**
 * `--day2 add-worker` on a running site (issue #22): the run's site with one more worker, `gen
 * bundle` on the same state, the other nodes' delivery records checked (no update; on a `bridge`
 * site only the static route to the new node's pod subnet, applied over ssh), the new node booted
 * from its seed like the others and checked Ready with a pod on it. Then `kubeseed-reset` on it:
 * rules and interfaces checked over ssh, the node powered off and its disk read for anything of
 * kubeseed's left, and the node installed again from the same seed (`cloud-init clean`, as the
 * README says) and checked Ready again.
 */

/** The one file a `bridge` site's other nodes get when a node joins (docs/decisions.md). */
const ROUTES_UNIT = `${NODE.units}/kubeseed-routes.service`;

/** The next worker of a site: the last node's network, the next address, name and MAC. */
export function nextWorker(site: WrittenSite): WrittenNode {
  const last = site.spec.nodes[site.spec.nodes.length - 1]!;
  const [ip, prefix] = last.address.split('/') as [string, string];
  const octets = ip.split('.').map(Number);
  const taken = new Set(site.spec.nodes.map((n) => hostOf(n)));
  do octets[3]! += 1;
  while (taken.has(octets.join('.')));
  const name = last.name.replace(/(\d+)$/, (d) => String(Number(d) + 1).padStart(d.length, '0'));
  const node: WrittenNode = { ...structuredClone(last), name, address: `${octets.join('.')}/${prefix}`, roles: ['worker'] };
  if (last.mac) {
    const bytes = last.mac.split(':');
    bytes[5] = (parseInt(bytes[5]!, 16) + 1).toString(16).padStart(2, '0');
    node.mac = bytes.join(':');
  }
  return node;
}

const readRecord = (r: E2eRun): DeliveryRecord => {
  const rec = parseRecord(readFileSync(join(r.dist, '..', 'state', 'delivered.json'), 'utf8'));
  if ('invalid' in rec) throw new Error(`delivered.json ${rec.invalid}`);
  return rec;
};

const nodeReady = (r: E2eRun, name: string) =>
  r.kubectl(['get', 'node', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], { allowFail: true }).stdout.trim() === 'True';

/** The e2e-web DaemonSet's pod on a node, when it runs and is ready: name and IP. */
function webPod(r: E2eRun, node: string): { name: string; ip: string } | null {
  const out = r
    .kubectl(
      [
        'get',
        'pods',
        '-l',
        'app=e2e-web',
        '--field-selector',
        `spec.nodeName=${node}`,
        '-o',
        'jsonpath={range .items[*]}{.metadata.name}={.status.podIP}={.status.phase}={.status.containerStatuses[*].ready}{"\\n"}{end}',
      ],
      { allowFail: true },
    )
    .stdout.trim()
    .split('\n')
    .map((l) => l.split('='))
    .find((f) => f[2] === 'Running' && f[3] === 'true');
  return out ? { name: out[0]!, ip: out[1]! } : null;
}

/** A file or directory of an ext4 image exists (debugfs finds its inode). */
const onDisk = (image: string, path: string) => /Inode:/.test(spawnSync('debugfs', ['-R', `stat ${path}`, image], { encoding: 'utf8' }).stdout);
/** The names in a directory of an ext4 image, without . and .. */
const namesIn = (image: string, path: string) =>
  [...spawnSync('debugfs', ['-R', `ls -p ${path}`, image], { encoding: 'utf8' }).stdout.matchAll(/^\/\d+\/\d+\/\d+\/\d+\/([^/]*)\//gm)]
    .map((m) => m[1]!)
    .filter((n) => n !== '.' && n !== '..');
const catOn = (image: string, path: string) => spawnSync('debugfs', ['-R', `cat ${path}`, image], { maxBuffer: 1 << 26 }).stdout;

/** Directories whose new entries (against the stock image) would be kubeseed's, and the names that would be. */
const SCANNED: { dir: string; ours: RegExp }[] = [
  { dir: NODE.bin, ours: /./ },
  { dir: NODE.sbin, ours: /./ },
  // The OS packages' own units are enabled here too (kept: --purge-packages removes them).
  { dir: NODE.units, ours: /kube|etcd|containerd|cni|seed/ },
  { dir: `${NODE.units}/multi-user.target.wants`, ours: /kube|etcd|containerd|cni|seed/ },
  { dir: '/opt', ours: /./ },
  { dir: '/etc', ours: /kube|cni|containerd|crictl|etcd|seed/ },
  { dir: '/etc/sysctl.d', ours: /./ },
  { dir: '/etc/modules-load.d', ours: /./ },
  { dir: '/var/lib', ours: /kube|cni|containerd|etcd|seed|calico|flannel/ },
  { dir: '/var/log', ours: /kube|pods|containers|etcd|calico/ },
  { dir: NODE.copies, ours: /kube|seed|node-files/ },
];
/** Kept by `kubeseed-reset --yes` on purpose (README: `--all` also removes it). */
const KEPT_WITHOUT_ALL: string[] = [NODE.containerdRoot, NODE.containerdOpt];

export async function checkDay2AddWorker(r: E2eRun, machines: Machines, runSite: string, artifacts: string): Promise<void> {
  const site = parse(readFileSync(runSite, 'utf8')) as WrittenSite;
  const worker = nextWorker(site);
  const old = site.spec.nodes.map((n) => n.name);
  site.spec.nodes.push(worker);
  const grownSite = join(r.work, 'site-add-worker.yaml');
  writeFileSync(grownSite, stringify(site));
  r.log(`day2 add-worker: ${worker.name} ${worker.address} ${worker.mac ?? ''}`);

  const before = readRecord(r);
  const b = spawnSync(process.execPath, [cliPath, 'bundle', '--site', grownSite, '--artifacts', artifacts, '--json'], { cwd: r.work, encoding: 'utf8' });
  let out: { nodes?: string[]; nodeUpdates?: string[] } = {};
  try {
    out = JSON.parse(b.stdout) as typeof out;
  } catch {
    /* reported below */
  }
  r.check(
    `day2 add-worker: gen bundle with ${worker.name} writes its seed`,
    b.status === 0 && Boolean(out.nodes?.includes(worker.name)),
    b.stderr.trim().split('\n').slice(-2).join('; '),
  );
  if (b.status !== 0) return;

  // What each other node's record says changed: on a bridge site, the route unit alone.
  const after = readRecord(r);
  const allowed = site.spec.network.plugin === 'bridge' ? [ROUTES_UNIT] : [];
  const changed = old.map((n) => {
    const was = before.nodes[n]?.files ?? {};
    const now = after.nodes[n]?.files ?? {};
    const paths = [...new Set([...Object.keys(was), ...Object.keys(now)])].filter((p) => was[p]?.sha256 !== now[p]?.sha256 || was[p]?.mode !== now[p]?.mode);
    return { node: n, paths };
  });
  r.check(
    `day2 add-worker: the other nodes get no update${allowed.length ? ' but the route to the new pod subnet (bridge)' : ''} (delivery record)`,
    changed.every((c) => c.paths.every((p) => allowed.includes(p))) &&
      (out.nodeUpdates ?? []).every((n) => old.includes(n)) &&
      !out.nodeUpdates?.includes(worker.name),
    changed.map((c) => `${c.node}: ${c.paths.join(', ') || 'nothing'}`).join('; ') + `; updates for ${out.nodeUpdates?.join(', ') || 'none'}`,
  );
  for (const n of site.spec.nodes.filter((x) => out.nodeUpdates?.includes(x.name))) {
    const t = join(r.dist, DIST.updateTarball(n.name, after.revision));
    const a = applyOver(r, n, t);
    r.check(`day2 add-worker: ${n.name}: its update applied`, a.code === 0, a.out.split('\n').slice(-2).join('; '));
  }

  // The new node boots from its seed and the bundle's payload, on the next tap.
  const tap = old.length;
  const tBoot = Date.now();
  machines.boot(worker, tap);
  const ready = await pollUntil(r.opts.timeoutS * 1000, () => nodeReady(r, worker.name));
  const readyS = (Date.now() - tBoot) / 1000;
  r.check(`day2 add-worker: ${worker.name} Ready`, ready, `${readyS.toFixed(0)} s after its power-on`);
  await pollUntil(900_000, () => webPod(r, worker.name) !== null);
  const pod = webPod(r, worker.name);
  const podS = (Date.now() - tBoot) / 1000;
  r.check(
    `day2 add-worker: a pod scheduled and Running on ${worker.name}`,
    pod !== null,
    pod ? `${pod.name} ${pod.ip}; ${podS.toFixed(0)} s after power-on` : 'none',
  );
  const peer = webPod(r, old[0]!);
  if (pod && peer) {
    let got = '';
    for (let i = 0; i < 5 && got !== pod.name; i++)
      got = r.kubectl(['exec', peer.name, '--', 'timeout', '10', 'wget', '-q', '-O', '-', `http://${pod.ip}:8080/`], { allowFail: true }).stdout.trim();
    r.check(`day2 add-worker: ${old[0]}'s pod reaches the pod on ${worker.name}`, got === pod.name, `got '${got}'`);
  }

  await resetAndReinstall(r, machines, worker, tap);
}

/**
 * `kubeseed-reset --yes` on the new worker, what it leaves checked over ssh (rules, IPVS, interfaces,
 * mounts) and, powered off, on its disk; then `cloud-init clean`'s reinstall from the same seed.
 */
async function resetAndReinstall(r: E2eRun, machines: Machines, worker: WrittenNode, tap: number): Promise<void> {
  // What the install laid down, as the node lists it, before reset takes the lists away.
  const lists = r.ssh(
    worker,
    `sed 's/^[0-9a-f]*  /\\//' ${NODE_FILES.list}; cat ${FILES.installed}; echo '#originals'; cd ${FILES.originals} && find . -type f ! -name .kept ! -name .created -exec sha256sum {} +`,
  ).stdout;
  const [laid = '', kept = ''] = lists.split('#originals\n');
  const nodeList = laid.split('\n').filter((p) => p.startsWith('/'));
  // Host files the install replaced: path → sha256 of the copy reset puts back.
  const restored = new Map([...kept.matchAll(/^([0-9a-f]{64}) {2}\.(\/\S+)$/gm)].map((m) => [m[2]!, m[1]!]));
  const installed = [...new Set(laid.split('\n').filter((p) => p.startsWith('/')))].filter((p) => !restored.has(p));

  const before = liveState(r, worker);
  const tReset = Date.now();
  const reset = r.ssh(worker, `${FILES.reset} --yes; echo "reset-exit=$?"`, true, 60, 600);
  const resetS = (Date.now() - tReset) / 1000;
  r.check(
    `day2 reset: kubeseed-reset --yes on ${worker.name}`,
    /reset-exit=0/.test(reset.stdout) && /holds nothing of kubeseed's/.test(reset.stdout),
    `${resetS.toFixed(0)} s; ${(reset.stdout + reset.stderr).trim().split('\n').slice(-2).join('; ')}`,
  );
  // Not on the disk: the kernel's rules, virtual servers, interfaces and mounts, read the same way before and after.
  const after = liveState(r, worker);
  r.check(
    `day2 reset: ${worker.name}: no kube-proxy or CNI rule, IPVS service, interface, mount or running unit left (over ssh)`,
    Number(before.rules) > 0 &&
      after.rules === '0' &&
      after.ipvs === '0' &&
      after.links === '' &&
      after.mounts === '0' &&
      after.units === '' &&
      after.slices === '',
    `after (before) reset: iptables rules ${after.rules} (${before.rules}), IPVS services ${after.ipvs} (${before.ipvs}), interfaces '${after.links}' ('${before.links}'), mounts ${after.mounts} (${before.mounts}), active services '${after.units}' ('${before.units}'), pod slices '${after.slices}' ('${before.slices}'); until the next boot: static routes ${after.routes}, tunl0 ${after.tunl0}`,
  );

  // The README's reinstall from a seed: cloud-init runs a seed once per instance.
  r.ssh(worker, 'cloud-init clean');
  machines.rebooting.add(worker.name);
  const down = new Promise<boolean>((done) => {
    const p = machines.process(worker.name)!;
    if (p.exitCode !== null || p.signalCode !== null) return done(true);
    const timer = setTimeout(() => done(false), 300_000);
    p.once('exit', () => {
      clearTimeout(timer);
      done(true);
    });
  });
  r.ssh(worker, 'systemctl poweroff');
  if (!(await down)) {
    r.check(`day2 reset: ${worker.name} powers off`, false, 'QEMU still running 300 s after systemctl poweroff');
    return;
  }
  await sleep(1000);
  checkResetDisk(r, machines, worker, nodeList, installed, restored);

  const serialFrom = r.serial(worker.name).length;
  const tReinstall = Date.now();
  machines.boot(worker, tap);
  machines.rebooting.delete(worker.name);
  const again = await pollUntil(r.opts.timeoutS * 1000, () => {
    const done = r.serial(worker.name).slice(serialFrom).includes(`kubeseed[${worker.name}] node ${worker.name} is Ready; first boot complete`);
    return done && nodeReady(r, worker.name) && webPod(r, worker.name) !== null;
  });
  const againS = (Date.now() - tReinstall) / 1000;
  r.check(
    `day2 reset: ${worker.name} installed again from its seed: first boot complete, Ready, its pod Running`,
    again,
    `${againS.toFixed(0)} s after power-on; reset took ${resetS.toFixed(0)} s`,
  );
}

/** What a node's kernel and systemd hold of kubeseed's: counts and names, by field. */
function liveState(r: E2eRun, n: WrittenNode): Record<'rules' | 'ipvs' | 'links' | 'mounts' | 'units' | 'slices' | 'routes' | 'tunl0', string> {
  // tunl0 is the ipip module's fallback device: the kernel makes it with the module and refuses to delete it; it goes with the module at the next boot.
  const links = NETWORK_LEFTOVERS.interfaces.filter((l) => l !== 'tunl0');
  const out = r.ssh(
    n,
    [
      `echo "rules $( (iptables-save; ip6tables-save) 2>/dev/null | grep -cE 'KUBE-|CNI-|FLANNEL|cali[:-]')"`,
      `echo "ipvs $(grep -cE '^(TCP|UDP|SCTP)' /proc/net/ip_vs 2>/dev/null)"`,
      `echo "links $(for l in ${links.join(' ')}; do ip link show $l >/dev/null 2>&1 && printf '%s ' $l; done)"`,
      `echo "tunl0 $(ip link show tunl0 >/dev/null 2>&1 && echo present || echo absent)"`,
      `echo "mounts $(findmnt -rn -o TARGET | grep -cE '^(${NODE.kubeletDir}|${NODE.containerdState}|${NODE.opt}|${NETWORK_LEFTOVERS.netns})')"`,
      `echo "units $(systemctl list-units --all --no-legend --plain --type=service 'kube*' etcd.service containerd.service 2>/dev/null | awk '$3=="active"{printf "%s ",$1}')"`,
      // The kubelet's cgroups (systemd cgroup driver): transient slices, on no disk.
      `echo "slices $(systemctl list-units --all --no-legend --plain --type=slice 'kubepods*' 2>/dev/null | awk '$3=="active"{printf "%s ",$1}')"`,
      `echo "routes $(ip route | grep -v '^default' | grep -c ' via ')"`,
    ].join('\n'),
  ).stdout;
  const field = (k: string) => new RegExp(`^${k} (.*)$`, 'm').exec(out)?.[1]?.trim() ?? '?';
  return {
    rules: field('rules'),
    ipvs: field('ipvs'),
    links: field('links'),
    mounts: field('mounts'),
    units: field('units'),
    slices: field('slices'),
    routes: field('routes'),
    tunl0: field('tunl0'),
  };
}

/** The powered-off disk against what the install laid down and against the stock image. */
function checkResetDisk(r: E2eRun, machines: Machines, worker: WrittenNode, laid: string[], installed: string[], restored: Map<string, string>): void {
  const base = join(fixtureCache, 'guest-bookworm', 'disk.img');
  const raw = join(r.work, `${worker.name}-reset.raw`);
  run('qemu-img', ['convert', '-O', 'raw', machines.disk(worker.name), raw]);
  run('e2fsck', ['-y', '-E', 'journal_only', raw], { allowFail: true });
  try {
    const expectedGone = [
      ...installed,
      FILES.reset,
      FILES.status,
      FILES.firstbootWants,
      NODE_FILES.copied,
      NODE.config,
      NODE.kubernetes,
      NODE.kubeletDir,
      NODE.kubeProxyDir,
      NODE.etcdData,
      NODE.logDir,
      NODE.cniConf,
      NODE.cniState,
      NODE.opt,
      NODE.state,
      NODE.containerdCertsDir,
      ...NETWORK_LEFTOVERS.dirs,
    ];
    const present = expectedGone.filter((p) => onDisk(raw, p));
    // Anything new beside the stock image's entries in the directories an install writes to.
    const extra: string[] = [];
    for (const s of SCANNED) {
      const was = new Set(namesIn(base, s.dir));
      for (const name of namesIn(raw, s.dir)) {
        const path = `${s.dir}/${name}`.replace(/^\/\//, '/');
        if (!was.has(name) && s.ours.test(name) && !KEPT_WITHOUT_ALL.includes(path) && !present.includes(path)) extra.push(path);
      }
    }
    r.check(
      `day2 reset: ${worker.name}'s disk holds no kubeseed unit, file, binary, config, key or CNI state (read powered off)`,
      present.length === 0 && extra.length === 0,
      `${expectedGone.length} paths checked gone (${installed.length} from the node's lists), ${SCANNED.length} directories compared with the stock image; left: ${[...present, ...extra].join(', ') || 'none'}; kept without --all: ${KEPT_WITHOUT_ALL.filter((p) => onDisk(raw, p)).join(', ') || 'none'}`,
    );
    // The stock image's own files among the node's: kept by the install and put back by reset, byte for byte.
    const differ = [...restored].filter(([p, sum]) => createHash('sha256').update(catOn(raw, p)).digest('hex') !== sum).map(([p]) => p);
    const onImage = laid.filter((p) => onDisk(base, p));
    const notKept = onImage.filter((p) => !restored.has(p));
    r.check(
      `day2 reset: ${worker.name}: the host files the install replaced are back as they were before it`,
      differ.length === 0 && notKept.length === 0,
      `${laid.length} node files, ${onImage.length} of them on the stock image (${onImage.join(', ') || 'none'}); kept and put back: ${[...restored.keys()].join(', ') || 'none'}${differ.length ? `; differ: ${differ.join(', ')}` : ''}${notKept.length ? `; never kept: ${notKept.join(', ')}` : ''}`,
    );
  } finally {
    rmSync(raw, { force: true });
  }
}

import test, { type ExecutionContext } from 'ava';
import { execFile as execFileCb, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FILES, installTarget, KUBECONFIG, NODE, NODE_FILES, payloadName, pkiPath } from '../../generator/model/layout.js';
import { DIST } from '../../generator/pack/dist-layout.js';
import type { ArtifactFile } from '../../generator/pack/payload.js';
import { packUpdates } from '../../generator/pack/update.js';
import { readTemplates } from '../../generator/io/templates.js';
import { buildPlan } from '../../generator/plan/index.js';
import { createEngine } from '../../generator/text/template.js';
import { computeUpdates, nodeArtifacts } from '../../generator/update/compute.js';
import { fixtureStateDir, renderLab1 } from '../goldens.js';
import { fixtureCache, readRepo, repoRoot, runCli } from '../helpers.js';
import { kubeadmMode, siteFromLab1, type SiteEdit } from '../sites.js';
import { modeHashTree, sha256 as hashOf } from '../tree.js';
import { olderRelease, renderedNodes } from '../update-scenarios.js';

/**
 * An update bundle applied for real: node k8s-02 of lab1 installed from its tarball into a copy of
 * the Debian chroot fixture, then `gen certs --renew` + `gen bundle` and the node's update applied
 * twice (the second time a no-op), a tampered update refused before it installs anything, a later
 * update (a blueprint change) applied, and the older one refused. systemctl, kubectl and etcdctl are
 * stand-ins that log what they are asked; the kubelet's /healthz is a real HTTP server on the
 * loopback, read by the script's /dev/tcp check; the hostname is set in a UTS namespace of its own.
 */

const execFile = promisify(execFileCb);
const CHROOT = join(fixtureCache, 'chroot-bookworm');
const NODE_NAME = 'k8s-02';
const dir = mkdtempSync(join(tmpdir(), 'kubeseed-update-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const tree = modeHashTree;

/** What a run changed on the node, but for what apply keeps for kubeseed-rollback (the upgrade test checks that). */
const bookkeeping = (p: string) => p.startsWith(`${FILES.rollbackDir}/`) || p === FILES.rollback || p === FILES.installed;
const gained = (before: Map<string, string>, after: Map<string, string>) =>
  new Map([...after].filter(([p, v]) => before.get(p) !== v && !p.startsWith('/srv/') && !p.startsWith('/tmp/') && !bookkeeping(p)));

/** Tools the node would have, as stand-ins that append their arguments to a log. */
function standIns(root: string): void {
  const tools: Record<string, string> = {
    '/usr/bin/systemctl': 'systemctl',
    [installTarget('kubectl')]: 'kubectl',
    [`${installTarget('etcd')}/etcdctl`]: 'etcdctl',
  };
  for (const [path, name] of Object.entries(tools)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), `#!/bin/sh\necho "${name} $*" >>/tools.log\n`);
    chmodSync(join(root, path), 0o755);
  }
}

/**
 * containerd's ctr as a stand-in for kubeadm's static pods: each container name has one running
 * container, whose id changes once its task was killed (the kubelet starting a new one).
 */
const CTR = `#!/bin/sh
echo "ctr $*" >>/tools.log
n() { cat "/ctr-$1" 2>/dev/null || echo 0; }
case "$3 $4" in
  "containers ls")
    name=$(echo "$*" | sed -n 's/.*==\\([a-z-]*\\)$/\\1/p')
    echo "id-$name-$(n "$name")" ;;
  "tasks ls")
    echo "TASK PID STATUS"
    for name in etcd kube-apiserver kube-controller-manager kube-scheduler; do echo "id-$name-$(n "$name") 1 RUNNING"; done ;;
  "tasks kill")
    name=\${7#id-}; name=\${name%-*}
    echo $(( $(n "$name") + 1 )) >"/ctr-$name" ;;
esac
`;

/** Runs an update's apply in the chroot as host NODE_NAME (or `host`); returns its exit code and output. */
async function apply(root: string, tarball: string, tamper?: (unpacked: string) => void, host = NODE_NAME) {
  const srv = join(root, 'srv', 'update');
  rmSync(srv, { recursive: true, force: true });
  mkdirSync(srv, { recursive: true });
  execFileSync('tar', ['-xzpf', tarball, '-C', srv]);
  const name = readdirOne(srv);
  tamper?.(join(srv, name));
  return inChroot(root, host, `/srv/update/${name}/apply`);
}

/**
 * Runs a command in the chroot as host `host`, without blocking this process: the kubelet's /healthz
 * stand-in is served from here, and a synchronous spawn would leave it unanswered.
 */
async function inChroot(root: string, host: string, command: string): Promise<{ code: number; out: string; stdout: string }> {
  try {
    const r = await execFile('unshare', ['--uts', 'chroot', root, '/bin/bash', '-c', `hostname ${host} && ${command}`], { encoding: 'utf8' });
    return { code: 0, out: r.stdout + r.stderr, stdout: r.stdout };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout + x.stderr, stdout: x.stdout };
  }
}

function readdirOne(d: string): string {
  const names = execFileSync('ls', [d], { encoding: 'utf8' }).trim().split('\n');
  if (names.length !== 1) throw new Error(`expected one directory in ${d}: ${names.join(', ')}`);
  return names[0]!;
}

/** A copy of the test state and a blueprint in the run's directory, and gen bound to them (each call must exit 0). */
function workspace(t: ExecutionContext, suffix: string, siteText: string) {
  const state = join(dir, `state${suffix}`);
  cpSync(fixtureStateDir, state, { recursive: true });
  const out = join(dir, `out${suffix}`);
  const site = join(dir, `lab1${suffix}.yaml`);
  writeFileSync(site, siteText);
  const gen = (...args: string[]) => {
    const r = runCli([...args, '--site', site, '--state', state]);
    t.is(r.code, 0, `gen ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  return { out, site, gen, bundle: () => gen('bundle', '--out', out, '--skip-payload'), dist: join(out, 'lab1', 'dist') };
}

/** Installs `host`'s node tarball into the chroot as an operator would, with a stand-in payload beside it (install.sh places it for first boot; nothing here reads it). */
function installNode(root: string, dist: string, host: string): void {
  rmSync(join(root, 'srv', 'node'), { recursive: true, force: true });
  mkdirSync(join(root, 'srv', 'node'), { recursive: true });
  execFileSync('tar', ['-xzpf', join(dist, DIST.tarball(host)), '-C', join(root, 'srv', 'node')]);
  writeFileSync(join(root, 'srv', 'node', 'payload-0123456789abcdef.tar'), 'stand-in payload\n');
  execFileSync('chroot', [root, '/bin/sh', `/srv/node/${host}/install.sh`]);
}

const toolsLog = (root: string) => (existsSync(join(root, 'tools.log')) ? readFileSync(join(root, 'tools.log'), 'utf8') : '');

test.serial(
  'an update applies exactly the changed files, restarts the units in order, is a no-op the second time; a tampered one installs nothing; an older one is refused',
  async (t) => {
    t.timeout(600_000);
    t.true(existsSync(join(CHROOT, 'bin', 'bash')), `no chroot fixture at ${CHROOT}: run scripts/fixtures/build-chroot.sh`);
    const { out, site, gen, bundle, dist } = workspace(t, '', readRepo('blueprints/sites/lab1.yaml'));
    const keep = (rev: number) => {
      const kept = join(dir, `${NODE_NAME}-rev${rev}.tar.gz`);
      cpSync(join(dist, DIST.updateTarball(NODE_NAME, rev)), kept);
      return kept;
    };

    // Revision 1: the first bundle records the site and has no update; the node installs from its tarball.
    bundle();
    t.false(existsSync(join(dist, DIST.applyUpdates)));
    t.is((JSON.parse(readFileSync(join(dist, DIST.manifest), 'utf8')) as { revision: number }).revision, 1);
    const root = join(dir, 'root');
    execFileSync('cp', ['-a', CHROOT, root]);
    standIns(root);
    installNode(root, dist, NODE_NAME);
    t.regex(toolsLog(root), /^systemctl start --no-block kubeseed-firstboot.service$/m);
    rmSync(join(root, 'tools.log'));

    // Revision 2: every leaf certificate renewed.
    gen('certs', '--renew');
    const b2 = bundle();
    t.regex(b2.stdout, /site revision 2; node updates for k8s-01, k8s-02, k8s-03/);
    const rev2 = keep(2);
    const summary = readFileSync(join(dist, DIST.updateSummary(NODE_NAME, 2)), 'utf8');
    const listed = [...summary.matchAll(/^ {2}change +(0\d{3}) (\S+)$/gm)].map((m) => ({ mode: m[1]!, path: m[2]! }));
    t.true(listed.length >= 18, summary);
    const sh = execFileSync('sh', ['-c', `tar -xzOf ${rev2} ${NODE_NAME}-rev2/apply | shellcheck --shell=bash --severity=style - && echo ok`], {
      encoding: 'utf8',
    });
    t.is(sh.trim(), 'ok');
    const all = spawnSync('shellcheck', ['-s', 'sh', join(dist, DIST.applyUpdates)], { encoding: 'utf8' });
    t.is(all.status, 0, all.stdout);
    // etcd members first: all three are, so by name.
    t.deepEqual(
      [...readFileSync(join(dist, DIST.applyUpdates), 'utf8').matchAll(/^if wanted '([^']+)'/gm)].map((m) => m[1]),
      ['k8s-01', 'k8s-02', 'k8s-03'],
    );

    // The kubelet's /healthz, as the script reads it.
    let healthz = 0;
    const server = createServer((_req, res) => {
      healthz++;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(10248, '127.0.0.1', resolve));
    try {
      // A tampered file: refused before anything is installed.
      let before = tree(root);
      const tampered = await apply(root, rev2, (u) => writeFileSync(join(u, 'files', pkiPath('apiserver.crt')), 'not the certificate\n'));
      t.is(tampered.code, 1, tampered.out);
      t.regex(tampered.out, /does not match its sha256 .*nothing was installed/);
      t.deepEqual([...gained(before, tree(root)).keys()], [], 'nothing changed on the node');

      // First run: exactly the changed files, with their modes; the units restarted in order.
      before = tree(root);
      const first = await apply(root, rev2);
      t.is(first.code, 0, first.out);
      const got = gained(before, tree(root));
      const expected = new Map(listed.map((f) => [f.path, f.mode]));
      for (const [p, mode] of expected) t.is(got.get(p)?.split(' ')[0], mode, p);
      t.deepEqual([...got.keys()].filter((p) => !expected.has(p)).sort(), ['/tools.log', FILES.revision].sort());
      t.is(readFileSync(join(root, FILES.revision), 'utf8'), '2\n');
      t.false(existsSync(join(root, FILES.updatePending)));
      const log = toolsLog(root);
      const restarts = [...log.matchAll(/^systemctl restart (\S+)$/gm)].map((m) => m[1]);
      t.deepEqual(restarts, ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy']);
      t.notRegex(log, /daemon-reload/, 'no unit file changed');
      t.regex(log, new RegExp(`^etcdctl .*--cert=${pkiPath('etcd/healthcheck-client.crt')}.* endpoint health$`, 'm'));
      t.regex(log, new RegExp(`^kubectl --kubeconfig ${KUBECONFIG.kubelet} --server https://127.0.0.1:\\d+ .*get --raw /readyz$`, 'm'));
      t.true(healthz >= 1, 'the kubelet health check asked /healthz');
      // etcd waited for before the apiserver restarted.
      t.true(log.indexOf('etcdctl') < log.indexOf('systemctl restart kube-apiserver'));

      // Second run: a no-op.
      before = tree(root);
      rmSync(join(root, 'tools.log'));
      const second = await apply(root, rev2);
      t.is(second.code, 0, second.out);
      t.regex(second.out, /already at site revision 2: nothing to do/);
      t.deepEqual([...gained(before, tree(root)).keys()], []);
      t.is(toolsLog(root), '');

      // Revision 3: a blueprint change (a second NTP server) reaches chrony's config alone.
      writeFileSync(site, readRepo('blueprints/sites/lab1.yaml').replace('ntpServers: [192.168.93.1]', 'ntpServers: [192.168.93.1, 192.168.93.2]'));
      bundle();
      const rev3 = keep(3);
      // --node rewrites one node inside the bundle: the others' updates stay, byte for byte, and apply-updates.sh still names all three.
      const one = gen('bundle', '--out', out, '--skip-payload', '--node', 'k8s-01');
      t.regex(one.stdout, /site revision 3; node updates for k8s-01 /);
      t.deepEqual(readFileSync(join(dist, DIST.updateTarball(NODE_NAME, 3))), readFileSync(rev3));
      t.is([...readFileSync(join(dist, DIST.applyUpdates), 'utf8').matchAll(/^if wanted /gm)].length, 3);
      before = tree(root);
      const third = await apply(root, rev3);
      t.is(third.code, 0, third.out);
      t.deepEqual([...gained(before, tree(root)).keys()].sort(), ['/etc/chrony/chrony.conf', '/tools.log', FILES.revision].sort());
      t.regex(toolsLog(root), /^systemctl restart chrony$/m);

      // The older update: refused, naming both revisions, nothing touched.
      before = tree(root);
      const older = await apply(root, rev2);
      t.is(older.code, 1, older.out);
      t.regex(older.out, /the node is at site revision 3; this update is revision 2, older: refused/);
      t.deepEqual([...gained(before, tree(root)).keys()], []);
    } finally {
      server.close();
    }
    t.true(existsSync(join(root, NODE.state)));
  },
);

test.serial(
  'a newer node tarball (or seed) on a running node: first boot installs what changed since the list it last installed and restarts those units only, then is quiet',
  (t) => {
    t.timeout(600_000);
    t.true(existsSync(join(CHROOT, 'bin', 'bash')), `no chroot fixture at ${CHROOT}: run scripts/fixtures/build-chroot.sh`);
    const { site, bundle, dist } = workspace(t, '-seed', readRepo('blueprints/sites/lab1.yaml'));
    const root = join(dir, 'root-seed');
    execFileSync('cp', ['-a', CHROOT, root]);
    standIns(root);
    const install = () => installNode(root, dist, NODE_NAME);
    // first boot's functions and its check for a newer list, without the steps (they need a real host).
    const firstboot = () => {
      const text = readFileSync(join(root, FILES.firstboot), 'utf8');
      writeFileSync(join(root, 'fb.sh'), text.slice(0, text.indexOf('\nrun_step ')));
      const r = spawnSync('chroot', [root, '/bin/bash', '/fb.sh'], { encoding: 'utf8' });
      t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
      return r.stdout;
    };

    bundle();
    install();
    // First boot's first step, as on a new node: it keeps the list it installed.
    const text = readFileSync(join(root, FILES.firstboot), 'utf8');
    writeFileSync(join(root, 'fb.sh'), `${text.slice(0, text.indexOf('\nif [[ -f "$STATE_DIR/steps/'))}\nunpack_node_files\n`);
    const r = spawnSync('chroot', [root, '/bin/bash', '/fb.sh'], { encoding: 'utf8' });
    t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
    t.is(readFileSync(join(root, NODE_FILES.installed), 'utf8'), readFileSync(join(root, NODE_FILES.list), 'utf8'));
    mkdirSync(join(root, NODE.state, 'steps'), { recursive: true });
    writeFileSync(join(root, NODE.state, 'steps', '1-unpack-node-files.done'), '1\n');
    t.notRegex(firstboot(), /differ/, 'nothing new: first boot is quiet');

    // A blueprint change reaches chrony's config; the newer tarball's install.sh lays every file down and starts first boot.
    writeFileSync(site, readRepo('blueprints/sites/lab1.yaml').replace('ntpServers: [192.168.93.1]', 'ntpServers: [192.168.93.1, 192.168.93.2]'));
    bundle();
    install();
    rmSync(join(root, 'tools.log'));
    const before = tree(root);
    const said = firstboot();
    t.regex(said, /the seed's node files differ from those installed: 1 to install, 0 to remove/);
    t.regex(said, /node files updated from the seed: 1 installed, 0 removed, 1 unit\(s\) restarted/);
    t.deepEqual(
      [...toolsLog(root).matchAll(/^systemctl restart (\S+)$/gm)].map((m) => m[1]),
      ['chrony'],
    );
    // install.sh laid chrony.conf down already; first boot only recorded the list and restarted chrony.
    t.deepEqual([...gained(before, tree(root)).keys()].sort(), ['/tools.log', NODE_FILES.installed].sort());
    t.is(readFileSync(join(root, NODE_FILES.installed), 'utf8'), readFileSync(join(root, NODE_FILES.list), 'utf8'));
    t.false(existsSync(join(root, FILES.updatePending)));

    // The next boot: nothing to do.
    rmSync(join(root, 'tools.log'));
    t.notRegex(firstboot(), /differ/);
    t.is(toolsLog(root), '');

    // As a newer seed delivers it: cloud-init writes only the list; the archive comes from the seed (here the copied one).
    writeFileSync(site, readRepo('blueprints/sites/lab1.yaml').replace('ntpServers: [192.168.93.1]', 'ntpServers: [192.168.93.3]'));
    bundle();
    const listed = execFileSync('tar', ['-xzOf', join(dist, DIST.tarball(NODE_NAME)), `${NODE_NAME}/${NODE_FILES.listName}`]);
    writeFileSync(join(root, NODE_FILES.list), listed);
    cpSync(join(dist, DIST.nodeFiles(NODE_NAME)), join(root, NODE_FILES.copied));
    const chrony = '/etc/chrony/chrony.conf';
    const stale = readFileSync(join(root, chrony), 'utf8');
    const seeded = firstboot();
    t.regex(seeded, /1 to install, 0 to remove/);
    t.not(readFileSync(join(root, chrony), 'utf8'), stale);
    t.regex(readFileSync(join(root, chrony), 'utf8'), /192\.168\.93\.3/);
    t.deepEqual(
      [...toolsLog(root).matchAll(/^systemctl restart (\S+)$/gm)].map((m) => m[1]),
      ['chrony'],
    );
  },
);

/** The serial of the client certificate a kubeconfig embeds. */
function kubeconfigSerial(path: string): string {
  const b64 = /client-certificate-data: (\S+)/.exec(readFileSync(path, 'utf8'))![1]!;
  return execFileSync('openssl', ['x509', '-noout', '-serial'], { input: Buffer.from(b64, 'base64'), encoding: 'utf8' }).trim();
}

test.serial(
  "kubeadm mode: a renewal's update restarts the static pods through containerd's ctr, in order, and the real kubeadm renews the kubeconfigs it wrote",
  async (t) => {
    t.timeout(600_000);
    t.true(existsSync(join(CHROOT, 'bin', 'bash')), `no chroot fixture at ${CHROOT}: run scripts/fixtures/build-chroot.sh`);
    const kubeadm = join(fixtureCache, 'kubernetes-v1.20.2', 'bin', 'kubeadm');
    t.true(existsSync(kubeadm), `no kubeadm at ${kubeadm}: run scripts/e2e/build-kubernetes.sh`);
    const host = 'k8s-01';
    const { site, gen, bundle, dist } = workspace(t, '-kubeadm', readRepo('blueprints/sites/lab1.yaml').replace(/^(\s+)mode: binary$/m, '$1mode: kubeadm'));
    bundle();
    const root = join(dir, 'root-kubeadm');
    execFileSync('cp', ['-a', CHROOT, root]);
    standIns(root);
    writeFileSync(join(root, installTarget('containerd'), 'ctr'), CTR);
    chmodSync(join(root, installTarget('containerd'), 'ctr'), 0o755);
    cpSync(kubeadm, join(root, installTarget('kubeadm')));
    installNode(root, dist, host);
    // What kubeadm init writes beside our files: its own kubeconfigs, signed by the cluster CA the node got.
    // admin.conf names the loopback: kubeadm's renewal asks the cluster for its configuration through it first and,
    // refused, uses its defaults. The advertise address (TEST-NET-1, refused as loopback) is only written, never dialled.
    execFileSync(
      kubeadm,
      ['init', 'phase', 'kubeconfig', 'all', '--apiserver-advertise-address', '192.0.2.10', '--control-plane-endpoint', '127.0.0.1:6443', '--rootfs', root],
      { stdio: 'ignore' },
    );
    const confs = ['admin.conf', 'controller-manager.conf', 'scheduler.conf'].map((c) => join(root, 'etc', 'kubernetes', c));
    const serialsBefore = confs.map(kubeconfigSerial);
    rmSync(join(root, 'tools.log'));

    gen('certs', '--renew');
    bundle();
    const rev2 = join(dist, DIST.updateTarball(host, 2));
    const sh = execFileSync('sh', ['-c', `tar -xzOf ${rev2} ${host}-rev2/apply | shellcheck --shell=bash --severity=style - && echo ok`], { encoding: 'utf8' });
    t.is(sh.trim(), 'ok');
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(10248, '127.0.0.1', resolve));
    try {
      const first = await apply(root, rev2, undefined, host);
      t.is(first.code, 0, first.out);
      const log = toolsLog(root);
      // The static pods stopped in the restart order (stacked etcd, the apiserver, the controllers), each waited for.
      t.deepEqual(
        [...log.matchAll(/^ctr -n k8s\.io tasks kill -s SIGTERM id-(\S+)-0$/gm)].map((m) => m[1]),
        ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'],
      );
      t.deepEqual(
        [...log.matchAll(/^systemctl restart (\S+)$/gm)].map((m) => m[1]),
        ['kubelet', 'kube-proxy'],
        'only host services through systemd',
      );
      t.true(log.indexOf('SIGTERM id-kube-apiserver') < log.indexOf('kubectl'), 'the apiserver waited for after its restart');
      t.regex(first.out, /kube-scheduler is healthy/);
      const serialsAfter = confs.map(kubeconfigSerial);
      serialsAfter.forEach((serial, i) => t.not(serial, serialsBefore[i], `${confs[i]} renewed`));

      rmSync(join(root, 'tools.log'));
      const second = await apply(root, rev2, undefined, host);
      t.is(second.code, 0, second.out);
      t.regex(second.out, /nothing to do/);
      t.is(toolsLog(root), '');

      // An addon more: the bootstrap node's cluster manifests change, and its update applies them with kubeadm's admin credential.
      // (A worker joining changes no other node's file, manifests included: test/integration/add-worker.test.ts.)
      writeFileSync(site, readFileSync(site, 'utf8').replace(/^(\s+addons: \[coredns, metrics-server)\]$/m, '$1, ingress-nginx]'));
      bundle();
      const third = await apply(root, join(dist, DIST.updateTarball(host, 3)), undefined, host);
      t.is(third.code, 0, third.out);
      t.regex(toolsLog(root), new RegExp(`^kubectl --kubeconfig ${KUBECONFIG.kubeadmAdmin} apply --recursive -f ${NODE.manifests}$`, 'm'));
    } finally {
      server.close();
    }
  },
);

/** A stand-in download of the payload: a script that says its component and version. */
type StandIn = (component: string, version: string) => string;
const sayVersion: StandIn = (component, version) => `#!/bin/sh\necho "${component} ${version}"\n`;

/**
 * lab1 (with `edits`) upgraded from the older release to its own, with stand-in downloads as the payload names them:
 * `host`'s update packed in the run's directory, and a copy of the chroot as the old release left the node (its
 * downloads installed as first boot installs them, the stand-in tools, first boot's record of the host's originals).
 */
async function upgradeOnNode(t: ExecutionContext, suffix: string, host: string, edits: SiteEdit[], standIn: StandIn = sayVersion) {
  const lab1 = await renderLab1();
  const names = lab1.site.nodes.map((n) => n.name);
  const oldSite = siteFromLab1(lab1.catalog, olderRelease, ...edits);
  const newSite = siteFromLab1(lab1.catalog, ...edits);
  const oldPlan = buildPlan(oldSite, lab1.catalog);
  const newPlan = buildPlan(newSite, lab1.catalog);

  // A binary as the stand-in script, an archive holding one.
  const payloadDir = join(dir, `payload${suffix}`);
  mkdirSync(payloadDir, { recursive: true });
  const payload = new Map<string, ArtifactFile>();
  for (const a of [...oldPlan.artifacts, ...newPlan.artifacts]) {
    const name = payloadName(a);
    if (payload.has(name)) continue;
    const file = join(payloadDir, name);
    if (a.format === 'binary') writeFileSync(file, standIn(a.component, a.version), { mode: 0o755 });
    else {
      const src = join(dir, `archive-src${suffix}`, a.component);
      mkdirSync(src, { recursive: true });
      writeFileSync(join(src, a.component), standIn(a.component, a.version), { mode: 0o755 });
      execFileSync('tar', ['-czf', file, '-C', src, a.component]);
      rmSync(src, { recursive: true });
    }
    payload.set(name, { name, source: file, sha256: hashOf(readFileSync(file)), size: readFileSync(file).length });
  }
  writeFileSync(join(payloadDir, 'images-amd64.oci.tar'), 'stand-in image archive: the same in both releases\n');
  payload.set('images-amd64.oci.tar', {
    name: 'images-amd64.oci.tar',
    source: join(payloadDir, 'images-amd64.oci.tar'),
    sha256: hashOf(readFileSync(join(payloadDir, 'images-amd64.oci.tar'))),
    size: 1,
  });
  const sum = (file: string) => payload.get(file)!.sha256;
  const nodes = async (site: typeof newSite, plan: typeof newPlan) =>
    (await renderedNodes(site, lab1.catalog, lab1.state)).map((n) => ({ ...n, artifacts: nodeArtifacts(plan, n.facts.node, sum) }));
  const before1 = computeUpdates(null, await nodes(oldSite, oldPlan), names);
  const up = computeUpdates(before1.record, await nodes(newSite, newPlan), names);
  const u = up.updates.find((x) => x.node === host)!;
  const engine = createEngine(await readTemplates(join(repoRoot, 'blueprints', 'templates')));
  const dist = join(dir, `upgrade-dist${suffix}`);
  mkdirSync(join(dist, 'nodes', host), { recursive: true });
  await packUpdates(dist, { site: newSite, plan: newPlan, payload: [...payload.values()], updates: [u], revision: up.revision, epoch: 0, engine });
  const tarball = join(dist, DIST.updateTarball(host, u.revision));
  const sh = spawnSync('sh', ['-c', `tar -xzOf ${tarball} ${host}-rev2/apply ; echo; tar -xzOf ${tarball} ${host}-rev2/rollback`], {
    encoding: 'utf8',
  });
  t.is(sh.status, 0);

  const root = join(dir, `root-upgrade${suffix}`);
  execFileSync('cp', ['-a', CHROOT, root]);
  standIns(root);
  for (const a of oldPlan.artifacts.filter((x) => x.nodes.includes(host))) {
    const src = payload.get(payloadName(a))!.source;
    mkdirSync(join(root, NODE.bin), { recursive: true });
    if (a.format === 'binary') cpSync(src, join(root, installTarget(a.component)));
    else {
      mkdirSync(join(root, installTarget(a.component)), { recursive: true });
      execFileSync('tar', ['-xzf', src, '-C', join(root, installTarget(a.component))]);
    }
  }
  // First boot kept the host's originals for kubeseed-reset when it installed the node files (install-node-files.sh).
  mkdirSync(join(root, FILES.originals), { recursive: true });
  writeFileSync(join(root, FILES.originals, '.created'), '');
  writeFileSync(join(root, FILES.originals, '.kept'), '');
  return { u, tarball, root };
}

test.serial(
  "an upgrade installs the new release's downloads (a binary by rename, an archive unpacked) after checking them, keeps the old ones, restarts in order, is a no-op the second time; kubeseed-rollback puts the node back",
  async (t) => {
    t.timeout(600_000);
    t.true(existsSync(join(CHROOT, 'bin', 'bash')), `no chroot fixture at ${CHROOT}: run scripts/fixtures/build-chroot.sh`);
    const { u, tarball, root } = await upgradeOnNode(t, '', NODE_NAME, []);

    const version = (bin: string) => readFileSync(join(root, NODE.bin, bin), 'utf8');
    t.regex(version('kubelet'), /kubelet v1\.36\./);
    const crictlBefore = version('crictl');

    let healthz = 0;
    const server = createServer((_req, res) => {
      healthz++;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(10248, '127.0.0.1', resolve));
    try {
      // A damaged download: refused before anything is installed.
      let before = tree(root);
      const damaged = await apply(root, tarball, (d) => writeFileSync(join(d, 'payload', u.artifacts.find((a) => a.key === 'kubelet')!.file), 'not kubelet\n'));
      t.is(damaged.code, 1, damaged.out);
      t.regex(damaged.out, /a download of this update .* does not match its sha256 .*nothing was installed/);
      t.deepEqual([...gained(before, tree(root)).keys()], []);

      // The upgrade.
      before = tree(root);
      const first = await apply(root, tarball);
      t.is(first.code, 0, first.out);
      t.regex(version('kubelet'), /kubelet v1\.37\./);
      t.regex(version('kube-apiserver'), /kube-apiserver v1\.37\./);
      t.not(version('crictl'), crictlBefore, 'the archive was unpacked over the old crictl');
      t.regex(readFileSync(join(root, FILES.release), 'utf8'), /^kubernetes=v1\.37\.1$/m);
      const log = toolsLog(root);
      t.deepEqual(
        [...log.matchAll(/^systemctl restart (\S+)$/gm)].map((m) => m[1]),
        ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy'],
      );
      t.true(healthz >= 1);
      // The old release is kept for the rollback, and kubeseed-rollback is there.
      t.regex(readFileSync(join(root, FILES.rollbackDir, 'root', NODE.bin, 'kubelet'), 'utf8'), /kubelet v1\.36\./);
      t.is(readFileSync(join(root, FILES.rollbackDir, 'to'), 'utf8'), '2\n');
      t.true(lstatSync(join(root, FILES.rollback)).isSymbolicLink());

      // The same upgrade again: nothing to do.
      rmSync(join(root, 'tools.log'));
      const again = tree(root);
      const second = await apply(root, tarball);
      t.is(second.code, 0, second.out);
      t.regex(second.out, /already at site revision 2: nothing to do/);
      t.deepEqual([...gained(again, tree(root)).keys()], []);

      // kubeseed-rollback: the old binaries and files back, the files the update added gone, the same units restarted, no revision recorded.
      const rb = await inChroot(root, NODE_NAME, FILES.rollback);
      t.is(rb.code, 0, rb.out);
      t.regex(rb.stdout, /the update to site revision 2 is undone/);
      t.regex(version('kubelet'), /kubelet v1\.36\./);
      t.is(version('crictl'), crictlBefore);
      t.deepEqual(
        [...toolsLog(root).matchAll(/^systemctl restart (\S+)$/gm)].map((m) => m[1]),
        ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy'],
      );
      const left = [...gained(before, tree(root)).keys()].filter((p) => p !== '/tools.log' && p !== FILES.installed);
      t.deepEqual(left, [], 'the node is as before the upgrade (but for the list kubeseed-reset reads)');
      t.false(existsSync(join(root, FILES.revision)));
      t.false(existsSync(join(root, FILES.rollbackDir)));
      const none = await inChroot(root, NODE_NAME, `${FILES.rollbackDir}/rollback`);
      t.not(none.code, 0);
    } finally {
      server.close();
    }
  },
);

test.serial(
  "kubeadm mode: an upgrade keeps the static pod manifests and the kubelet's config that kubeadm's upgrade rewrites, a rerun keeps the first run's copy; kubeseed-rollback puts them back byte for byte and restarts the kubelet",
  async (t) => {
    t.timeout(600_000);
    t.true(existsSync(join(CHROOT, 'bin', 'bash')), `no chroot fixture at ${CHROOT}: run scripts/fixtures/build-chroot.sh`);
    const host = 'k8s-01';
    const apiserver = `${NODE.staticPods}/kube-apiserver.yaml`;
    // The new kubeadm as a stand-in: it logs its arguments and rewrites in place what `kubeadm upgrade` rewrites; told to, it then fails once.
    const kubeadm: StandIn = (component, version) =>
      component !== 'kubeadm'
        ? sayVersion(component, version)
        : [
            '#!/bin/sh',
            'echo "kubeadm $*" >>/tools.log',
            `echo "kube-apiserver as kubeadm ${version} writes it" >${apiserver}`,
            `echo "kubelet config as kubeadm ${version} writes it" >${FILES.kubeletConfig}`,
            'if [ -e /kubeadm-fails-once ]; then rm /kubeadm-fails-once; exit 1; fi',
            '',
          ].join('\n');
    const { tarball, root } = await upgradeOnNode(t, '-kubeadm', host, [kubeadmMode], kubeadm);
    writeFileSync(join(root, installTarget('containerd'), 'ctr'), CTR);
    chmodSync(join(root, installTarget('containerd'), 'ctr'), 0o755);
    // What kubeadm init of the old release wrote: the static pods and the kubelet's config.
    const written = {
      [apiserver]: 'kube-apiserver as kubeadm v1.36 wrote it\n',
      [`${NODE.staticPods}/etcd.yaml`]: 'etcd as kubeadm v1.36 wrote it\n',
      [FILES.kubeletConfig]: 'kubelet config as kubeadm v1.36 wrote it\n',
    };
    for (const [path, text] of Object.entries(written)) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text, { mode: 0o600 });
    }
    const read = (path: string) => readFileSync(join(root, path), 'utf8');

    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(10248, '127.0.0.1', resolve));
    try {
      const before = tree(root);
      // kubeadm fails half-way (its files rewritten): the run stops, and its rerun upgrades.
      writeFileSync(join(root, 'kubeadm-fails-once'), '');
      const failed = await apply(root, tarball, undefined, host);
      t.is(failed.code, 1, failed.out);
      t.regex(failed.out, /kubeadm's upgrade failed/);
      const rerun = await apply(root, tarball, undefined, host);
      t.is(rerun.code, 0, rerun.out);
      t.is(read(apiserver), 'kube-apiserver as kubeadm v1.37.1 writes it\n');
      t.is(read(FILES.kubeletConfig), 'kubelet config as kubeadm v1.37.1 writes it\n');
      t.is([...toolsLog(root).matchAll(/^kubeadm upgrade apply v1\.37\.1 /gm)].length, 2);

      rmSync(join(root, 'tools.log'));
      const rb = await inChroot(root, host, FILES.rollback);
      t.is(rb.code, 0, rb.out);
      for (const [path, text] of Object.entries(written)) t.is(read(path), text, `${path} as before the upgrade`);
      const log = toolsLog(root);
      t.notRegex(log, /^kubeadm /m, 'the rollback runs no kubeadm');
      t.regex(log, /^systemctl restart kubelet$/m, 'the kubelet restarts: it reads its config only at start');
      const left = [...gained(before, tree(root)).keys()].filter((p) => p !== '/tools.log' && p !== FILES.installed);
      t.deepEqual(left, [], 'the node is as before the upgrade (but for the list kubeseed-reset reads)');
    } finally {
      server.close();
    }
  },
);

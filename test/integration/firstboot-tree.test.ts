import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'yaml';
import type { BundlePlan } from '../../generator/model/index.js';
import { FILES, installTarget, NETWORK_LEFTOVERS, NODE, NODE_FILES, payloadName, payloadPath } from '../../generator/model/layout.js';
import { fixtureStateDir } from '../goldens.js';
import { fixtureCache, repoRoot, runCli } from '../helpers.js';
import { modeHashTree } from '../tree.js';

/**
 * `gen plan --json` and first boot agree on every path: a node's seed is laid down in a copy of
 * the Debian chroot fixture as cloud-init writes it, first boot's own unpack_node_files and
 * install_binaries run there against a payload of stand-in artifacts, and the files the node
 * gained are exactly the files its plan lists (with their modes), plus what the planned archives
 * unpack to and first boot's bookkeeping.
 */

/** A Debian bookworm minbase root, built by scripts/fixtures/build-chroot.sh; copied, never changed. */
const CHROOT = join(fixtureCache, 'chroot-bookworm');
const dir = mkdtempSync(join(tmpdir(), 'kubeseed-tree-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** Stand-in archives with the member layout of the real ones, and what each installs (relative to its install target). */
const ARCHIVES: Record<string, (version: string, arch: string) => { members: string[]; installs: string[] }> = {
  etcd: (v, a) => ({ members: [`etcd-${v}-linux-${a}/etcd`, `etcd-${v}-linux-${a}/etcdctl`, `etcd-${v}-linux-${a}/README.md`], installs: ['etcd', 'etcdctl'] }),
  containerd: () => ({ members: ['bin/containerd', 'bin/containerd-shim-runc-v2', 'bin/ctr'], installs: ['containerd', 'containerd-shim-runc-v2', 'ctr'] }),
  crictl: () => ({ members: ['crictl'], installs: ['crictl'] }),
  'cni-plugins': () => ({ members: ['./bridge', './host-local', './loopback', './portmap'], installs: ['bridge', 'host-local', 'loopback', 'portmap'] }),
};

const tree = modeHashTree;

/** What cloud-init does with the seed's write_files. */
function writeFiles(root: string, userData: string): void {
  const doc = parse(userData, { version: '1.1' }) as { write_files: { path: string; permissions: string; encoding: string; content: string }[] };
  for (const w of doc.write_files) {
    const target = join(root, w.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, w.encoding === 'gz+b64' ? gunzipSync(Buffer.from(w.content, 'base64')) : w.content);
    chmodSync(target, Number.parseInt(w.permissions, 8));
  }
}

/**
 * A payload of stand-in artifacts named as the plan names them, with its SHA256SUMS (on a node it
 * is a mounted volume). Returns what installing them adds beyond the plan's paths: the files the
 * archives unpack to, and the payload's own copies of the binaries the plan lists where they are installed.
 */
function fakePayload(target: string, plan: BundlePlan, node: string): { unpacked: string[]; volume: string[] } {
  mkdirSync(target, { recursive: true });
  const installed: string[] = [];
  const volume = [payloadPath('SHA256SUMS')];
  const names: string[] = [];
  for (const a of plan.artifacts.filter((x) => x.nodes.includes(node))) {
    const name = payloadName(a);
    names.push(name);
    if (a.format === 'binary') {
      writeFileSync(join(target, name), `#!/bin/sh\necho ${a.component}\n`);
      volume.push(payloadPath(name));
      continue;
    }
    const layout = ARCHIVES[a.component]!(a.version, a.arch);
    const src = join(dir, 'archive-src', a.id.replace(/[/@]/g, '_'));
    for (const m of layout.members) {
      mkdirSync(dirname(join(src, m)), { recursive: true });
      writeFileSync(join(src, m), `#!/bin/sh\necho ${m}\n`);
      chmodSync(join(src, m), 0o755);
    }
    execFileSync('tar', ['-czf', join(target, name), '-C', src, ...layout.members]);
    installed.push(...layout.installs.map((i) => `${installTarget(a.component)}/${i}`));
  }
  const image = plan.nodes.find((n) => n.name === node)!.files.find((f) => f.origin === 'payload:image-archive');
  if (image) {
    const name = image.path.slice(NODE.payload.length + 1);
    writeFileSync(join(target, name), 'stand-in image archive\n');
    names.push(name);
  }
  const sums = names
    .map(
      (n) =>
        `${createHash('sha256')
          .update(readFileSync(join(target, n)))
          .digest('hex')}  ${n}\n`,
    )
    .join('');
  writeFileSync(join(target, 'SHA256SUMS'), sums);
  return { unpacked: installed, volume };
}

/**
 * A node's seed laid down in `root` as cloud-init writes it, then first boot's two steps that lay
 * files down (unpack_node_files, install_binaries) as rendered for the node, run inside the
 * chroot; `extra` shell lines run after them (e.g. other lines of first boot).
 */
function installNode(
  t: import('ava').ExecutionContext,
  root: string,
  nodeDir: string,
  plan: BundlePlan,
  node: string,
  extra: (firstboot: string) => string = () => '',
) {
  writeFiles(root, readFileSync(join(nodeDir, 'user-data'), 'utf8'));
  cpSync(join(nodeDir, NODE_FILES.archive), join(root, NODE_FILES.copied));
  const payload = fakePayload(join(root, NODE.payload), plan, node);
  const firstboot = readFileSync(join(root, plan.nodes.find((n) => n.name === node)!.files.find((f) => f.origin === 'render:firstboot.sh')!.path), 'utf8');
  const script = `${firstboot.slice(0, firstboot.indexOf('\nrun_step '))}\nunpack_node_files\ninstall_binaries\n${extra(firstboot)}\n`;
  writeFileSync(join(root, 'steps.sh'), script);
  const r = spawnSync('chroot', [root, '/bin/bash', '/steps.sh'], { encoding: 'utf8' });
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  rmSync(join(root, 'steps.sh'));
  return { ...payload, firstboot };
}

function checkNode(t: import('ava').ExecutionContext, site: string, node: string, state: string) {
  t.true(existsSync(join(CHROOT, 'bin', 'bash')), `no chroot fixture at ${CHROOT}: run scripts/fixtures/build-chroot.sh`);
  const out = join(dir, `out-${node}`);
  const bundled = runCli(['bundle', '--site', site, '--state', state, '--out', out, '--skip-payload', '--node', node]);
  t.is(bundled.code, 0, bundled.stderr);
  const planned = runCli(['plan', '--site', site, '--json']);
  t.is(planned.code, 0, planned.stderr);
  const plan = JSON.parse(planned.stdout) as BundlePlan;
  const nodeDir = join(out, plan.site, 'dist', 'nodes', node);

  const root = join(dir, `root-${node}`);
  execFileSync('cp', ['-a', CHROOT, root]);
  const before = tree(root);
  const { unpacked, volume } = installNode(t, root, nodeDir, plan, node);

  const after = tree(root);
  const gained = new Map([...after].filter(([p, v]) => before.get(p) !== v).map(([p, v]) => [p, v.split(' ')[0]!]));
  const files = plan.nodes.find((n) => n.name === node)!.files;
  t.true(files.length > 20, `${files.length} planned files`);
  // Every planned file is there with its planned mode …
  for (const f of files) t.is(gained.get(f.path), f.mode, `${node} ${f.path} (${f.origin})`);
  // … and nothing else but what the planned archives unpack to and first boot's own bookkeeping.
  const expectedExtra = new Set([...unpacked, ...volume, NODE_FILES.list, NODE_FILES.copied]);
  const extra = [...gained.keys()].filter((p) => !files.some((f) => f.path === p) && !expectedExtra.has(p) && !p.startsWith(`${NODE.state}/`));
  t.deepEqual(extra, [], `${node}: installed but not planned`);
  for (const p of unpacked) t.is(gained.get(p), '0755', `${node} ${p} from its archive`);
  rmSync(root, { recursive: true, force: true });
}

test('lab1 k8s-01 (bootstrap control plane): first boot installs exactly the planned files at the planned paths', (t) => {
  t.timeout(180_000);
  const state = join(dir, 'state-lab1');
  cpSync(fixtureStateDir, state, { recursive: true });
  checkNode(t, 'lab1', 'k8s-01', state);
});

test('kubeadm2 e2e-02 (kubeadm worker): first boot installs exactly the planned files at the planned paths', (t) => {
  t.timeout(180_000);
  checkNode(t, join(repoRoot, 'test', 'e2e', 'sites', 'kubeadm2.yaml'), 'e2e-02', join(dir, 'state-kubeadm2'));
});

test("a node tarball's install.sh, run on a Debian host, installs exactly the node's files with their modes, places the payload beside it and starts first boot", (t) => {
  t.timeout(180_000);
  const { root, nodeDir, before } = tarballHost('tarball');
  // The payload tarball as the bundle names it, copied beside the unpacked node directory.
  const payload = join(root, 'srv', 'unpacked', 'payload-0123456789abcdef.tar');
  writeFileSync(payload, 'stand-in payload\n');
  const r = spawnSync('chroot', [root, '/bin/sh', '/srv/unpacked/k8s-02/install.sh'], { encoding: 'utf8' });
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  t.true(r.stdout.includes(`payload /srv/unpacked/payload-0123456789abcdef.tar placed at ${FILES.payloadTarball}`), r.stdout);
  t.is(readFileSync(join(root, 'systemctl.log'), 'utf8'), 'daemon-reload\nenable kubeseed-firstboot.service\nstart --no-block kubeseed-firstboot.service\n');
  t.is(readFileSync(join(root, 'etc', 'hostname'), 'utf8'), 'k8s-02\n');
  t.is(readFileSync(join(root, FILES.payloadTarball), 'utf8'), 'stand-in payload\n');

  const unpacked = join(dir, 'expected-tarball');
  mkdirSync(unpacked);
  execFileSync('tar', ['-xzpf', join(nodeDir, NODE_FILES.archive), '-C', unpacked]);
  const expected = tree(unpacked);
  t.true(expected.size > 40, `${expected.size} node files`);
  const gained = new Map([...tree(root)].filter(([p, v]) => before.get(p) !== v && !p.startsWith('/srv/unpacked/')));
  for (const [path, modeAndHash] of expected) t.is(gained.get(path), modeAndHash, path);
  const extra = [...gained.keys()].filter((p) => !expected.has(p)).sort();
  // … and what kubeseed-reset will need: the host's hostname as it was, the directories the install made.
  const originals = [`${FILES.originals}/.created`, `${FILES.originals}/.kept`, `${FILES.originals}/etc/hostname`];
  t.deepEqual(extra, ['/etc/hostname', NODE_FILES.list, NODE_FILES.copied, FILES.payloadTarball, '/systemctl.log', ...originals].sort());
  t.is(readFileSync(join(root, FILES.originals, 'etc', 'hostname'), 'utf8'), readFileSync(join(CHROOT, 'etc', 'hostname'), 'utf8'));
});

/** Every directory, file and symlink under root (files and links with mode and content hash). */
function snapshot(root: string): Map<string, string> {
  const out = tree(root);
  const dirs = execFileSync('find', [root, '-xdev', '-mindepth', '1', '-type', 'd', '-printf', '/%P\\n'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  for (const d of dirs.split('\n').filter(Boolean)) out.set(`${d}/`, 'dir');
  return out;
}

/** `+ path`, `- path`, `~ path` for every entry that differs, sorted; `ignore` left out. */
function differences(before: Map<string, string>, after: Map<string, string>, ignore: (p: string) => boolean = () => false): string[] {
  const out: string[] = [];
  for (const [p, v] of after) if (!ignore(p) && before.get(p) !== v) out.push(`${before.has(p) ? '~' : '+'} ${p}`);
  for (const p of before.keys()) if (!ignore(p) && !after.has(p)) out.push(`- ${p}`);
  return out.sort((a, b) => a.slice(2).localeCompare(b.slice(2)));
}

/** What the node's programs write while it runs, outside the files first boot lays down. */
function runtimeState(root: string): string[] {
  const files = [
    `${NODE.kubeletDir}/pki/kubelet-client-current.pem`,
    `${NODE.kubeletDir}/pods/0f/volumes/secret`,
    `${NODE.cniConf}/10-flannel.conflist`,
    `${NODE.cniState}/networks/cbr0/172.30.0.2`,
    `${NODE.etcdData}/member/snap/db`,
    `${NODE.logDir}/audit.log`,
    `${NETWORK_LEFTOVERS.dirs[0]}/subnet.env`,
    `${NODE.kubernetes}/admin.conf`,
    FILES.osPackages,
    `${NODE.state}/status.json`,
  ];
  for (const f of files) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    writeFileSync(join(root, f), f === FILES.osPackages ? 'conntrack=1:1.4.7-1+b2\n' : `written at run time: ${f}\n`);
  }
  const containerd = `${NODE.containerdRoot}/io.containerd.content.v1.content/blobs/sha256/0123`;
  mkdirSync(dirname(join(root, containerd)), { recursive: true });
  writeFileSync(join(root, containerd), 'an image layer\n');
  return [containerd];
}

test('kubeseed-reset undoes first boot in the chroot: the tree is as before install (containerd state only with --all), and the node installs again', (t) => {
  t.timeout(300_000);
  t.true(existsSync(join(CHROOT, 'bin', 'bash')), `no chroot fixture at ${CHROOT}: run scripts/fixtures/build-chroot.sh`);
  const state = join(dir, 'state-reset');
  cpSync(fixtureStateDir, state, { recursive: true });
  const out = join(dir, 'out-reset');
  const bundled = runCli(['bundle', '--site', 'lab1', '--state', state, '--out', out, '--skip-payload', '--node', 'k8s-01']);
  t.is(bundled.code, 0, bundled.stderr);
  const planned = runCli(['plan', '--site', 'lab1', '--json']);
  t.is(planned.code, 0, planned.stderr);
  const plan = JSON.parse(planned.stdout) as BundlePlan;
  const nodeDir = join(out, 'lab1', 'dist', 'nodes', 'k8s-01');
  const files = plan.nodes.find((n) => n.name === 'k8s-01')!.files;
  t.true(
    files.some((f) => f.path === FILES.reset && f.mode === '0755'),
    'every node carries kubeseed-reset',
  );

  const root = join(dir, 'root-reset');
  execFileSync('cp', ['-a', CHROOT, root]);
  // A host with swap in its fstab, and a systemctl that records what it is asked (no systemd runs in a chroot).
  appendFileSync(join(root, 'etc', 'fstab'), '/swapfile none swap sw 0 0\n');
  writeFileSync(join(root, 'usr', 'bin', 'systemctl'), '#!/bin/sh\necho "$*" >>/systemctl.log\n');
  chmodSync(join(root, 'usr', 'bin', 'systemctl'), 0o755);
  const before = snapshot(root);
  const log = (p: string) => p === '/systemctl.log';
  // With first boot's own fstab line (prepare_os comments swap out), run as rendered.
  const fstabLine = (firstboot: string) => firstboot.split('\n').find((l) => l.includes('/etc/fstab') && l.includes('sed'))!;
  // Network isolation: the script's ip, iptables and nft calls act on a namespace of the test's own.
  const reset = (...args: string[]) =>
    spawnSync('unshare', ['--net', '--mount', '--pid', '--fork', 'chroot', root, '/bin/bash', FILES.reset, ...args], { encoding: 'utf8' });

  const first = installNode(t, root, nodeDir, plan, 'k8s-01', fstabLine);
  t.regex(readFileSync(join(root, 'etc', 'fstab'), 'utf8'), /^#kubeseed# \/swapfile none swap/m);
  const containerd = runtimeState(root);
  const installed = snapshot(root);
  for (const f of files) t.is(installed.get(f.path)?.split(' ')[0], f.mode, `installed ${f.path}`);
  t.true(readFileSync(join(root, FILES.installed), 'utf8').split('\n').length > first.unpacked.length, 'first boot recorded what it installed');

  const refused = reset();
  t.is(refused.status, 2, refused.stderr);
  t.regex(refused.stderr, /nothing changed; add --yes/);
  t.deepEqual(differences(installed, snapshot(root), log), [], 'without --yes nothing changes');

  const r1 = reset('--yes');
  t.is(r1.status, 0, `${r1.stdout}\n${r1.stderr}`);
  t.regex(r1.stdout, /done: node k8s-01 holds nothing of kubeseed's any more/);
  const asked = readFileSync(join(root, 'systemctl.log'), 'utf8');
  for (const unit of ['kubeseed-firstboot', 'kubelet', 'kube-proxy', 'kube-apiserver', 'etcd', 'containerd'])
    t.true(asked.includes(`disable --now ${unit}.service\n`), `systemctl disable --now ${unit}.service\n${asked}`);
  // Without --all only containerd's state (images) stays.
  const containerdDirs = new Set(
    containerd.flatMap((f) =>
      f
        .split('/')
        .slice(1, -1)
        .map((_, i, parts) => `/${parts.slice(0, i + 1).join('/')}/`),
    ),
  );
  const expectedLeft = [...containerd, ...containerdDirs].filter((p) => !before.has(p));
  const left = differences(before, snapshot(root), log);
  t.deepEqual(
    left,
    expectedLeft.map((p) => `+ ${p}`).sort((a, b) => a.slice(2).localeCompare(b.slice(2))),
    left.join('\n'),
  );

  // The node installs again over the reset host, and a reset --all leaves the tree exactly as before the first install.
  installNode(t, root, nodeDir, plan, 'k8s-01', fstabLine);
  runtimeState(root);
  const again = snapshot(root);
  for (const f of files) t.is(again.get(f.path)?.split(' ')[0], f.mode, `installed again ${f.path}`);
  const r2 = reset('--yes', '--all');
  t.is(r2.status, 0, `${r2.stdout}\n${r2.stderr}`);
  const diff = differences(before, snapshot(root), log);
  t.deepEqual(diff, [], `left after kubeseed-reset --all:\n${diff.join('\n')}`);
  rmSync(root, { recursive: true, force: true });
});

test('install.sh without a payload names every place it looked and changes nothing on the host; a payload given by path is taken', (t) => {
  t.timeout(180_000);
  const { root, before } = tarballHost('nopayload');
  const r = spawnSync('chroot', [root, '/bin/sh', '/srv/unpacked/k8s-02/install.sh'], { encoding: 'utf8' });
  t.is(r.status, 1, `${r.stdout}\n${r.stderr}`);
  for (const place of [
    '/srv/unpacked/k8s-02/payload-*.tar',
    '/srv/unpacked/payload-*.tar',
    '/srv/unpacked/k8s-02/../../../payload/payload-*.tar',
    FILES.payloadTarball,
    'KSPAYLOAD',
  ])
    t.true(r.stderr.includes(place), `names ${place}: ${r.stderr}`);
  const changed = [...tree(root)].filter(([p, v]) => before.get(p) !== v && !p.startsWith('/srv/unpacked/'));
  t.deepEqual(changed, [], 'nothing outside the unpacked tarball changed');

  const missing = spawnSync('chroot', [root, '/bin/sh', '/srv/unpacked/k8s-02/install.sh', '/srv/elsewhere.tar'], { encoding: 'utf8' });
  t.is(missing.status, 1);
  t.regex(missing.stderr, /\/srv\/elsewhere\.tar: no such file/);
  writeFileSync(join(root, 'srv', 'elsewhere.tar'), 'given by path\n');
  const given = spawnSync('chroot', [root, '/bin/sh', '-c', 'cd /srv && sh unpacked/k8s-02/install.sh elsewhere.tar'], { encoding: 'utf8' });
  t.is(given.status, 0, given.stderr);
  t.is(readFileSync(join(root, FILES.payloadTarball), 'utf8'), 'given by path\n');
});

/** A copy of the Debian chroot with k8s-02's node tarball unpacked in /srv/unpacked and a systemctl that records its calls. */
function tarballHost(name: string): { root: string; nodeDir: string; before: Map<string, string> } {
  const state = join(dir, `state-${name}`);
  cpSync(fixtureStateDir, state, { recursive: true });
  const out = join(dir, `out-${name}`);
  const bundled = runCli(['bundle', '--site', 'lab1', '--state', state, '--out', out, '--skip-payload', '--node', 'k8s-02']);
  if (bundled.code !== 0) throw new Error(bundled.stderr);
  const nodeDir = join(out, 'lab1', 'dist', 'nodes', 'k8s-02');
  const root = join(dir, `root-${name}`);
  execFileSync('cp', ['-a', CHROOT, root]);
  // No systemd in the chroot: a systemctl that records what it was asked.
  writeFileSync(join(root, 'usr', 'bin', 'systemctl'), '#!/bin/sh\necho "$*" >>/systemctl.log\n');
  chmodSync(join(root, 'usr', 'bin', 'systemctl'), 0o755);
  const before = tree(root);
  mkdirSync(join(root, 'srv', 'unpacked'), { recursive: true });
  execFileSync('tar', ['-xzpf', join(nodeDir, 'k8s-02.tar.gz'), '-C', join(root, 'srv', 'unpacked')]);
  return { root, nodeDir, before };
}

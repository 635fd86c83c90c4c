import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'yaml';
import type { BundlePlan } from '../../generator/model/index.js';
import { FILES, installTarget, NODE, NODE_FILES, payloadName, payloadPath } from '../../generator/model/layout.js';
import { fixtureStateDir } from '../goldens.js';
import { fixtureCache, repoRoot, runCli } from '../helpers.js';

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

/** path → mode of every regular file and symlink under root. */
function tree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const list = execFileSync('find', [root, '-xdev', '(', '-type', 'f', '-o', '-type', 'l', ')', '-printf', '/%P\\n'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  for (const p of list.split('\n').filter(Boolean)) {
    const st = lstatSync(join(root, p));
    out.set(
      p,
      st.isSymbolicLink()
        ? `link ${readlinkSync(join(root, p))}`
        : `0${(st.mode & 0o777).toString(8)} ${createHash('sha256')
            .update(readFileSync(join(root, p)))
            .digest('hex')}`,
    );
  }
  return out;
}

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
  writeFiles(root, readFileSync(join(nodeDir, 'user-data'), 'utf8'));
  cpSync(join(nodeDir, NODE_FILES.archive), join(root, NODE_FILES.copied));
  const { unpacked, volume } = fakePayload(join(root, NODE.payload), plan, node);

  // first boot as rendered for this node, its two steps that lay files down, run inside the chroot.
  const firstboot = readFileSync(join(root, plan.nodes.find((n) => n.name === node)!.files.find((f) => f.origin === 'render:firstboot.sh')!.path), 'utf8');
  const script = `${firstboot.slice(0, firstboot.indexOf('\nrun_step '))}\nunpack_node_files\ninstall_binaries\n`;
  writeFileSync(join(root, 'steps.sh'), script);
  const r = spawnSync('chroot', [root, '/bin/bash', '/steps.sh'], { encoding: 'utf8' });
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  rmSync(join(root, 'steps.sh'));

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
  t.deepEqual(extra, ['/etc/hostname', NODE_FILES.list, NODE_FILES.copied, FILES.payloadTarball, '/systemctl.log'].sort());
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

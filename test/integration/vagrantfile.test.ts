import test from 'ava';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_BOX, type VagrantSite } from '../../generator/pack/vagrant.js';
import { nodeNamed, on120 } from '../sites.js';
import { cleanup, makeWork } from '../state-fixture.js';

/**
 * Issue #21 item 2, what runs without Vagrant: the Vagrantfile `gen bundle` writes describes the
 * site as its blueprint does. Its Ruby only walks a JSON document; that document is read back here
 * and held against the site. `npm run test:e2e:vagrant` runs `vagrant validate` and `vagrant up` on it.
 */

const roots: string[] = [];
test.after.always(() => cleanup(roots));

/** The JSON heredoc of a rendered Vagrantfile. */
function vagrantData(text: string): VagrantSite {
  const m = /^SITE = JSON\.parse\(<<~'JSON'\)\n([\s\S]*?)\nJSON\n/m.exec(text);
  if (!m) throw new Error(`no SITE heredoc in:\n${text}`);
  return JSON.parse(m[1]!) as VagrantSite;
}

test('vm/Vagrantfile: every node with its MAC and address on one isolated network without DHCP, the host at the gateway, its seed and the payload as CD-ROMs', (t) => {
  // On the version the e2e boots: cgroup v1, which the kubeseed box's kernel must be told.
  const w = makeWork(roots, on120, (s) => {
    delete nodeNamed(s, 'k8s-03').mac;
  });
  const first = w.gen('bundle', ['--skip-payload']);
  t.is(first.code, 0, first.stderr);
  // The payload volume of an earlier bundle; --node writes vm/ anew with it attached.
  mkdirSync(join(w.dist, 'payload'));
  writeFileSync(join(w.dist, 'payload', 'payload-0123456789abcdef.iso'), Buffer.alloc(1 << 16));
  const r = w.gen('bundle', ['--skip-payload', '--node', 'k8s-02']);
  t.is(r.code, 0, r.stderr);

  const text = readFileSync(join(w.dist, 'vm', 'Vagrantfile'), 'utf8');
  const v = vagrantData(text);
  t.is(v.site, 'lab1');
  t.is(v.box, DEFAULT_BOX);
  t.deepEqual(v.networks, [{ name: 'kubeseed-lab1', subnet: '192.168.93.0/24', netmask: '255.255.255.0', hostIp: '192.168.93.1' }]);
  t.deepEqual(
    v.nodes.map((n) => [n.name, n.ip, n.network]),
    [
      ['k8s-01', '192.168.93.45', 0],
      ['k8s-02', '192.168.93.46', 0],
      ['k8s-03', '192.168.93.47', 0],
    ],
  );
  t.is(v.nodes[0]!.mac, '52:54:00:93:00:45');
  t.is(v.nodes[1]!.mac, '52:54:00:93:00:46');
  t.regex(v.nodes[2]!.mac, /^52:54:00(:[0-9a-f]{2}){3}$/, 'a node without a MAC gets a stable one');
  // The MAC is what the seed's network-config matches: the same one in both. Without one, it matches the NIC by name.
  for (const n of v.nodes.slice(0, 2)) t.true(readFileSync(join(w.dist, 'nodes', n.name, 'network-config'), 'utf8').includes(n.mac), n.name);
  t.regex(readFileSync(join(w.dist, 'nodes', 'k8s-03', 'network-config'), 'utf8'), /name: e\*/);
  for (const n of v.nodes) {
    t.deepEqual(n.cdroms, [`nodes/${n.name}/seed.iso`, 'payload/payload-0123456789abcdef.iso'], n.name);
    for (const c of n.cdroms) t.true(existsSync(join(w.dist, c)), c);
  }
  t.deepEqual(v.kernelArgs, ['systemd.unified_cgroup_hierarchy=0'], 'cgroup v1 sites boot the kernel with the v1 hierarchy');
  t.deepEqual(v.software, { qemuArgs: ['-cpu', 'max', '-icount', 'shift=0,sleep=on'], kernelArgs: ['tsc=reliable'] });

  // The Ruby around the data: isolated, no DHCP, no management network, nothing of Vagrant's own on the node.
  t.regex(text, /libvirt__forward_mode: "none"/);
  t.regex(text, /libvirt__dhcp_enabled: false/);
  t.regex(text, /auto_config: false/);
  t.regex(text, /lv\.mgmt_attach = false/);
  t.regex(text, /synced_folder "\.", "\/vagrant", disabled: true/);
  t.regex(text, /lv\.storage :file, device: :cdrom, path: File\.join\(dist, path\)/);
  t.notRegex(text, /vm\.hostname/);
});

test('vm/Vagrantfile: one network per subnet, each with its gateway on the host; an arm64 node as an aarch64 virt machine; no kernel arguments for cgroup v2', (t) => {
  const w = makeWork(roots, (s) => {
    s.spec.artifacts.arch = ['amd64', 'arm64'];
    const n3 = nodeNamed(s, 'k8s-03');
    (n3 as { arch?: string }).arch = 'arm64';
    n3.address = '192.168.94.47/24';
    n3.gateway = '192.168.94.1';
    n3.dns = ['192.168.94.1'];
  });
  const r = w.gen('bundle', ['--skip-payload']);
  t.is(r.code, 0, r.stderr);
  const v = vagrantData(readFileSync(join(w.dist, 'vm', 'Vagrantfile'), 'utf8'));
  t.deepEqual(
    v.networks.map((n) => [n.name, n.subnet, n.hostIp]),
    [
      ['kubeseed-lab1-1', '192.168.93.0/24', '192.168.93.1'],
      ['kubeseed-lab1-2', '192.168.94.0/24', '192.168.94.1'],
    ],
  );
  t.deepEqual(
    v.nodes.map((n) => [n.name, n.network, n.cdroms, n.machineArch, n.machineType]),
    [
      ['k8s-01', 0, ['nodes/k8s-01/seed.iso'], null, null],
      ['k8s-02', 0, ['nodes/k8s-02/seed.iso'], null, null],
      ['k8s-03', 1, ['nodes/k8s-03/seed.iso'], 'aarch64', 'virt'],
    ],
  );
  t.deepEqual(v.kernelArgs, []);
});

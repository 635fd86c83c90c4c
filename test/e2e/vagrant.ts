/**
 * `npm run test:e2e:vagrant [-- --site FILE] [--timeout S] [--keep]`: the Vagrantfile `gen bundle`
 * writes, brought up for real (issue #21 item 2). Vagrant with vagrant-libvirt drives the system
 * libvirtd, which runs each node under QEMU software emulation (domain type qemu, never KVM), booted
 * from the kubeseed box (scripts/e2e/build-vagrant-box.sh) with the node's seed and the payload
 * attached as the Vagrantfile says. The site's network is a libvirt network this run creates before
 * `vagrant up` (isolated: no forward, no DHCP, no DNS server), the host on it at the nodes' gateway;
 * the run then waits for every node Ready through the admin kubeconfig from the host.
 *
 * Not in `npm test`: one run boots the whole site (15-20 minutes under emulation), and Vagrant,
 * vagrant-libvirt and libvirtd cost minutes to install (docs/benchmarks.md). Needs root. Run it, as
 * every boot on a shared machine, under the boot lock: flock /tmp/kubeseed-boot.lock npm run test:e2e:vagrant
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { debianKubectl, fixtureCache, repoRoot } from '../helpers.js';
import { bundleSite, prepareFixtures } from './harness/bundle.js';
import { E2eRun, pollUntil, run } from './harness/context.js';
import { parseOptions, UsageError } from './harness/options.js';
import { DEFAULT_BOX } from '../../generator/pack/vagrant.js';

const USAGE = `Usage: npm run test:e2e:vagrant -- [--site FILE] [--timeout S] [--keep]

Brings the site's dist/vm/Vagrantfile up with vagrant-libvirt under QEMU software emulation, on an
isolated libvirt network this run creates, and waits for every node Ready. Needs root; run it under
flock /tmp/kubeseed-boot.lock.

Options:
  --site FILE    site blueprint (default test/e2e/sites/smoke2.yaml)
  --timeout S    seconds to wait for every node Ready after vagrant up returns (default 1800)
  --keep         keep the run's directory even when every check passes
  --help, -h     show this help`;

const BOX_FILE = join(fixtureCache, 'vagrant-box', 'kubeseed-debian12.box');
const LIBVIRT = 'qemu:///system';
/** libvirt's QEMU user on Debian (qemu.conf's default): it has to reach the seeds and the payload. */
const QEMU_USER = 'libvirt-qemu';

interface Net {
  name: string;
  subnet: string;
  netmask: string;
  hostIp: string | null;
}

/** The site's networks as the Vagrantfile names them (its JSON document). */
function vagrantNetworks(vagrantfile: string): Net[] {
  const m = /^SITE = JSON\.parse\(<<~'JSON'\)\n([\s\S]*?)\nJSON\n/m.exec(readFileSync(vagrantfile, 'utf8'));
  if (!m) throw new Error(`${vagrantfile}: no SITE document`);
  return (JSON.parse(m[1]!) as { networks: Net[] }).networks;
}

/** An isolated network: no <forward> (libvirt then forwards nothing), no DHCP, no DNS server on the host. */
function networkXml(net: Net, bridge: string): string {
  if (!net.hostIp) throw new Error(`${net.name}: the test puts the host at the nodes' gateway, and this site's has none usable`);
  return `<network><name>${net.name}</name><bridge name='${bridge}' stp='off'/><dns enable='no'/><ip address='${net.hostIp}' netmask='${net.netmask}'/></network>`;
}

function virsh(args: string[], allowFail = false) {
  return run('virsh', ['-q', '-c', LIBVIRT, ...args], { allowFail });
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        site: { type: 'string', default: 'test/e2e/sites/smoke2.yaml' },
        timeout: { type: 'string', default: '1800' },
        keep: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n(npm run test:e2e:vagrant -- --help lists the options)`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  let opts;
  try {
    opts = parseOptions(['--site', values.site, '--timeout', values.timeout, ...(values.keep ? ['--keep'] : [])])!;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(e.message);
    process.exit(2);
  }
  const r = new E2eRun(opts);
  const vm = join(r.dist, 'vm');
  const env = {
    ...process.env,
    VAGRANT_HOME: join(r.work, 'vagrant.d'),
    VAGRANT_DEFAULT_PROVIDER: 'libvirt',
    LIBVIRT_DEFAULT_URI: LIBVIRT,
    KUBESEED_LIBVIRT_DRIVER: 'qemu',
    // As the QEMU harness boots each node: one vCPU (two host cores for two nodes), 3 GiB.
    KUBESEED_CPUS: '1',
    KUBESEED_MEMORY: '3072',
    KUBESEED_CONSOLE_DIR: join(r.work, 'console'),
  };
  const vagrant = (args: string[], allowFail = false) => {
    r.log(`vagrant ${args.join(' ')}`);
    const p = spawnSync('vagrant', args, { cwd: vm, env, encoding: 'utf8', maxBuffer: 1 << 26 });
    if (p.status !== 0 && !allowFail) throw new Error(`vagrant ${args.join(' ')} failed (exit ${p.status}):\n${p.stdout}${p.stderr}`);
    return p;
  };
  const created: string[] = [];
  let up = false;
  const cleanup = () => {
    if (up) vagrant(['destroy', '--force'], true);
    for (const name of created) {
      virsh(['net-destroy', name], true);
      virsh(['net-undefine', name], true);
    }
    // vagrant-libvirt keeps each box's image as a volume of the pool; a rebuilt box must not meet a stale one.
    for (const vol of virsh(['vol-list', 'default'], true).stdout.split('\n')) {
      const name = vol.trim().split(/\s+/)[0];
      if (name?.startsWith(`${DEFAULT_BOX.replace('/', '-VAGRANTSLASH-')}_vagrant_box_image`)) virsh(['vol-delete', '--pool', 'default', name], true);
    }
    if (!opts.keep && !r.failed) rmSync(r.work, { recursive: true, force: true });
    else r.log(`kept ${r.work}`);
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    if (process.getuid?.() !== 0) throw new Error('the Vagrant boot needs root (libvirt networks, a loop mount for the box)');
    r.log('fixtures');
    prepareFixtures();
    run('bash', [join(repoRoot, 'scripts/e2e/setup-vagrant.sh')]);
    run('bash', [join(repoRoot, 'scripts/e2e/build-vagrant-box.sh')]);
    await bundleSite(r);

    // libvirt's QEMU runs as its own user: passage through every directory down to the seeds, as the Vagrantfile tells a user.
    for (let d = r.dist; d !== dirname(r.work); d = dirname(d)) run('setfacl', ['-m', `u:${QEMU_USER}:x`, d]);
    for (const sub of ['nodes', 'payload']) {
      run('setfacl', ['-m', `u:${QEMU_USER}:x`, join(r.dist, sub)]);
      if (sub === 'nodes') for (const n of readdirSync(join(r.dist, 'nodes'))) run('setfacl', ['-m', `u:${QEMU_USER}:x`, join(r.dist, 'nodes', n)]);
    }
    // The box's kernel and initrd stay in VAGRANT_HOME, which libvirt's QEMU reads too; it writes the consoles.
    chmodSync(r.work, 0o755);
    mkdirSync(env.KUBESEED_CONSOLE_DIR);
    run('setfacl', ['-m', `u:${QEMU_USER}:rwx`, env.KUBESEED_CONSOLE_DIR]);

    const validate = vagrant(['validate'], true);
    r.check('vagrant validate', validate.status === 0, (validate.stdout + validate.stderr).trim());
    vagrant(['box', 'add', '--name', DEFAULT_BOX, BOX_FILE]);

    const nets = vagrantNetworks(join(vm, 'Vagrantfile'));
    nets.forEach((net, i) => {
      if (virsh(['net-info', net.name], true).status === 0)
        throw new Error(`libvirt network ${net.name} exists already (a run still going, or left over): virsh net-destroy ${net.name}`);
      const xml = join(r.work, `network-${net.name}.xml`);
      writeFileSync(xml, networkXml(net, `ksvag${process.pid % 10000}-${i}`.slice(0, 15)));
      // Persistent, as vagrant-libvirt expects of a network it found (it undefines it with the last VM).
      virsh(['net-define', xml]);
      virsh(['net-start', net.name]);
      created.push(net.name);
    });
    const netXml = virsh(['net-dumpxml', nets[0]!.name]).stdout;
    r.check(
      'the site network is isolated: no forward, no DHCP, no DNS',
      !/<forward|<dhcp/.test(netXml) && /<dns enable='no'/.test(netXml),
      netXml.replace(/\s+/g, ' '),
    );

    const t0 = Date.now();
    up = true;
    r.log('vagrant up --provider libvirt');
    const log = createWriteStream(join(r.work, 'vagrant-up.log'));
    const upExit = await new Promise<number | null>((res) => {
      const p = spawn('vagrant', ['up', '--provider', 'libvirt'], { cwd: vm, env, stdio: ['ignore', 'pipe', 'pipe'] });
      for (const s of [p.stdout, p.stderr])
        s.on('data', (d: Buffer) => {
          log.write(d);
          process.stdout.write(d);
        });
      p.on('exit', (c) => res(c));
    });
    const upS = (Date.now() - t0) / 1000;
    r.check('vagrant up', upExit === 0, `exit ${upExit} after ${upS.toFixed(0)} s`);
    if (upExit !== 0) throw new Error('vagrant up failed: its output is above and in vagrant-up.log');

    for (const n of r.site.spec.nodes) {
      const xml = virsh(['dumpxml', `kubeseed-${r.site.metadata.name}-${n.name}`]).stdout;
      const seed = join(r.dist, 'nodes', n.name, 'seed.iso');
      r.check(
        `${n.name}: libvirt domain under software emulation with its MAC on the site network, seed and payload attached`,
        /<domain type='qemu'/.test(xml) &&
          xml.includes(`<mac address='${n.mac!.toLowerCase()}'/>`) &&
          xml.includes(`<source network='${nets[0]!.name}'`) &&
          xml.includes(`<source file='${seed}'`) &&
          /<source file='[^']*\/payload\/payload-[0-9a-f]{16}\.iso'/.test(xml),
      );
    }

    let ready: string[] = [];
    const kubeconfig = join(r.dist, 'admin', 'admin.kubeconfig');
    const allReady = await pollUntil(opts.timeoutS * 1000, () => {
      const k = run(
        debianKubectl,
        [
          '--kubeconfig',
          kubeconfig,
          '--request-timeout=30s',
          'get',
          'nodes',
          '-o',
          'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
        ],
        { allowFail: true, timeoutMs: 90_000 },
      );
      ready = k.stdout
        .split('\n')
        .filter((l) => l.endsWith('=True'))
        .map((l) => l.split('=')[0]!);
      return r.site.spec.nodes.every((n) => ready.includes(n.name));
    });
    const readyS = (Date.now() - t0) / 1000;
    r.check(
      'every node Ready (admin kubeconfig, from the host)',
      allReady,
      `ready: ${ready.join(', ') || 'none'}; ${readyS.toFixed(0)} s after vagrant up began, vagrant up took ${upS.toFixed(0)} s`,
    );
    // A node reports Ready before its first boot's last step ends: up to five minutes more, as the harness allows.
    const consoleOf = (node: string) => {
      const f = join(env.KUBESEED_CONSOLE_DIR, `${node}.log`);
      return existsSync(f) ? readFileSync(f, 'utf8') : '';
    };
    const done = (node: string) => consoleOf(node).includes(`node ${node} is Ready; first boot complete`);
    await pollUntil(300_000, () => r.site.spec.nodes.every((n) => done(n.name)));
    for (const n of r.site.spec.nodes) r.check(`${n.name}: first boot complete (serial console)`, done(n.name));
  } catch (e) {
    r.check('harness', false, (e as Error).message);
  } finally {
    if (r.failed) {
      for (const n of r.site.spec.nodes) {
        const consoleLog = join(env.KUBESEED_CONSOLE_DIR, `${n.name}.log`);
        if (existsSync(consoleLog)) console.log(`--- ${n.name} console (last 40 lines)\n${readFileSync(consoleLog, 'utf8').split('\n').slice(-40).join('\n')}`);
      }
    }
    cleanup();
  }
  const passed = r.results.filter((x) => x.ok).length;
  console.log(`${passed} passed, ${r.results.length - passed} failed`);
  process.exitCode = !r.failed && r.results.length > 0 ? 0 : 1;
}

await main();

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { WrittenNode } from '../../../generator/site/index.js';
import { fixtureCache } from '../../helpers.js';
import { run, type E2eRun } from './context.js';
import { addTap } from './network.js';

/** The guest disk, kernel and initrd built by scripts/e2e/build-guest.sh. */
const guest = join(fixtureCache, 'guest-bookworm');

/** The QEMU of every node: powered on, replaced after a reboot, killed at the end. */
export class Machines {
  /** Each node's current QEMU (a reboot replaces it). */
  private readonly vm: Record<string, ChildProcess> = {};
  /** When each node was first powered on (ms since the epoch). */
  readonly powerOn: Record<string, number> = {};
  /** Nodes whose QEMU is expected to exit (a reboot under way): not reported as down. */
  readonly rebooting = new Set<string>();
  private stopping = false;

  /** `payload`: the payload ISO's file name under dist/payload. */
  constructor(
    private readonly r: E2eRun,
    private readonly payload: string,
  ) {}

  /** The current QEMU of a node. */
  process(node: string): ChildProcess | undefined {
    return this.vm[node];
  }

  get lastPowerOn(): number {
    return Math.max(...Object.values(this.powerOn));
  }

  /** Powers a node on; `i` numbers its tap. The first time also makes its tap and its disk overlay. */
  boot(n: WrittenNode, i: number): void {
    const { r } = this;
    const tap = `tap${i}`;
    const disk = this.disk(n.name);
    const first = !(n.name in this.powerOn);
    if (first) {
      addTap(r, tap);
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
    const p = spawn(
      'ip',
      [
        'netns',
        'exec',
        r.ns,
        'qemu-system-x86_64',
        '-machine',
        'q35',
        '-accel',
        'tcg,tb-size=2048',
        '-no-reboot',
        '-cpu',
        'max',
        '-m',
        '3072',
        '-smp',
        '1',
        // Guest time from the instruction count (docs/decisions.md): each guest sees a steady 1 GHz machine, so its
        // leases, renew deadlines and etcd elections measure its own progress, not how busy the host's two cores are.
        ...(r.opts.icount === 'off' ? [] : ['-icount', `shift=${r.opts.icount},sleep=on`]),
        '-kernel',
        join(guest, 'vmlinuz'),
        '-initrd',
        join(guest, 'initrd.img'),
        // Under TCG the guest sees unsynchronised TSCs and falls back to the HPET, which turns every clock read of
        // etcd, the apiserver and the kubelet into an emulated MMIO trap; tsc=reliable keeps the cheap clock.
        '-append',
        'root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=0 tsc=reliable mitigations=off',
        // The disk is thrown away after the run: ignoring flushes spares etcd's fsyncs a trip to the host's disk.
        '-drive',
        `file=${disk},if=virtio,format=qcow2,cache=unsafe`,
        '-drive',
        `file=${join(r.dist, 'nodes', n.name, 'seed.iso')},if=virtio,format=raw,readonly=on`,
        '-drive',
        `file=${join(r.dist, 'payload', this.payload)},if=virtio,format=raw,readonly=on`,
        '-netdev',
        `tap,id=n0,ifname=${tap},script=no,downscript=no`,
        '-device',
        `virtio-net-pci,netdev=n0,mac=${n.mac}`,
        // A monitor per VM on a socket in the run's directory: `info jit` and friends while a run is slow.
        '-display',
        'none',
        '-monitor',
        `unix:${join(r.work, `monitor-${n.name}.sock`)},server=on,wait=off`,
        // Appended, so that a node started again after its reboot keeps the log of its first boot.
        '-chardev',
        `file,id=serial0,path=${r.serialLog(n.name)},append=on`,
        '-serial',
        'chardev:serial0',
      ],
      { stdio: 'ignore' },
    );
    this.vm[n.name] = p;
    p.on('exit', (code, signal) => {
      if (!this.stopping && !this.rebooting.has(n.name)) r.log(`${n.name}: QEMU exited on its own (${signal ?? `code ${code}`}); the node is down`);
    });
    if (first) this.powerOn[n.name] = Date.now();
    r.log(`powered on ${n.name}`);
  }

  /** The node's disk: a qcow2 overlay on the guest image, in the run's directory. */
  disk(node: string): string {
    return join(this.r.work, `${node}.qcow2`);
  }

  /** Pulls the plug on every VM; exits after this are expected. */
  powerOffAll(): void {
    this.stopping = true;
    for (const p of Object.values(this.vm)) p.kill('SIGKILL');
  }
}

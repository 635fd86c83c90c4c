import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WrittenNode } from '../../../generator/site/index.js';
import { DIST } from '../../../generator/pack/dist-layout.js';
import { fixtureCache } from '../../helpers.js';
import type { E2eRun } from './context.js';
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

  /** `payload`: the payload ISO's file name under dist/payload, which every node's script must attach. */
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

  /**
   * Powers a node on through the script the bundle ships for it (dist/vm/<node>.sh), so what users
   * run is what boots here; `i` numbers its tap. The harness sets only the script's documented
   * environment and appends extra QEMU arguments. The first time also makes the node's tap; the
   * script makes the disk overlay (in the run's directory, VM_STATE) on the first start only.
   */
  boot(n: WrittenNode, i: number): void {
    const { r } = this;
    const tap = `tap${i}`;
    const first = !(n.name in this.powerOn);
    const script = join(r.dist, DIST.vmScript(n.name));
    if (first) {
      if (!readFileSync(script, 'utf8').includes(`"$dist/${DIST.payload(this.payload)}"`))
        throw new Error(`${script} does not attach the payload ${this.payload}`);
      addTap(r, tap);
    }
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: r.work,
      VM_STATE: r.work,
      BASE: join(guest, 'disk.img'),
      BASE_FORMAT: 'raw',
      // The run's namespace has no multicast route; the harness bridges taps instead (network.ts).
      NETDEV: `tap,ifname=${tap},script=no,downscript=no`,
      // TCG's translation cache (1 GiB by default) filled within five minutes of a smoke boot and was
      // flushed (`info jit` on the monitor): every Go binary's hot code was then translated again. 2 GiB
      // is QEMU's ceiling on x86_64 hosts; only the pages it uses take host memory.
      ACCEL: 'tcg,tb-size=2048',
      MEMORY: '3072',
      CPUS: '1',
      // Under TCG the guest sees unsynchronised TSCs and falls back to the HPET, which turns every clock read of
      // etcd, the apiserver and the kubelet into an emulated MMIO trap; tsc=reliable keeps the cheap clock.
      KERNEL: join(guest, 'vmlinuz'),
      INITRD: join(guest, 'initrd.img'),
      APPEND: 'root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=0 tsc=reliable mitigations=off',
      // The disk is thrown away after the run: ignoring flushes spares etcd's fsyncs a trip to the host's disk.
      DISK_CACHE: 'unsafe',
      // Appended, so that a node started again after its reboot keeps the log of its first boot.
      CONSOLE: r.serialLog(n.name),
      MONITOR: this.monitor(n.name),
    };
    // -no-reboot: a guest's reboot ends its QEMU and the harness starts a fresh one on the same disk. A warm
    // reset keeps the full cache of the previous boot, and QEMU 7.2 then spent ~40 ms on every store the new
    // kernel made into a page that once held code: modprobe clearing one page for minutes, soft lockups,
    // no login after 16 min (CI of 2026-11-24, reproduced here). A fresh process is a cold power cycle.
    // Guest time from the instruction count (docs/decisions.md): each guest sees a steady 1 GHz machine, so its
    // leases, renew deadlines and etcd elections measure its own progress, not how busy the host's two cores are.
    const extra = ['-no-reboot', ...(r.opts.icount === 'off' ? [] : ['-icount', `shift=${r.opts.icount},sleep=on`])];
    // `exec` in the script makes this process QEMU itself: killing it pulls the plug.
    // The script's own complaints (no BASE, qemu-img, QEMU's argument errors) land beside the console.
    const errors = join(r.work, `${n.name}.vm-stderr.log`);
    const fd = openSync(errors, 'a');
    const p = spawn('ip', ['netns', 'exec', r.ns, 'sh', script, ...extra], { stdio: ['ignore', fd, fd], env });
    closeSync(fd);
    this.vm[n.name] = p;
    p.on('exit', (code, signal) => {
      if (!this.stopping && !this.rebooting.has(n.name)) {
        const said = readFileSync(errors, 'utf8').trim().split('\n').slice(-3).join('; ');
        r.log(`${n.name}: QEMU exited on its own (${signal ?? `code ${code}`}); the node is down${said ? `: ${said}` : ''}`);
      }
    });
    if (first) this.powerOn[n.name] = Date.now();
    r.log(`powered on ${n.name} (${DIST.vmScript(n.name)})`);
  }

  /** The node's QMP socket (`info jit` and friends while a run is slow: human-monitor-command). */
  monitor(node: string): string {
    return join(this.r.work, `${node}.qmp`);
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

import type { WrittenNode } from '../../../generator/site/index.js';
import type { Machines } from './boot.js';
import { sleep, type E2eRun } from './context.js';

/**
 * Reboots one node: it comes back Ready, its pods run again, and first boot repeats nothing.
 * `tap` is the tap index the node was first booted with.
 */
export async function checkReboot(r: E2eRun, machines: Machines, rebooted: WrittenNode, tap: number): Promise<void> {
  const bootId = r.ssh(rebooted, 'cat /proc/sys/kernel/random/boot_id').stdout.trim();
  const statusBefore = r.ssh(rebooted, 'cat /var/lib/kubeseed/status.json').stdout.trim();
  const serialBefore = r.serial(rebooted.name).length;
  const tReboot = Date.now();
  machines.rebooting.add(rebooted.name);
  const old = machines.process(rebooted.name)!;
  const down = new Promise<boolean>((done) => {
    if (old.exitCode !== null || old.signalCode !== null) return done(true);
    const timer = setTimeout(() => done(false), 300_000);
    old.once('exit', () => {
      clearTimeout(timer);
      done(true);
    });
  });
  r.ssh(rebooted, 'systemctl reboot');
  r.log(`rebooting ${rebooted.name}`);
  if (await down) {
    r.log(`${rebooted.name} went down after ${((Date.now() - tReboot) / 1000).toFixed(0)} s; powering it on again`);
    machines.boot(rebooted, tap);
  } else r.log(`${rebooted.name} did not shut down within 300 s`);
  machines.rebooting.delete(rebooted.name);
  let back = false;
  let newId = '';
  for (let i = 0; i < 120 && !back; i++) {
    await sleep(5000);
    // Polled every 5 s while the node is down: a short connect timeout keeps the polls on time.
    newId = r.ssh(rebooted, 'cat /proc/sys/kernel/random/boot_id', true, 5).stdout.trim();
    if (!newId || newId === bootId) continue;
    const k = r.kubectl(['get', 'node', rebooted.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], { allowFail: true });
    const pod = r
      .kubectl(
        [
          'get',
          'pods',
          '-l',
          'app=e2e-web',
          '--field-selector',
          `spec.nodeName=${rebooted.name}`,
          '-o',
          'jsonpath={.items[*].status.phase}/{.items[*].status.containerStatuses[*].ready}',
        ],
        { allowFail: true },
      )
      .stdout.trim();
    back = k.stdout.trim() === 'True' && pod === 'Running/true';
  }
  const afterReboot = r.serial(rebooted.name).slice(serialBefore);
  r.check(
    `${rebooted.name}: back Ready with its pod running after a reboot`,
    back,
    `${((Date.now() - tReboot) / 1000).toFixed(0)} s; boot id ${bootId.slice(0, 8)} → ${newId.slice(0, 8) || 'none'}`,
  );
  // Each line reaches the serial console twice (console and journal): count names once.
  const repeated = [...new Set([...afterReboot.matchAll(/kubeseed\[[^\]]+\] step \d+\/\d+ ([a-z-]+): start/g)].map((m) => m[1]))];
  const skipped = [...new Set([...afterReboot.matchAll(/kubeseed\[[^\]]+\] step \d+\/\d+ ([a-z-]+): already done/g)].map((m) => m[1]))];
  const statusAfter = r.ssh(rebooted, 'cat /var/lib/kubeseed/status.json').stdout.trim();
  const statusWord =
    !statusBefore || !statusAfter ? `unread (${statusBefore ? 'after' : 'before'} the reboot)` : statusAfter === statusBefore ? 'unchanged' : 'changed';
  const noticed = afterReboot.includes('first boot was already complete');
  r.check(
    `${rebooted.name}: the reboot repeated no first-boot step`,
    repeated.length === 0 && skipped.length > 0 && statusWord === 'unchanged' && noticed,
    `already done: ${skipped.join(', ') || 'none'}; started again: ${repeated.join(', ') || 'none'}; status.json ${statusWord}${noticed ? '' : '; no "first boot was already complete" on the console'}`,
  );
  if (!back) console.log(r.ssh(rebooted, 'crictl pods; journalctl -b -u kubelet --no-pager | tail -n 60').stdout);
}

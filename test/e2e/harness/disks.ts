import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Machines } from './boot.js';
import type { PlannedOsPackages } from '../../../generator/model/index.js';
import { fixtureCache } from '../../helpers.js';
import { run, sleep, type E2eRun } from './context.js';
import { baseImage, checkOsPackages } from './os-packages.js';

/**
 * Powers every VM off, then reads each disk: status.json says done; a worker holds no CA private
 * key; the OS packages the image lacked came from the payload, and apt contacted no source.
 */
export async function checkDisks(r: E2eRun, machines: Machines, osPackages: PlannedOsPackages): Promise<void> {
  const base = baseImage(join(fixtureCache, 'guest-bookworm', 'disk.img'));
  machines.powerOffAll();
  await sleep(2000);
  for (const n of r.site.spec.nodes) {
    const raw = join(r.work, `${n.name}.raw`);
    run('qemu-img', ['convert', '-O', 'raw', machines.disk(n.name), raw]);
    // The VM was switched off hard: replay the ext4 journal so debugfs sees the last writes.
    run('e2fsck', ['-y', '-E', 'journal_only', raw], { allowFail: true });
    const status = run('debugfs', ['-R', 'cat /var/lib/kubeseed/status.json', raw], { allowFail: true }).stdout;
    r.check(`${n.name}: status.json says done (read from its disk)`, /"state":"done"/.test(status), status.trim().slice(0, 120));
    checkOsPackages((name, ok, detail) => r.check(name, ok, detail), n.name, raw, osPackages, base);
    if (!n.roles.includes('control-plane') && !n.roles.includes('etcd')) {
      const pki = run('debugfs', ['-R', 'ls -p /etc/kubernetes/pki', raw], { allowFail: true }).stdout;
      const etcdDir = run('debugfs', ['-R', 'ls -p /etc/kubernetes/pki/etcd', raw], { allowFail: true }).stdout;
      const keys = [...pki.matchAll(/\/([^/]+\.key)\//g)].map((m) => m[1]);
      r.check(
        `${n.name} (worker): no CA private key, no etcd or service-account key on its disk`,
        keys.length === 0 && !/\.key/.test(etcdDir),
        `keys under /etc/kubernetes/pki: ${keys.join(', ') || 'none'}`,
      );
    }
    rmSync(raw, { force: true });
  }
}

/**
 * End-to-end boot: `npm run test:e2e [-- --site test/e2e/sites/smoke2.yaml] [--reverse] [--late NODE] [--reboot NODE|none] [--icount SHIFT|off] [--timeout S] [--report FILE] [--no-os-packages] [--day2 renew|replace-member|add-worker] [--upgrade VERSION]`.
 * Builds (or reuses) the hermetic fixtures, runs the real `gen bundle`, and boots every node in
 * QEMU (software emulation) on a bridge inside a network namespace made for the run: no route
 * leads anywhere else, so a missing artifact shows up as a failure, never as a silent download.
 * Must run as root (network namespaces, tap devices).
 *
 * Phases, one module each under harness/: options, fixtures and bundle, network, boot, checks
 * (cluster, reboot, day two, disks), report.
 */
import { rmSync } from 'node:fs';
import { Machines } from './harness/boot.js';
import { bundleSite, prepareFixtures, prepareUpgradeFixtures } from './harness/bundle.js';
import { checkAllReady, checkEtcdHealth, checkFirstBootComplete, checkWorkload, controlPlaneHealth } from './harness/checks.js';
import { E2eRun } from './harness/context.js';
import { checkDisks } from './harness/disks.js';
import { checkPreflightStops } from './harness/preflight.js';
import { createNetwork, deleteNetwork } from './harness/network.js';
import { parseOptions, UsageError, USAGE, type Options } from './harness/options.js';
import { checkReboot } from './harness/reboot.js';
import { checkDay2Renew } from './harness/day2.js';
import { checkDay2ReplaceMember } from './harness/day2-members.js';
import { checkDay2AddWorker } from './harness/day2-worker.js';
import { checkUpgrade, type UpgradeFigures } from './harness/upgrade.js';
import { buildReport, printFailureLogs, writeReport } from './harness/report.js';

async function boot(r: E2eRun, machines: { current?: Machines }): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the e2e boot needs root (network namespaces, tap devices)');
  r.log('fixtures');
  prepareFixtures();
  if (r.opts.upgrade) prepareUpgradeFixtures();
  const { payload, osPackages, runSite, artifacts } = await bundleSite(r);
  createNetwork(r);

  const vms = new Machines(r, payload);
  machines.current = vms;
  const { site } = r;
  const order = r.opts.reverse ? [...site.spec.nodes].reverse() : site.spec.nodes;
  for (const [i, n] of order.entries()) {
    if (r.opts.late === n.name) {
      setTimeout(() => vms.boot(n, i), 120_000);
      continue;
    }
    vms.boot(n, i);
  }

  if (r.opts.noOsPackages) {
    await checkPreflightStops(r, vms);
    return;
  }
  const allReadyS = await checkAllReady(r, vms);
  await checkFirstBootComplete(r);
  checkEtcdHealth(r);
  await checkWorkload(r);
  const controlPlane = controlPlaneHealth(r);

  const rebootName = r.opts.reboot ?? site.spec.nodes[site.spec.nodes.length - 1]!.name;
  const rebooted = site.spec.nodes.find((n) => n.name === rebootName);
  if (rebooted && r.opts.reboot !== 'none') await checkReboot(r, vms, rebooted, order.indexOf(rebooted));

  // Before the disks are read (that powers the nodes off), after the reboot (a new bundle replaces the seeds in dist).
  if (r.opts.day2 === 'renew') await checkDay2Renew(r, runSite, artifacts);
  if (r.opts.day2 === 'replace-member') await checkDay2ReplaceMember(r, vms, runSite, artifacts);
  if (r.opts.day2 === 'add-worker') await checkDay2AddWorker(r, vms, runSite, artifacts);
  let upgrade: UpgradeFigures | null = null;
  if (r.opts.upgrade) upgrade = await checkUpgrade(r, runSite, r.opts.upgrade);

  await checkDisks(r, vms, osPackages);
  writeReport(r, buildReport(r, { reboot: r.opts.reboot === 'none' ? null : rebootName, lastPowerOnToAllReadySeconds: allReadyS, controlPlane, upgrade }));
}

async function main(opts: Options): Promise<void> {
  const r = new E2eRun(opts);
  const machines: { current?: Machines } = {};
  const cleanup = () => {
    machines.current?.powerOffAll();
    deleteNetwork(r);
    if (!opts.keep && !r.failed) rmSync(r.work, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    await boot(r, machines);
  } catch (e) {
    r.check('harness', false, (e as Error).message);
  }
  if (r.failed) printFailureLogs(r);
  cleanup();
  const passed = r.results.filter((x) => x.ok).length;
  console.log(`${passed} passed, ${r.results.length - passed} failed`);
  process.exitCode = !r.failed && r.results.length > 0 ? 0 : 1;
}

let opts: Options | undefined;
try {
  opts = parseOptions(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`${e.message}\n(npm run test:e2e -- --help lists the options)`);
  process.exit(2);
}
if (opts) await main(opts);
else console.log(USAGE);

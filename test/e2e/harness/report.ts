import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { E2eRun } from './context.js';

/** What the run measured besides its checks. */
export interface Measured {
  /** The node rebooted, or null when --reboot none. */
  reboot: string | null;
  lastPowerOnToAllReadySeconds: number;
  controlPlane: Record<string, string>;
  /** --upgrade's figures (harness/upgrade.ts), or null. */
  upgrade?: object | null;
}

/** report.json: the run's options, its figures, each node's first-boot step times and every check. */
export function buildReport(r: E2eRun, m: Measured) {
  const steps: Record<string, Record<string, number>> = {};
  for (const n of r.site.spec.nodes) {
    steps[n.name] = Object.fromEntries(
      [...r.serial(n.name).matchAll(/kubeseed\[[^\]]+\] step \d+\/\d+ ([a-z-]+): done in (\d+) s/g)].map((x) => [x[1]!, Number(x[2])]),
    );
  }
  const { opts } = r;
  return {
    site: r.site.metadata.name,
    reboot: m.reboot,
    nodes: r.site.spec.nodes.length,
    order: opts.reverse ? 'reverse' : 'normal',
    late: opts.late ?? null,
    lastPowerOnToAllReadySeconds: Math.round(m.lastPowerOnToAllReadySeconds),
    guestClock: opts.icount === 'off' ? 'host' : `icount shift=${opts.icount}`,
    stepGuestSeconds: steps,
    controlPlane: m.controlPlane,
    ...(m.upgrade ? { upgrade: m.upgrade } : {}),
    checks: r.results,
  };
}

/** Into the run's directory, to --report if given, and on stdout. */
export function writeReport(r: E2eRun, report: ReturnType<typeof buildReport>): void {
  const text = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(join(r.work, 'report.json'), text);
  if (r.opts.report) writeFileSync(resolve(r.opts.report), text);
  console.log(JSON.stringify(report, null, 2));
}

/** After a failure: the tail of each node's serial console, and where the whole run was kept. */
export function printFailureLogs(r: E2eRun): void {
  for (const n of r.site.spec.nodes) {
    const f = r.serialLog(n.name);
    if (existsSync(f)) console.log(`--- tail of ${n.name}'s serial log ---\n${readFileSync(f, 'utf8').split('\n').slice(-40).join('\n')}`);
  }
  console.log(`logs kept in ${r.work}`);
}

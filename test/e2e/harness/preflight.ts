import type { Machines } from './boot.js';
import { pollUntil, sleep, type E2eRun } from './context.js';
import { PREFLIGHT_MISSING } from './os-packages.js';

/**
 * --no-os-packages: every node boots the stock image with a payload that carries none of the OS
 * packages it needs. Its first boot must stop at the preflight, before any step that changes the
 * host, within 30 s of guest time of its start, naming each missing package (console, status.json).
 */
export async function checkPreflightStops(r: E2eRun, machines: Machines): Promise<void> {
  const stopped = (n: string) => new RegExp(`kubeseed\\[${n}\\] step \\d+-preflight failed`).test(r.serial(n));
  await pollUntil(r.opts.timeoutS * 1000, () => r.site.spec.nodes.every((n) => stopped(n.name)));
  const wall = (Date.now() - Math.min(...Object.values(machines.powerOn))) / 1000;
  // What an operator sees on the node: kubeseed-status (status.json and the units), asked over ssh;
  // the disk is read after a sync, since the VM is switched off hard.
  const seen: Record<string, string> = {};
  for (const n of r.site.spec.nodes) seen[n.name] = r.ssh(n, 'sync; kubeseed-status; echo; ls /var/lib/kubeseed/steps').stdout;
  machines.powerOffAll();
  await sleep(2000);
  for (const n of r.site.spec.nodes) {
    const text = seen[n.name] ?? '';
    const json = /^\{.*\}$/m.exec(text)?.[0] ?? '{}';
    const status = JSON.parse(json) as {
      state?: string;
      step?: string;
      detail?: string;
      updated?: number;
      steps?: Record<string, { start: number; end: number | null }>;
    };
    const preflight = Object.entries(status.steps ?? {}).find(([k]) => k.endsWith('-preflight'))?.[1];
    const guestSeconds = (status.updated ?? Infinity) - Math.min(...Object.values(status.steps ?? {}).map((x) => x.start));
    const named = PREFLIGHT_MISSING.filter((p) => (status.detail ?? '').includes(`(package ${p};`));
    const later = /prepare-os/.test(text);
    r.check(
      `${n.name}: first boot stops at the preflight within 30 s of guest time, naming the missing packages (kubeseed-status)`,
      stopped(n.name) &&
        status.state === 'failed' &&
        /-preflight$/.test(status.step ?? '') &&
        guestSeconds < 30 &&
        named.length === PREFLIGHT_MISSING.length &&
        !later,
      `state ${status.state ?? 'unread'} at ${status.step ?? '-'}; ${guestSeconds} guest s from first boot's start, the preflight itself ${preflight ? (status.updated ?? 0) - preflight.start : '-'} s; named: ${named.join(', ') || 'none'}; a later step started: ${later ? 'yes' : 'no'}; ${(status.detail ?? '').slice(0, 600)}`,
    );
  }
  r.log(`every node stopped at its preflight ${wall.toFixed(0)} s (host) after the first power-on`);
}

import { appendFileSync } from 'node:fs';

/**
 * Fault injection for the crash tests, inert unless a test sets the variables:
 * `KUBESEED_TEST_CRASH_AT=<point>#<n>` kills this process with SIGKILL (no cleanup, no finally,
 * like kill -9 or a power cut) the n-th time it reaches `<point>`;
 * `KUBESEED_TEST_CRASH_LOG=<file>` appends every point reached, so a test can enumerate them.
 */
const seen = new Map<string, number>();

export function crashPoint(name: string): void {
  const at = process.env.KUBESEED_TEST_CRASH_AT;
  const log = process.env.KUBESEED_TEST_CRASH_LOG;
  if (!at && !log) return;
  const n = (seen.get(name) ?? 0) + 1;
  seen.set(name, n);
  if (log) appendFileSync(log, `${name}#${n}\n`);
  if (at === `${name}#${n}`) {
    process.kill(process.pid, 'SIGKILL');
    // The signal is delivered on the way out of the kernel; nothing may run meanwhile.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
  }
}

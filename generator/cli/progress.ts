import type { FetchEvents } from '../fetch/artifacts.js';
import type { Streams } from './output.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

interface Active {
  total: number | null;
  bytes: number;
  started: number;
}

/**
 * Fetch progress. On a terminal: one bar per active transfer and a totals line (bytes, rate,
 * ETA), redrawn in place. Otherwise: one line per finished item, nothing in between.
 */
export function progressReporter(s: Streams, count: number, now: () => number = () => Date.now()): FetchEvents & { finish(): void } {
  const live = Boolean(s.errTty) && s.errRaw !== undefined;
  const active = new Map<string, Active>();
  const begun = now();
  let doneItems = 0;
  let bytes = 0;
  let drawn = 0;
  let timer: NodeJS.Timeout | null = null;

  const clear = () => {
    if (live && drawn) s.errRaw!(`\u001b[${drawn}A\u001b[0J`);
    drawn = 0;
  };
  const draw = () => {
    if (!live) return;
    clear();
    const elapsed = Math.max((now() - begun) / 1000, 0.001);
    const rate = bytes / elapsed;
    const lines = [...active].map(([id, a]) => {
      const width = 24;
      const frac = a.total ? Math.min(a.bytes / a.total, 1) : 0;
      const bar = a.total ? `[${'#'.repeat(Math.round(frac * width)).padEnd(width, '-')}]` : `[${'?'.repeat(3).padEnd(width, ' ')}]`;
      return `  ${id.slice(0, 40).padEnd(40)} ${bar} ${formatBytes(a.bytes)}${a.total ? ` / ${formatBytes(a.total)}` : ''}`;
    });
    const remaining = [...active.values()].reduce((sum, a) => sum + (a.total ? Math.max(a.total - a.bytes, 0) : 0), 0);
    const eta = rate > 0 && remaining > 0 ? ` ETA ${Math.ceil(remaining / rate)} s` : '';
    lines.push(`  ${doneItems}/${count} done, ${formatBytes(bytes)} at ${formatBytes(rate)}/s${eta}`);
    s.errRaw!(`${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  const schedule = () => {
    if (live && !timer) timer = setTimeout(() => ((timer = null), draw()), 100);
  };
  const line = (text: string) => {
    clear();
    s.err(text);
    if (live) draw();
  };

  return {
    start(id, total) {
      active.set(id, { total, bytes: 0, started: now() });
      schedule();
    },
    bytes(id, n) {
      const a = active.get(id);
      if (a) a.bytes += n;
      bytes += n;
      schedule();
    },
    retry(id, why, attempt) {
      line(`  retry ${attempt} ${id}: ${why}`);
    },
    done(id, r) {
      const a = active.get(id);
      active.delete(id);
      doneItems++;
      const secs = a ? ` in ${((now() - a.started) / 1000).toFixed(1)} s` : '';
      line(
        `  ${r.cached ? 'cached     ' : 'downloaded '} ${id}  ${formatBytes(r.size)}${r.cached ? '' : ` (${formatBytes(r.transferred)} transferred${secs})`}`,
      );
    },
    more(n) {
      count += n;
      schedule();
    },
    finish() {
      if (timer) clearTimeout(timer);
      timer = null;
      clear();
    },
  };
}

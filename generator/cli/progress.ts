import type { FetchEvents } from '../fetch/artifacts.js';
import { formatBytes } from '../text/bytes.js';
import type { Streams } from './output.js';

export { formatBytes };

interface Active {
  total: number | null;
  bytes: number;
  started: number;
  /** When the last progress line was written (off a terminal). */
  said: number;
}

/** Off a terminal, a transfer at least this large (or of unknown size) gets a progress line every `EVERY_MS`. */
const LARGE = 16 * 1024 * 1024;
const EVERY_MS = 10_000;

/**
 * Fetch progress. On a terminal: one bar per active transfer and a totals line (bytes, rate,
 * ETA), redrawn in place. Otherwise: one line per finished item, and a line every 10 s for a
 * large one still under way. The size comes from the lock, or from the server's Content-Length
 * on a first download.
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
  const eta = (a: Active, at: number) => {
    const rate = a.bytes / Math.max((at - a.started) / 1000, 0.001);
    return a.total && rate > 0 && a.total > a.bytes ? Math.ceil((a.total - a.bytes) / rate) : null;
  };
  const draw = () => {
    if (!live) return;
    clear();
    const at = now();
    const elapsed = Math.max((at - begun) / 1000, 0.001);
    const rate = bytes / elapsed;
    const lines = [...active].map(([id, a]) => {
      const width = 24;
      const frac = a.total ? Math.min(a.bytes / a.total, 1) : 0;
      const bar = a.total ? `[${'#'.repeat(Math.round(frac * width)).padEnd(width, '-')}]` : `[${'?'.repeat(3).padEnd(width, ' ')}]`;
      const left = eta(a, at);
      return `  ${id.slice(0, 40).padEnd(40)} ${bar} ${formatBytes(a.bytes)}${a.total ? ` / ${formatBytes(a.total)} ${Math.floor(frac * 100)}%` : ''}${left !== null ? ` ETA ${left} s` : ''}`;
    });
    const remaining = [...active.values()].reduce((sum, a) => sum + (a.total ? Math.max(a.total - a.bytes, 0) : 0), 0);
    const totalEta = rate > 0 && remaining > 0 ? ` ETA ${Math.ceil(remaining / rate)} s` : '';
    lines.push(`  ${doneItems}/${count} done, ${formatBytes(bytes)} at ${formatBytes(rate)}/s${totalEta}`);
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
  /** Off a terminal: where a large transfer stands, now and then. */
  const report = (id: string, a: Active) => {
    const at = now();
    if (live || at - a.said < EVERY_MS || (a.total !== null && a.total < LARGE)) return;
    a.said = at;
    const left = eta(a, at);
    const pct = a.total ? ` ${Math.floor((a.bytes / a.total) * 100)}%` : '';
    line(`  ...         ${id}  ${formatBytes(a.bytes)}${a.total ? ` of ${formatBytes(a.total)}` : ''}${pct}${left !== null ? `, ETA ${left} s` : ''}`);
  };

  return {
    start(id, total) {
      const at = now();
      active.set(id, { total, bytes: 0, started: at, said: at });
      schedule();
    },
    total(id, total) {
      const a = active.get(id);
      if (a) a.total = total;
      schedule();
    },
    bytes(id, n) {
      const a = active.get(id);
      if (a) a.bytes += n;
      bytes += n;
      if (a) report(id, a);
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

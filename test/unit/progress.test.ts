import test from 'ava';
import { formatBytes, progressReporter } from '../../generator/cli/progress.js';
import type { Streams } from '../../generator/cli/output.js';

function streams(tty: boolean) {
  const raw: string[] = [];
  const lines: string[] = [];
  const s: Streams = {
    out: () => undefined,
    err: (l) => lines.push(l),
    color: false,
    cwd: '/',
    errTty: tty,
    ...(tty ? { errRaw: (x: string) => raw.push(x) } : {}),
  };
  return { s, raw, lines };
}

test('off a terminal: one line per finished artifact, nothing while bytes arrive', (t) => {
  const { s, lines } = streams(false);
  let clock = 0;
  const p = progressReporter(s, 2, () => clock);
  p.start('kubelet@v1.34.2/amd64', 1000);
  p.bytes('kubelet@v1.34.2/amd64', 600);
  p.retry('kubelet@v1.34.2/amd64', 'HTTP 503', 1);
  p.bytes('kubelet@v1.34.2/amd64', 400);
  clock = 2000;
  p.done('kubelet@v1.34.2/amd64', { size: 1000, transferred: 1000, cached: false });
  p.done('etcd@v3.5.25/amd64', { size: 2048, transferred: 0, cached: true });
  p.finish();
  t.deepEqual(lines, [
    '  retry 1 kubelet@v1.34.2/amd64: HTTP 503',
    '  downloaded  kubelet@v1.34.2/amd64  1000 B (1000 B transferred in 2.0 s)',
    '  cached      etcd@v3.5.25/amd64  2.0 KiB',
  ]);
});

test('on a terminal: a bar per active transfer and a totals line with rate and ETA, redrawn in place', async (t) => {
  const { s, raw } = streams(true);
  let clock = 0;
  const p = progressReporter(s, 3, () => clock);
  p.start('a', 4 * 1024 * 1024);
  p.start('b', null);
  clock = 1000;
  p.bytes('a', 1024 * 1024);
  p.bytes('b', 512);
  await new Promise((r) => setTimeout(r, 150));
  const frame = raw.join('');
  t.regex(frame, / {2}a {39} \[#{6}-{18}\] 1\.0 MiB \/ 4\.0 MiB/);
  t.regex(frame, / {2}b {39} \[\?\?\? {21}\] 512 B/);
  t.regex(frame, /0\/3 done, 1\.0 MiB at 1\.0 MiB\/s ETA 3 s/);
  p.done('a', { size: 4, transferred: 4, cached: false });
  t.true(raw.join('').includes('\u001b[3A\u001b[0J'), 'the previous frame is erased before a line is printed');
  p.finish();
});

test('byte sizes', (t) => {
  t.is(formatBytes(0), '0 B');
  t.is(formatBytes(1536), '1.5 KiB');
  t.is(formatBytes(3 * 1024 ** 3), '3.0 GiB');
});

test('off a terminal: a large transfer reports where it stands every 10 s, with the size the server announced (percentage, ETA); a small one does not', (t) => {
  const { s, lines } = streams(false);
  let clock = 0;
  const p = progressReporter(s, 2, () => clock);
  const MiB = 1024 * 1024;
  p.start('kubelet@v1.37.1/amd64', null);
  p.total!('kubelet@v1.37.1/amd64', 100 * MiB);
  p.start('crictl@v1.36.0/amd64', null);
  p.total!('crictl@v1.36.0/amd64', MiB);
  clock = 5000;
  p.bytes('kubelet@v1.37.1/amd64', 10 * MiB);
  t.deepEqual(lines, [], 'nothing before 10 s');
  clock = 10_000;
  p.bytes('kubelet@v1.37.1/amd64', 15 * MiB);
  p.bytes('crictl@v1.36.0/amd64', MiB / 2);
  clock = 15_000;
  p.bytes('kubelet@v1.37.1/amd64', 5 * MiB);
  t.deepEqual(lines, ['  ...         kubelet@v1.37.1/amd64  25.0 MiB of 100.0 MiB 25%, ETA 30 s']);
  clock = 20_000;
  p.bytes('kubelet@v1.37.1/amd64', 10 * MiB);
  t.is(lines[1], '  ...         kubelet@v1.37.1/amd64  40.0 MiB of 100.0 MiB 40%, ETA 30 s');
  p.finish();
});

test("on a terminal: a first download's Content-Length gives its bar a percentage and an ETA", async (t) => {
  const { s, raw } = streams(true);
  let clock = 0;
  const p = progressReporter(s, 1, () => clock);
  p.start('etcd@v3.6.14/amd64', null);
  p.total!('etcd@v3.6.14/amd64', 4 * 1024 * 1024);
  clock = 1000;
  p.bytes('etcd@v3.6.14/amd64', 1024 * 1024);
  await new Promise((r) => setTimeout(r, 150));
  t.regex(raw.join(''), /etcd@v3\.6\.14\/amd64 +\[#{6}-{18}\] 1\.0 MiB \/ 4\.0 MiB 25% ETA 3 s/);
  p.finish();
});

// Pack benchmark (issue #6): our ISO writer against `xorriso -as mkisofs` and our tar writer
// against GNU tar on the same 2 GiB tree, measured in the same run, plus the wall time of a
// no-change re-run of `gen bundle --site lab1 --skip-payload`. Targets: >= 0.8 of the reference
// throughput; the re-run under 2 s.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { diskFile, writeIsoTo, writeTarTo } from '../../dist/generator/pack/files.js';

const repo = new URL('../../', import.meta.url).pathname;
const GIB = 1024 ** 3;
const total = Number(process.env.BENCH_PACK_BYTES ?? 2 * GIB);
const dir = mkdtempSync(join(tmpdir(), 'bench-pack-'));
const tree = join(dir, 'tree');
mkdirSync(join(tree, 'images'), { recursive: true });
// Incompressible data in files of the payload's sizes: a few large archives, several binaries.
const sizes = [];
for (let left = total, i = 0; left > 0; i++) {
  const s = Math.min(left, i % 4 === 0 ? 512 * 1024 ** 2 : 96 * 1024 ** 2);
  sizes.push(s);
  left -= s;
}
const block = randomBytes(16 * 1024 ** 2);
sizes.forEach((s, i) => {
  const p = join(tree, i % 4 === 0 ? 'images' : '', `file-${i}.bin`);
  const chunks = [];
  for (let w = 0; w < s; w += block.length) chunks.push(block.subarray(0, Math.min(block.length, s - w)));
  writeFileSync(p, Buffer.concat(chunks));
});
execFileSync('sync');
const files = [];
for (const e of readdirSync(tree, { recursive: true, withFileTypes: true })) {
  if (e.isFile()) {
    const abs = join(e.parentPath, e.name);
    files.push(await diskFile(abs.slice(tree.length + 1), abs, 0o644));
  }
}
const bytes = files.reduce((s, f) => s + f.size, 0);
const time = async (fn) => {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
};
const mb = (s) => (bytes / s / 1e6).toFixed(0);
const rows = [['work', 'kubeseed s', 'reference s', 'kubeseed MB/s', 'reference MB/s', 'throughput ratio', 'target']];
/** Best of three, the two tools alternating, each output synced to disk and removed: no order bias. */
async function compare(ours, ref, outOurs, outRef) {
  let a = Infinity;
  let b = Infinity;
  for (let i = 0; i < 3; i++) {
    for (const [fn, out, set] of [
      [ours, outOurs, (v) => (a = Math.min(a, v))],
      [ref, outRef, (v) => (b = Math.min(b, v))],
    ]) {
      execFileSync('sync');
      set(
        await time(async () => {
          await fn();
          execFileSync('sync');
        }),
      );
      rmSync(out, { force: true });
    }
  }
  return [a, b];
}
const [isoOurs, isoRef] = await compare(
  () => writeIsoTo(join(dir, 'ours.iso'), files, { volumeId: 'KSPAYLOAD', mtime: 0 }),
  async () => execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-V', 'KSPAYLOAD', '-o', join(dir, 'ref.iso'), tree], { stdio: 'ignore' }),
  join(dir, 'ours.iso'),
  join(dir, 'ref.iso'),
);
rows.push([
  'ISO 9660 + RR + Joliet',
  isoOurs.toFixed(2),
  isoRef.toFixed(2),
  mb(isoOurs),
  mb(isoRef),
  (isoRef / isoOurs).toFixed(2),
  `>= 0.8: ${isoRef / isoOurs >= 0.8 ? 'met' : 'MISSED'}`,
]);
const [tarOurs, tarRef] = await compare(
  () => writeTarTo(join(dir, 'ours.tar'), files, 0, false),
  async () =>
    execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-cf', join(dir, 'ref.tar'), '-C', tree, '.'], {
      stdio: 'ignore',
    }),
  join(dir, 'ours.tar'),
  join(dir, 'ref.tar'),
);
rows.push([
  'tar',
  tarOurs.toFixed(2),
  tarRef.toFixed(2),
  mb(tarOurs),
  mb(tarRef),
  (tarRef / tarOurs).toFixed(2),
  `>= 0.8: ${tarRef / tarOurs >= 0.8 ? 'met' : 'MISSED'}`,
]);
rmSync(dir, { recursive: true, force: true });

const cwd = mkdtempSync(join(tmpdir(), 'bench-bundle-'));
const gen = (args) => spawnSync(process.execPath, [join(repo, 'dist/generator/cli/main.js'), ...args], { cwd, stdio: 'ignore' });
gen(['bundle', '--site', 'lab1', '--skip-payload']);
const rerun = await time(async () => gen(['bundle', '--site', 'lab1', '--skip-payload']));
rows.push(['gen bundle lab1 re-run (no change)', rerun.toFixed(2), '-', '-', '-', '-', `< 2 s: ${rerun < 2 ? 'met' : 'MISSED'}`]);
rmSync(cwd, { recursive: true, force: true });

console.log(
  `\nPacking ${(bytes / GIB).toFixed(2)} GiB in ${files.length} files, output synced to disk, best of 3 alternating runs (ratio = reference time / our time, higher is better)`,
);
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));

import test from 'ava';
import { spawn } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openState } from '../../generator/io/state.js';
import { cliPath } from '../helpers.js';
import { flattenState } from '../pki-fixture.js';
import { cleanup, listing, makeWork, type Work } from '../state-fixture.js';

/**
 * Issue #19: kill -9 (SIGKILL from the io layer's fault-injection hook) at every write, rename and
 * removal point of the first `gen certs`, of `gen certs --renew` and of `gen bundle`'s dist swap
 * (and of `--rotate-ca` and of adopting a state from before revisions).
 * After each kill the state is either the old one or the new one, never a mix, and a following
 * run succeeds and leaves nothing behind.
 *
 * The points of a run are enumerated from the hook's log. Within one commit, the writes of the
 * staging revision (one point per member) all leave the same kind of leftover; every occurrence
 * is killed when KUBESEED_CRASH_EXHAUSTIVE=1, else the first, second, middle and last (every
 * other point, every occurrence).
 */

const roots: string[] = [];
test.after.always(() => cleanup(roots));
const exhaustive = process.env.KUBESEED_CRASH_EXHAUSTIVE === '1';
const PARALLEL = 3;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function gen(w: Work, cwd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, args[0]!, ...w.args, ...args.slice(1)], { cwd, env: { ...process.env, NO_COLOR: '1', ...env } });
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

/** The points a run passes, in order (`name#n`). */
async function pointsOf(w: Work, cwd: string, args: string[]): Promise<string[]> {
  const log = join(cwd, 'crash-points.log');
  const r = await gen(w, cwd, args, { KUBESEED_TEST_CRASH_LOG: log });
  if (r.code !== 0) throw new Error(r.stderr);
  const points = readFileSync(log, 'utf8').trim().split('\n');
  rmSync(log);
  return points;
}

function select(points: string[]): string[] {
  if (exhaustive) return points;
  const members = points.filter((p) => p.startsWith('state-member-written#'));
  const keep = new Set([members[0], members[1], members[Math.floor(members.length / 2)], members.at(-1)]);
  return points.filter((p) => !p.startsWith('state-member-written#') || keep.has(p));
}

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let x = queue.shift(); x !== undefined; x = queue.shift()) await fn(x);
    }),
  );
}

/** What the next run will see in a copy of the state (openState finishes or discards leftovers). */
async function seen(stateDir: string): Promise<Awaited<ReturnType<typeof openState>>> {
  const copy = mkdtempSync(join(tmpdir(), 'kubeseed-crash-seen-'));
  roots.push(copy);
  cpSync(stateDir, join(copy, 'state'), { recursive: true, verbatimSymlinks: true });
  return openState(join(copy, 'state'));
}

/** Staging, half-made links and revisions other than the committed one. */
const leftovers = (dir: string) => {
  const current = readlinkSync(join(dir, 'current'));
  return readdirSync(dir).filter((n) => n.startsWith('.staging-') || n.startsWith('.current-') || (/^rev-\d+$/.test(n) && n !== current));
};

test('kill -9 at every point of the first gen certs: no state or the whole new one; the next run succeeds', async (t) => {
  t.timeout(20 * 60_000);
  const w = makeWork(roots);
  const points = await pointsOf(w, mkdtempSync(join(w.dir, 'probe-')), ['certs']);
  const chosen = select(points);
  t.log(`first gen certs: ${points.length} points, ${chosen.length} killed`);
  await pool(chosen, PARALLEL, async (point) => {
    const cwd = mkdtempSync(join(w.dir, 'k-'));
    const state = join(cwd, 'output/lab1/state');
    const killed = await gen(w, cwd, ['certs'], { KUBESEED_TEST_CRASH_AT: point });
    t.is(killed.signal, 'SIGKILL', `${point}: killed`);
    const after = await seen(state);
    t.deepEqual(after.damage, [], `${point}: no damage`);
    t.true(
      after.layout === 'empty' || (after.layout === 'revision' && after.files.size === 59),
      `${point}: old (nothing) or new (59 files), saw ${after.layout} ${after.files.size}`,
    );
    const caAfterKill = after.files.get('pki/ca.crt');
    const next = await gen(w, cwd, ['certs']);
    t.is(next.code, 0, `${point}: ${next.stderr}`);
    const final = await openState(state);
    t.is(final.files.size, 59);
    if (caAfterKill) t.is(final.files.get('pki/ca.crt'), caAfterKill, `${point}: a committed CA is kept`);
    t.deepEqual(leftovers(state), [], `${point}: nothing left behind`);
    rmSync(cwd, { recursive: true, force: true });
  });
});

test('kill -9 at every point of gen certs --renew: the old leaves or all new ones, never a mix; the next run succeeds', async (t) => {
  t.timeout(20 * 60_000);
  const w = makeWork(roots);
  const template = mkdtempSync(join(w.dir, 'template-'));
  t.is((await gen(w, template, ['certs'])).code, 0);
  const old = (await openState(join(template, 'output/lab1/state'))).files;
  const probe = mkdtempSync(join(w.dir, 'probe-'));
  cpSync(template, probe, { recursive: true, verbatimSymlinks: true });
  const points = await pointsOf(w, probe, ['certs', '--renew']);
  const chosen = select(points);
  t.log(`gen certs --renew: ${points.length} points, ${chosen.length} killed`);
  const leaves = [...old.keys()].filter((p) => p.endsWith('.crt') && !/(^|\/)(ca|etcd-ca|front-proxy-ca)\.crt$/.test(p));
  await pool(chosen, PARALLEL, async (point) => {
    const cwd = mkdtempSync(join(w.dir, 'k-'));
    cpSync(template, cwd, { recursive: true, verbatimSymlinks: true });
    const state = join(cwd, 'output/lab1/state');
    const killed = await gen(w, cwd, ['certs', '--renew'], { KUBESEED_TEST_CRASH_AT: point });
    t.is(killed.signal, 'SIGKILL', `${point}: killed`);
    const after = await seen(state);
    t.deepEqual(after.damage, [], `${point}: no damage`);
    t.is(after.files.size, 59, point);
    const renewed = leaves.filter((p) => after.files.get(p) !== old.get(p));
    t.true(renewed.length === 0 || renewed.length === leaves.length, `${point}: ${renewed.length} of ${leaves.length} leaves new`);
    for (const ca of ['pki/ca.crt', 'pki/ca.key', 'pki/sa.key', 'secrets/encryption-key', 'secrets/bootstrap-token'])
      t.is(after.files.get(ca), old.get(ca), `${point}: ${ca} kept`);
    for (const p of leaves)
      t.true(
        new X509Certificate(after.files.get(p)!).checkPrivateKey(createPrivateKey(after.files.get(p.replace(/\.crt$/, '.key'))!)),
        `${point}: ${p} matches its key`,
      );
    const next = await gen(w, cwd, ['certs']);
    t.is(next.code, 0, `${point}: ${next.stderr}`);
    t.deepEqual(leftovers(state), [], `${point}: nothing left behind`);
    rmSync(cwd, { recursive: true, force: true });
  });
});

test('kill -9 at every point of the dist swap: the old bundle or the new one; the next run publishes the new one', async (t) => {
  t.timeout(20 * 60_000);
  const w = makeWork(roots);
  const template = mkdtempSync(join(w.dir, 'template-'));
  t.is((await gen(w, template, ['bundle', '--skip-payload'])).code, 0);
  const oldDist = listing(join(template, 'output/lab1/dist'));
  // The next bundle differs: another time zone on every node.
  const changedSite = readFileSync(w.site, 'utf8').replace(/timezone: \S+/, 'timezone: Europe/Berlin');
  writeFileSync(w.site, changedSite);
  const probe = mkdtempSync(join(w.dir, 'probe-'));
  cpSync(template, probe, { recursive: true, verbatimSymlinks: true });
  const points = await pointsOf(w, probe, ['bundle', '--skip-payload']);
  const newDist = listing(join(probe, 'output/lab1/dist'));
  t.notDeepEqual(newDist, oldDist);
  t.true(
    points.every((p) => p.startsWith('dist-')),
    `only dist points: ${points.join(' ')}`,
  );
  t.log(`gen bundle (dist swap): ${points.length} points, all killed`);
  await pool(points, PARALLEL, async (point) => {
    const cwd = mkdtempSync(join(w.dir, 'k-'));
    cpSync(template, cwd, { recursive: true, verbatimSymlinks: true });
    const out = join(cwd, 'output/lab1');
    const killed = await gen(w, cwd, ['bundle', '--skip-payload'], { KUBESEED_TEST_CRASH_AT: point });
    t.is(killed.signal, 'SIGKILL', `${point}: killed`);
    const dist = join(out, 'dist');
    if (existsSync(dist)) {
      const now = listing(dist);
      t.true(JSON.stringify(now) === JSON.stringify(oldDist) || JSON.stringify(now) === JSON.stringify(newDist), `${point}: dist is the old or the new bundle`);
    } else {
      // Between the two renames: the old bundle is whole under dist.old-<pid>.
      const aside = readdirSync(out).filter((n) => /^dist\.old-\d+$/.test(n));
      t.is(aside.length, 1, `${point}: the old bundle moved aside`);
      t.deepEqual(listing(join(out, aside[0]!)), oldDist, `${point}: and whole`);
    }
    const next = await gen(w, cwd, ['bundle', '--skip-payload']);
    t.is(next.code, 0, `${point}: ${next.stderr}`);
    t.deepEqual(listing(dist), newDist, `${point}: the next run publishes the new bundle`);
    t.deepEqual(
      readdirSync(out).filter((n) => n.startsWith('dist.old-') || n.startsWith('.dist-staging-')),
      [],
      `${point}: nothing left behind`,
    );
    rmSync(cwd, { recursive: true, force: true });
  });
});

test('kill -9 at every point of gen certs --rotate-ca: the old PKI or the whole new one; the next run succeeds', async (t) => {
  t.timeout(20 * 60_000);
  const w = makeWork(roots);
  const template = mkdtempSync(join(w.dir, 'template-'));
  t.is((await gen(w, template, ['certs'])).code, 0);
  const old = (await openState(join(template, 'output/lab1/state'))).files;
  const probe = mkdtempSync(join(w.dir, 'probe-'));
  cpSync(template, probe, { recursive: true, verbatimSymlinks: true });
  const points = await pointsOf(w, probe, ['certs', '--rotate-ca']);
  const chosen = select(points);
  t.log(`gen certs --rotate-ca: ${points.length} points, ${chosen.length} killed`);
  await pool(chosen, PARALLEL, async (point) => {
    const cwd = mkdtempSync(join(w.dir, 'k-'));
    cpSync(template, cwd, { recursive: true, verbatimSymlinks: true });
    const state = join(cwd, 'output/lab1/state');
    const killed = await gen(w, cwd, ['certs', '--rotate-ca'], { KUBESEED_TEST_CRASH_AT: point });
    t.is(killed.signal, 'SIGKILL', `${point}: killed`);
    const after = await seen(state);
    t.deepEqual(after.damage, [], `${point}: no damage`);
    t.is(after.files.size, 59, point);
    const changed = [...old.keys()].filter((p) => after.files.get(p) !== old.get(p));
    t.true(changed.length === 0 || after.files.get('pki/ca.crt') !== old.get('pki/ca.crt'), `${point}: old, or new with a new CA`);
    if (changed.length)
      t.true(
        ['pki/ca.key', 'pki/etcd-ca.key', 'pki/sa.key', 'secrets/encryption-key'].every((p) => after.files.get(p) !== old.get(p)),
        `${point}: all new`,
      );
    const next = await gen(w, cwd, ['certs']);
    t.is(next.code, 0, `${point}: ${next.stderr}`);
    t.deepEqual(leftovers(state), [], `${point}: nothing left behind`);
    t.deepEqual(
      readdirSync(join(cwd, 'output/lab1')).filter((n) => n.includes('.partial-')),
      [],
      `${point}: no half copy`,
    );
    rmSync(cwd, { recursive: true, force: true });
  });
});

test('kill -9 at every point of adopting a state from before revisions: the loose files or the revision, same content', async (t) => {
  t.timeout(20 * 60_000);
  const w = makeWork(roots);
  const template = mkdtempSync(join(w.dir, 'template-'));
  t.is((await gen(w, template, ['certs'])).code, 0);
  flattenState(join(template, 'output/lab1/state'));
  const old = (await openState(join(template, 'output/lab1/state'))).files;
  t.is(old.size, 59);
  const probe = mkdtempSync(join(w.dir, 'probe-'));
  cpSync(template, probe, { recursive: true, verbatimSymlinks: true });
  const points = await pointsOf(w, probe, ['certs']);
  const chosen = select(points);
  t.log(`adoption: ${points.length} points, ${chosen.length} killed`);
  await pool(chosen, PARALLEL, async (point) => {
    const cwd = mkdtempSync(join(w.dir, 'k-'));
    cpSync(template, cwd, { recursive: true, verbatimSymlinks: true });
    const state = join(cwd, 'output/lab1/state');
    const killed = await gen(w, cwd, ['certs'], { KUBESEED_TEST_CRASH_AT: point });
    t.is(killed.signal, 'SIGKILL', `${point}: killed`);
    const after = await seen(state);
    t.deepEqual(after.damage, [], `${point}: no damage`);
    t.deepEqual(new Map([...after.files].sort()), new Map([...old].sort()), `${point}: the same files, loose or in a revision`);
    const next = await gen(w, cwd, ['certs']);
    t.is(next.code, 0, `${point}: ${next.stderr}`);
    t.deepEqual(leftovers(state), [], `${point}: nothing left behind`);
    t.false(existsSync(join(state, 'pki')), `${point}: no loose files after the next run`);
    rmSync(cwd, { recursive: true, force: true });
  });
});

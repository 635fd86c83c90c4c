import test from 'ava';
import type { FetchEvents } from '../../generator/fetch/artifacts.js';
import type { BundlePlan } from '../../generator/model/index.js';
import { fetchSite } from '../../generator/pipeline/fetch.js';
import { fetchFixture, fetchOptions, serveArtifacts } from '../fetch-fixture.js';
import { runCliAsync } from '../helpers.js';
import { tempDirs } from '../temp.js';
import { UpstreamServer } from '../upstream-server.js';

/** Issue #21 item 4: download sizes in gen plan (lock, or HEAD with --sizes) and from Content-Length on a first fetch. */

const tmp = tempDirs('kubeseed-sizes-');

type PlanOut = BundlePlan & { downloads: { bytes: number; artifacts: { known: number; unknown: string[] } } };

test.serial('gen plan: no sizes without a lock; --sizes asks each server by HEAD; after gen fetch the lock gives every size and the total', async (t) => {
  t.timeout(120_000);
  const dir = tmp();
  const up = await new UpstreamServer().start();
  t.teardown(() => up.stop());
  const fx = await fetchFixture(dir, up.base);
  const served = serveArtifacts(up, fx.plan, (i) => 1000 + i * 777);
  const want = [...served.values()].reduce((n, b) => n + b.length, 0);
  const plan = (...extra: string[]) => runCliAsync(['plan', '--site', fx.siteFile, '--catalog', fx.catalogDir, ...extra], { env: { HOME: dir } });

  const bare = await plan('--json');
  t.is(bare.code, 0, bare.stderr);
  const before = JSON.parse(bare.stdout) as PlanOut;
  t.true(before.artifacts.every((a) => a.size === null));
  t.is(before.downloads.bytes, 0);
  t.is(before.downloads.artifacts.unknown.length, fx.plan.artifacts.length);
  t.is(up.log.length, 0, 'plan alone reads no network');

  const asked = await plan('--sizes', '--json');
  t.is(asked.code, 0, asked.stderr);
  const headed = JSON.parse(asked.stdout) as PlanOut;
  for (const a of headed.artifacts) t.is(a.size, served.get(a.id)!.length, a.id);
  t.is(headed.downloads.bytes, want);
  t.deepEqual(headed.downloads.artifacts.unknown, []);
  t.is(up.log.length, fx.plan.artifacts.length);
  t.true(
    up.log.every((l) => l.method === 'HEAD' && l.sent === 0),
    'HEAD requests only, no body sent',
  );

  // A first fetch learns each size from Content-Length (the progress display's percentage), then records it in the lock.
  const totals = new Map<string, number>();
  const events: FetchEvents = { start() {}, bytes() {}, done() {}, retry() {}, total: (id, n) => totals.set(id, n) };
  await fetchSite(fx.site, fx.plan, fetchOptions(dir, { timeoutMs: 5000, retries: 2, backoffMs: 5 }, { events }));
  t.deepEqual(new Map([...totals].sort()), new Map([...served].map(([id, b]) => [id, b.length] as const).sort()));

  const requests = up.log.length;
  const locked = await plan('--json');
  t.is(locked.code, 0, locked.stderr);
  const fromLock = JSON.parse(locked.stdout) as PlanOut;
  for (const a of fromLock.artifacts) t.is(a.size, served.get(a.id)!.length, a.id);
  t.is(fromLock.downloads.bytes, want);
  t.is(up.log.length, requests, 'sizes from the lock: no request');
  const text = await plan();
  t.is(text.code, 0, text.stderr);
  const first = fx.plan.artifacts[0]!;
  t.regex(text.stdout, new RegExp(`^${first.id.replaceAll('.', '\\.')} +\\d+(\\.\\d)? (B|KiB) `, 'm'));
  t.regex(text.stdout, /^Total: \d+\.\d KiB; images are counted once gen fetch has pulled them$/m);
});

test.serial('gen plan --sizes: a server that refuses is a warning naming the download, and the size stays unknown', async (t) => {
  const dir = tmp();
  const up = await new UpstreamServer().start();
  t.teardown(() => up.stop());
  const fx = await fetchFixture(dir, up.base);
  serveArtifacts(up, fx.plan, () => 100);
  const victim = fx.plan.artifacts[1]!;
  up.files.delete(new URL(victim.url).pathname);
  const r = await runCliAsync(['plan', '--site', fx.siteFile, '--catalog', fx.catalogDir, '--sizes', '--json'], { env: { HOME: dir } });
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as PlanOut;
  t.deepEqual(out.downloads.artifacts.unknown, [victim.id]);
  t.is(out.downloads.bytes, (fx.plan.artifacts.length - 1) * 100);
  t.regex(r.stderr, new RegExp(`warning: no size for ${victim.id.replaceAll('.', '\\.')}: .*404`));
});

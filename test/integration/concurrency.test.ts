import test from 'ava';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { cleanup, makeWork } from '../state-fixture.js';

/**
 * Issue #19: parallel commands on one fresh state make one PKI. Six `gen bundle --skip-payload`
 * (three into one output directory, three into their own) and two `gen certs` start together on a
 * state that does not exist yet; the locks serialise them, every run succeeds, and every dist
 * carries the one CA the state holds.
 */

const roots: string[] = [];
test.after.always(() => cleanup(roots));

test('8 parallel commands (6 gen bundle, 2 gen certs) on one fresh state: one CA in every dist, one revision', async (t) => {
  t.timeout(10 * 60_000);
  const w = makeWork(roots);
  const state = join(w.dir, 'shared-state');
  const env = { KUBESEED_LOCK_WAIT: '600' };
  const outs = ['out-a', 'out-a', 'out-a', 'out-b', 'out-c', 'out-d'];
  const runs = await Promise.all([
    ...outs.map((o) => w.genAsync('bundle', ['--skip-payload', '--out', o, '--state', state], env)),
    w.genAsync('certs', ['--state', state, '--out', 'out-a'], env),
    w.genAsync('certs', ['--state', state, '--out', 'out-e'], env),
  ]);
  for (const [i, r] of runs.entries()) t.is(r.code, 0, `run ${i}: ${r.stderr}`);
  const ca = readFileSync(join(state, 'current/pki/ca.crt'), 'utf8');
  // Made once; when a gen certs made it, the first bundle after it records that the state was
  // bundled (one more revision, same CA); never more than that.
  const rev = readlinkSync(join(state, 'current'));
  t.regex(rev, /^rev-[12]$/, 'the state was created once and rewritten at most to mark it bundled');
  t.deepEqual(readdirSync(state).sort(), ['current', 'delivered.json', rev]);
  t.is((JSON.parse(readFileSync(join(state, 'current/state.json'), 'utf8')) as { bundled?: boolean }).bundled, true);
  for (const o of new Set(outs)) {
    const dist = join(w.dir, o, 'lab1/dist');
    t.is(readFileSync(join(dist, 'admin/ca.crt'), 'utf8'), ca, `${o}: admin/ca.crt`);
    const kc = parse(readFileSync(join(dist, 'admin/admin.kubeconfig'), 'utf8')) as { clusters: { cluster: Record<string, string> }[] };
    t.is(Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString(), ca, `${o}: the kubeconfig's CA`);
    t.deepEqual(
      readdirSync(join(w.dir, o, 'lab1')).filter((n) => n !== 'dist'),
      [],
      `${o}: no staging or lock left`,
    );
  }
  const waited = runs.filter((r) => /waiting up to 600 s for the (site state|output directory), locked by pid \d+/.test(r.stderr)).length;
  t.true(waited >= 1, 'at least one run waited for another');
  t.log(`${runs.length} runs, ${waited} waited for a lock`);
});

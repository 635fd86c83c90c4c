import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { realCrypto } from '../../generator/io/crypto.js';
import { InputError, type Catalog } from '../../generator/model/index.js';
import { certsStage } from '../../generator/pipeline/certs.js';
import { loadDefaultCatalog } from '../helpers.js';
import { clockAt, flattenState } from '../pki-fixture.js';
import { ecdsa, lab1NodeYaml, siteFromLab1 } from '../sites.js';
import { cleanup, firstAfterStages, firstLine, listing, makeWork } from '../state-fixture.js';

/**
 * Issue #19, items 1 and 2 as the operator meets them: every case is a command line with its exit
 * code and the first line it prints asserted, and the state checked afterwards.
 */

let catalog: Catalog;
const roots: string[] = [];
test.before(async () => {
  catalog = await loadDefaultCatalog();
});
test.after.always(() => cleanup(roots));

const DAY = 86_400_000;
const cur = (w: { state: string }) => join(w.state, 'current');

/** A work directory whose state exists (made by gen certs). */
function withState() {
  const w = makeWork(roots);
  const r = w.gen('certs');
  if (r.code !== 0) throw new Error(r.stderr);
  return w;
}

// --- placement -------------------------------------------------------------------------------

for (const [what, state, message] of [
  [
    'inside the dist directory',
    'output/lab1/dist/state',
    /^gen bundle: the state \S+\/output\/lab1\/dist\/state is inside the bundle output \S+\/output\/lab1\/dist$/,
  ],
  ['equal to the dist directory', 'output/lab1/dist', /^gen bundle: the state \S+\/output\/lab1\/dist is inside the bundle output \S+\/output\/lab1\/dist$/],
  ['inside a dist moved aside', 'output/lab1/dist.old-123/s', /^gen bundle: the state \S+ is inside the bundle output \S+\/output\/lab1\/dist\.old-123$/],
  ['holding the output directory', 'output', /^gen bundle: the state \S+\/output holds the site's output directory \S+\/output\/lab1$/],
] as const) {
  test(`gen bundle refuses a state ${what}: exit 2, nothing written`, (t) => {
    const w = makeWork(roots);
    const r = w.gen('bundle', ['--skip-payload', '--state', state]);
    t.is(r.code, 2, r.stderr);
    t.regex(firstLine(r.stderr), message);
    t.false(existsSync(join(w.dir, state, 'current')));
    t.false(existsSync(w.dist));
  });
}

test('gen certs refuses a state inside the dist directory too (it would be lost at the next bundle)', (t) => {
  const w = makeWork(roots);
  const r = w.gen('certs', ['--state', 'output/lab1/dist/pki']);
  t.is(r.code, 2);
  t.regex(firstLine(r.stderr), /^gen certs: the state \S+\/output\/lab1\/dist\/pki is inside the bundle output \S+\/output\/lab1\/dist$/);
});

test('a state reached through a symlink is refused (the keys would land where it points): exit 2', (t) => {
  const w = withState();
  symlinkSync(w.state, join(w.dir, 'link'));
  const r = w.gen('certs', ['--state', 'link']);
  t.is(r.code, 2);
  t.regex(firstLine(r.stderr), /^gen certs: the state \S+\/link is a symlink \(to \S+\/output\/lab1\/state\)$/);
});

test('a state that is a regular file is refused: exit 2', (t) => {
  const w = makeWork(roots);
  writeFileSync(join(w.dir, 'file'), 'x');
  const r = w.gen('certs', ['--state', 'file']);
  t.is(r.code, 2);
  t.regex(firstLine(r.stderr), /^gen certs: the state \S+\/file is a regular file|is not a directory$/);
});

// --- members missing or changed: exit 2 naming them, for certs and bundle -----------------------

const damages: [string, (state: string) => void, RegExp][] = [
  ['secrets/encryption-key removed', (s) => rmSync(join(s, 'current/secrets/encryption-key')), /state file secrets\/encryption-key is missing$/],
  [
    'pki/sa.* removed',
    (s) => ['sa.key', 'sa.pub'].forEach((f) => rmSync(join(s, 'current/pki', f))),
    /state file pki\/sa\.key is missing \(and pki\/sa\.pub\)$/,
  ],
  [
    'the whole pki/ removed',
    (s) => rmSync(join(s, 'current/pki'), { recursive: true }),
    /state file pki\/admin\.crt is missing \(and 55 more: pki\/admin\.key, pki\/apiserver-etcd-client\.crt, pki\/apiserver-etcd-client\.key, …\)$/,
  ],
  [
    'secrets/encryption-key replaced by a symlink',
    (s) => {
      rmSync(join(s, 'current/secrets/encryption-key'));
      symlinkSync('/etc/hostname', join(s, 'current/secrets/encryption-key'));
    },
    /state file secrets\/encryption-key is a symlink, not the file kubeseed wrote$/,
  ],
  [
    'a certificate edited',
    (s) => writeFileSync(join(s, 'current/pki/ca.crt'), readFileSync(join(s, 'current/pki/ca.crt'), 'utf8').replace('-----END', 'x\n-----END')),
    /state file pki\/ca\.crt changed since kubeseed wrote it \(its sha256 differs from the state manifest\)$/,
  ],
  ['the state manifest removed', (s) => rmSync(join(s, 'current/manifest.json')), /state file rev-1\/manifest\.json is missing$/],
  [
    'current pointing nowhere',
    (s) => {
      rmSync(join(s, 'current'));
      symlinkSync('rev-9', join(s, 'current'));
    },
    /state file rev-9 is missing \(current points to it\)$/,
  ],
  [
    'current pointing out of the state',
    (s) => {
      rmSync(join(s, 'current'));
      symlinkSync('/etc', join(s, 'current'));
    },
    /the state's current points to \/etc, not to a revision \(rev-N\)$/,
  ],
  [
    'a revision that is a symlink',
    (s) => {
      cpSync(join(s, 'rev-1'), join(s, '..', 'moved'), { recursive: true });
      rmSync(join(s, 'rev-1'), { recursive: true });
      symlinkSync(join(s, '..', 'moved'), join(s, 'rev-1'));
    },
    /state file rev-1 is a symlink$/,
  ],
];

for (const [what, damage, message] of damages) {
  for (const cmd of ['certs', 'bundle'] as const) {
    test(`gen ${cmd} with ${what}: exit 2 naming it, the state untouched`, (t) => {
      const w = withState();
      damage(w.state);
      const before = listing(w.state);
      const r = w.gen(cmd, cmd === 'bundle' ? ['--skip-payload'] : []);
      t.is(r.code, 2, r.stderr);
      t.regex(firstAfterStages(r.stderr), new RegExp(`^gen ${cmd}: ${message.source}`));
      t.regex(r.stderr, /hint: restore the state from a backup/);
      t.deepEqual(listing(w.state), before);
      t.false(existsSync(w.dist));
    });
  }
}

test('a symlinked member is never written through: its target keeps its content', (t) => {
  const w = withState();
  const target = join(w.dir, 'elsewhere-key');
  writeFileSync(target, 'not a key\n');
  rmSync(join(cur(w), 'secrets/encryption-key'));
  symlinkSync(target, join(cur(w), 'secrets/encryption-key'));
  for (const extra of [[], ['--renew']]) {
    const r = w.gen('certs', extra);
    t.is(r.code, 2);
    t.regex(firstLine(r.stderr), /^gen certs: state file secrets\/encryption-key is a symlink/);
  }
  t.is(readFileSync(target, 'utf8'), 'not a key\n');
});

test('--renew reissues a damaged leaf pair, naming it; a damaged CA key it does not', (t) => {
  const w = withState();
  writeFileSync(join(cur(w), 'pki/kube-proxy.key'), 'garbage');
  const r = w.gen('certs', ['--renew']);
  t.is(r.code, 0, r.stderr);
  t.is(
    firstLine(r.stderr),
    'warning: state file pki/kube-proxy.key changed since kubeseed wrote it (its sha256 differs from the state manifest); reissued by --renew',
  );
  t.regex(r.stdout, /kube-proxy +system:kube-proxy +\S+ +reissued/);
  writeFileSync(join(cur(w), 'pki/ca.key'), 'garbage');
  const ca = w.gen('certs', ['--renew']);
  t.is(ca.code, 2);
  t.regex(firstLine(ca.stderr), /^gen certs: state file pki\/ca\.key changed since kubeseed wrote it/);
});

test('--rotate-ca goes past a damaged state, keeping it as it was beside the new one', (t) => {
  const w = withState();
  rmSync(join(cur(w), 'pki'), { recursive: true });
  const r = w.gen('certs', ['--rotate-ca']);
  t.is(r.code, 0, r.stderr);
  t.is(firstLine(r.stderr), 'warning: --rotate-ca makes new CAs: every node must get new seeds, and clients of the old CA stop trusting the cluster');
  t.regex(r.stderr, /\nwarning: state file pki\/admin\.crt is missing; replaced by --rotate-ca\n/);
  const prev = /previous state kept at (\S+)/.exec(r.stdout)![1]!;
  t.false(existsSync(join(prev, 'current/pki')), 'the kept copy is the damaged state, as found');
  t.true(existsSync(join(prev, 'current/secrets/encryption-key')));
  t.is(w.gen('certs').code, 0);
});

test('a site that grew a node: its new certificates are created and named, nothing else changes', (t) => {
  const w = withState();
  const before = readFileSync(join(cur(w), 'pki/ca.crt'), 'utf8');
  writeFileSync(w.site, readFileSync(w.site, 'utf8').trimEnd() + '\n' + lab1NodeYaml('k8s-04', 48, ['worker']));
  const r = w.gen('certs');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /kubelet-client\/k8s-04 +system:node:k8s-04 +\S+ +created \(new: the site now needs it\)/);
  t.regex(r.stdout, /kubelet-serving\/k8s-04 +system:node:k8s-04 +\S+ +created \(new: the site now needs it\)/);
  t.is(readFileSync(join(cur(w), 'pki/ca.crt'), 'utf8'), before);
  t.is(readlinkSync(join(w.state, 'current')), 'rev-2');
});

// --- a state from before revisions -------------------------------------------------------------

test('a state from before revisions is adopted once, with a line saying so, and then read through its manifest', (t) => {
  const w = withState();
  flattenState(w.state);
  const ca = readFileSync(join(w.state, 'pki/ca.crt'), 'utf8');
  const r = w.gen('certs');
  t.is(r.code, 0, r.stderr);
  t.regex(
    firstLine(r.stderr),
    /^note: adopted the state at \S+, written before state revisions: its 59 files are recorded with their sha256 in rev-1\/manifest\.json$/,
  );
  t.is(readFileSync(join(cur(w), 'pki/ca.crt'), 'utf8'), ca);
  t.false(existsSync(join(w.state, 'pki')), 'the loose files are gone, now in rev-1');
  const again = w.gen('certs');
  t.is(again.code, 0);
  t.notRegex(again.stderr, /adopted/);
});

test('a state from before revisions missing its encryption key or CA is exit 2, not a new one', (t) => {
  const w = withState();
  flattenState(w.state);
  rmSync(join(w.state, 'secrets/encryption-key'));
  const r = w.gen('bundle', ['--skip-payload']);
  t.is(r.code, 2);
  t.regex(firstAfterStages(r.stderr), /^gen bundle: state file secrets\/encryption-key is missing$/);
  rmSync(join(w.state, 'pki'), { recursive: true });
  const p = w.gen('certs');
  t.is(p.code, 2);
  t.regex(firstLine(p.stderr), /^gen certs: state file pki\/ca\.key is missing$/);
});

// --- modes -------------------------------------------------------------------------------------

test('looser modes in the state are tightened with a warning naming each (keys 0600, directories 0700)', (t) => {
  const w = withState();
  chmodSync(join(cur(w), 'pki/ca.key'), 0o644);
  chmodSync(join(cur(w), 'pki'), 0o755);
  chmodSync(w.state, 0o755);
  const r = w.gen('certs');
  t.is(r.code, 0, r.stderr);
  t.is(firstLine(r.stderr), 'warning: the state directory was mode 0755; set to 0700');
  t.regex(r.stderr, /warning: pki\/ca\.key was mode 0644; set to 0600/);
  t.regex(r.stderr, /warning: pki\/ was mode 0755; set to 0700/);
  t.is(statSync(join(cur(w), 'pki/ca.key')).mode & 0o777, 0o600);
  t.is(statSync(join(cur(w), 'pki')).mode & 0o777, 0o700);
  t.is(statSync(w.state).mode & 0o777, 0o700);
  t.notRegex(w.gen('certs').stderr, /warning/);
});

// --- locks -------------------------------------------------------------------------------------

function holdLock(dir: string, pid: number, command = 'gen bundle --site lab1') {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '.kubeseed-lock'), `${JSON.stringify({ pid, host: hostname(), command, since: '2026-11-28T09:00:00.000Z' })}\n`);
}

test('a state locked by a running command: exit 1 naming pid, host, command and since', (t) => {
  const w = withState();
  holdLock(w.state, process.pid);
  const r = w.gen('certs', [], { KUBESEED_LOCK_WAIT: '0' });
  t.is(r.code, 1);
  t.is(
    firstLine(r.stderr),
    `gen certs: the site state ${w.state} is locked by pid ${process.pid} on ${hostname()} (gen bundle --site lab1, since 2026-11-28T09:00:00.000Z)`,
  );
  t.regex(r.stderr, /hint: wait for that run to finish .* remove \S+\/\.kubeseed-lock/);
  const waited = w.gen('certs', [], { KUBESEED_LOCK_WAIT: '1' });
  t.is(waited.code, 1);
  t.is(
    firstLine(waited.stderr),
    `  waiting up to 1 s for the site state, locked by pid ${process.pid} on ${hostname()} (gen bundle --site lab1, since 2026-11-28T09:00:00.000Z)`,
  );
});

test('an output directory locked by a running command: gen bundle exits 1 naming the holder', (t) => {
  const w = withState();
  holdLock(join(w.dir, 'output/lab1'), process.pid, 'gen bundle --site other');
  const r = w.gen('bundle', ['--skip-payload'], { KUBESEED_LOCK_WAIT: '0' });
  t.is(r.code, 1);
  t.is(
    firstLine(r.stderr),
    `gen bundle: the output directory ${join(w.dir, 'output/lab1')} is locked by pid ${process.pid} on ${hostname()} (gen bundle --site other, since 2026-11-28T09:00:00.000Z)`,
  );
});

test('a lock left by a process that is gone is taken over, saying whose it was', (t) => {
  const w = withState();
  holdLock(w.state, 2 ** 22 + 12345);
  const r = w.gen('certs');
  t.is(r.code, 0, r.stderr);
  t.is(
    firstLine(r.stderr),
    `  the site state: removing the lock of pid ${2 ** 22 + 12345} on ${hostname()} (gen bundle --site lab1, since 2026-11-28T09:00:00.000Z), which is no longer running`,
  );
  t.false(existsSync(join(w.state, '.kubeseed-lock')));
});

test('KUBESEED_LOCK_WAIT that is not a number of seconds is bad input', (t) => {
  const w = makeWork(roots);
  const r = w.gen('certs', [], { KUBESEED_LOCK_WAIT: '-5' });
  t.is(r.code, 2);
  t.is(firstLine(r.stderr), 'gen certs: KUBESEED_LOCK_WAIT=-5 is not a number of seconds from 0 to 3600');
});

// --- certificates against the clock -------------------------------------------------------------

test('an expired CA is exit 2 with the way out (--rotate-ca), for certs and bundle; --rotate-ca then works', async (t) => {
  const w = makeWork(roots);
  await certsStage(siteFromLab1(catalog, ecdsa), w.state, { crypto: realCrypto, clock: clockAt(new Date(Date.now() - 3651 * DAY)) }, {});
  for (const cmd of ['certs', 'bundle']) {
    const r = w.gen(cmd, cmd === 'bundle' ? ['--skip-payload'] : []);
    t.is(r.code, 2);
    t.regex(firstAfterStages(r.stderr), new RegExp(`^gen ${cmd}: the ca CA \\(pki/ca\\.crt\\) expired on \\d{4}-\\d\\d-\\d\\dT`));
    t.regex(r.stderr, /hint: nothing it signed is trusted any more: start a new PKI with gen certs --rotate-ca/);
  }
  const renew = w.gen('certs', ['--renew']);
  t.is(renew.code, 2, '--renew cannot help an expired CA');
  const rotated = w.gen('certs', ['--rotate-ca']);
  t.is(rotated.code, 0, rotated.stderr);
  t.true(new Date(new X509Certificate(readFileSync(join(cur(w), 'pki/ca.crt'))).validTo) > new Date());
});

test('a CA not valid yet (a clock behind the one that made it) is exit 2', async (t) => {
  const w = makeWork(roots);
  await certsStage(siteFromLab1(catalog, ecdsa), w.state, { crypto: realCrypto, clock: clockAt(new Date(Date.now() + 2 * DAY)) }, {});
  const r = w.gen('certs');
  t.is(r.code, 2);
  t.regex(firstLine(r.stderr), /^gen certs: the ca CA \(pki\/ca\.crt\) is not valid before \S+; this machine's clock says \S+$/);
});

test('--renew close to the CA end: leaves are capped at the CA notAfter, with a warning, and start before it', async (t) => {
  const w = makeWork(roots);
  await certsStage(siteFromLab1(catalog, ecdsa), w.state, { crypto: realCrypto, clock: clockAt(new Date(Date.now() - 3640 * DAY)) }, {});
  const caEnd = new Date(new X509Certificate(readFileSync(join(cur(w), 'pki/ca.crt'))).validTo);
  const r = w.gen('certs', ['--renew']);
  t.is(r.code, 0, r.stderr);
  t.regex(firstLine(r.stderr), /^warning: \S+: lifetime capped at its CA's notAfter \(\d{4}-/);
  t.regex(firstLine(r.stdout), /^certificate +CN +not after +status$/);
  for (const p of ['pki/kube-proxy.crt', 'pki/admin.crt', 'pki/apiserver/k8s-01.crt']) {
    const c = new X509Certificate(readFileSync(join(cur(w), p)));
    t.true(new Date(c.validTo) <= caEnd, `${p} ends with its CA`);
    t.true(new Date(c.validFrom) < caEnd, `${p} starts before its CA ends`);
  }
});

test('a caValidity that reaches past the year 9999 is exit 2 with the rule, not a stack trace', (t) => {
  for (const v of ['70000000h', '100000000000000000000h', '999999999999999999999999999999999999h']) {
    const w = makeWork(roots, (s) => {
      s.spec.pki.caValidity = v;
    });
    const r = w.gen('certs');
    t.is(r.code, 2, `${v}: ${r.stderr}`);
    t.regex(firstLine(r.stderr), /spec\.pki\.caValidity/);
    t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
    t.false(existsSync(join(w.state, 'current')));
  }
});

test('the PKI stage itself refuses a lifetime past 9999 (a site resolved without the rule): InputError naming the field', async (t) => {
  const w = makeWork(roots);
  const site = siteFromLab1(catalog, ecdsa);
  const huge = { ...site, pki: { ...site.pki, caValidityHours: 70_000_000 } };
  const err = await t.throwsAsync(certsStage(huge, w.state, { crypto: realCrypto, clock: clockAt(new Date()) }, {}), { instanceOf: InputError });
  t.regex(err.message, /^spec\.pki\.caValidity: a certificate issued now for 70000000h would end after 9999-12-31T23:59:59\.000Z$/);
  t.false(existsSync(join(w.state, 'current')), 'nothing committed');
});

// --- the dist directory after a crash ----------------------------------------------------------

test('a dist moved aside by a run that stopped between its two renames is put back, and leftovers removed', (t) => {
  const w = withState();
  t.is(w.gen('bundle', ['--skip-payload']).code, 0);
  const before = listing(w.dist);
  const out = join(w.dir, 'output/lab1');
  cpSync(w.dist, join(out, 'dist.old-4242'), { recursive: true });
  rmSync(w.dist, { recursive: true });
  mkdirSync(join(out, '.dist-staging-4242'));
  mkdirSync(join(out, 'payload-cache'), { recursive: true });
  writeFileSync(join(out, 'payload-cache', 'payload-abc.tar.tmp-4242'), 'half');
  const r = w.gen('bundle', ['--skip-payload']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /restored \S+\/dist from dist\.old-4242: a previous run stopped while publishing/);
  t.regex(r.stderr, /removed \.dist-staging-4242, left by a run that stopped/);
  t.deepEqual(listing(w.dist), before);
  t.false(existsSync(join(out, 'dist.old-4242')));
  t.false(existsSync(join(out, '.dist-staging-4242')));
  t.false(existsSync(join(out, 'payload-cache', 'payload-abc.tar.tmp-4242')));
});

// --- CA rotation on a site that has been bundled (issue #22) -------------------------------------

test('--rotate-ca is refused once a bundle was made from the state: exit 2 with the way out, nothing written', (t) => {
  const w = withState();
  t.is(JSON.parse(readFileSync(join(cur(w), 'state.json'), 'utf8')).bundled, undefined, 'gen certs alone marks nothing');
  const b = w.gen('bundle', ['--skip-payload']);
  t.is(b.code, 0, b.stderr);
  t.is(JSON.parse(readFileSync(join(cur(w), 'state.json'), 'utf8')).bundled, true);
  const before = listing(w.state);
  const r = w.gen('certs', ['--rotate-ca']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /\ngen certs: refusing --rotate-ca: a bundle was made from the state at \S+\/output\/lab1\/state, so its CAs may be on running nodes/);
  t.regex(r.stderr, /hint: rotating the CAs of a running site is not supported; to renew certificates use --renew\. .*kubeseed-reset --all on every node/);
  t.deepEqual(listing(w.state), before, 'the state is as it was');
  t.deepEqual(
    readdirSync(join(w.state, '..')).filter((n) => n.startsWith('state.prev-')),
    [],
    'no copy kept: nothing was rotated',
  );
  const again = w.gen('bundle', ['--skip-payload']);
  t.is(again.code, 0);
  t.deepEqual(listing(w.state), before, 'a second bundle adds no revision');
});

test('--rotate-ca of a bundled state whose CA has expired is the way out, as before', async (t) => {
  const w = makeWork(roots);
  await certsStage(siteFromLab1(catalog, ecdsa), w.state, { crypto: realCrypto, clock: clockAt(new Date(Date.now() - 3651 * DAY)) }, { markBundled: true });
  const rotated = w.gen('certs', ['--rotate-ca']);
  t.is(rotated.code, 0, rotated.stderr);
  t.true(new Date(new X509Certificate(readFileSync(join(cur(w), 'pki/ca.crt'))).validTo) > new Date());
  t.is(JSON.parse(readFileSync(join(cur(w), 'state.json'), 'utf8')).bundled, undefined, 'the new PKI has not been bundled yet');
});

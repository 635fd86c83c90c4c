import test from 'ava';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureStateDir } from '../goldens.js';
import { payloadName } from '../../generator/model/layout.js';
import { fetchFixture } from '../fetch-fixture.js';
import { readRepo, runCli } from '../helpers.js';
import { tempDirs } from '../temp.js';
import { describeTree, modeAndHash } from '../tree.js';

/** Issue #21 item 4: --node inside an existing bundle, --json on success and failure. Serial: each test runs gen bundle several times, and six at once on two cores outlast AVA's timeout between completions. */

const tmp = tempDirs('kubeseed-ux-');

/** A work directory with a copy of the fixture state, and gen run against it. */
function work() {
  const cwd = tmp();
  const state = join(cwd, 'state');
  cpSync(fixtureStateDir, state, { recursive: true });
  const dist = join(cwd, 'output', 'lab1', 'dist');
  const gen = (...args: string[]) => runCli([...args, '--site', 'lab1', '--state', state], { cwd });
  return { cwd, state, dist, gen };
}

const nodeFiles = (tree: Record<string, string>, node: string) => Object.fromEntries(Object.entries(tree).filter(([p]) => p.startsWith(`nodes/${node}/`)));

test.serial('--node after a renewal rewrites that node alone inside the bundle; gen verify passes; the other nodes are unchanged byte for byte', (t) => {
  const w = work();
  const all = w.gen('bundle', '--skip-payload');
  t.is(all.code, 0, all.stderr);
  const before = describeTree(w.dist, modeAndHash);
  // New leaf certificates: a full bundle would change every node; --node k8s-02 changes only k8s-02.
  t.is(w.gen('certs', '--renew').code, 0);
  const r = w.gen('bundle', '--skip-payload', '--node', 'k8s-02', '--json');
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { nodes: string[]; updated: string[]; files: number; payload: string | null };
  t.deepEqual(out.nodes, ['k8s-01', 'k8s-02', 'k8s-03']);
  t.deepEqual(out.updated, ['k8s-02']);
  const after = describeTree(w.dist, modeAndHash);
  for (const n of ['k8s-01', 'k8s-03']) t.deepEqual(nodeFiles(after, n), nodeFiles(before, n), `${n} unchanged`);
  // k8s-02 gains the update that takes a running k8s-02 to the renewed certificates (issue #22), nothing else.
  const update = ['nodes/k8s-02/k8s-02-rev2.update.tar.gz', 'nodes/k8s-02/k8s-02-rev2.update.txt'];
  t.deepEqual(Object.keys(nodeFiles(after, 'k8s-02')).sort(), [...Object.keys(nodeFiles(before, 'k8s-02')), ...update].sort());
  t.notDeepEqual(nodeFiles(after, 'k8s-02'), nodeFiles(before, 'k8s-02'), 'k8s-02 has its new certificates');
  t.not(after['admin/admin.kubeconfig'], before['admin/admin.kubeconfig'], 'admin/ follows the state');
  t.deepEqual(
    Object.keys(after).sort(),
    [...Object.keys(before), ...update, 'apply-updates.sh'].sort(),
    'the same files, vm/ and README included, and the update with the script that applies it',
  );
  const verify = runCli(['verify', w.dist, '--json']);
  t.is(verify.code, 0, verify.stdout);
  const manifest = JSON.parse(readFileSync(join(w.dist, 'manifest.json'), 'utf8')) as { nodes: string[]; files: { path: string }[] };
  t.deepEqual(manifest.nodes, ['k8s-01', 'k8s-02', 'k8s-03']);
  t.is(manifest.files.length + 2, out.files, 'every file, manifest.json and SHA256SUMS');
  const readme = readFileSync(join(w.dist, 'README.md'), 'utf8');
  for (const n of ['k8s-01', 'k8s-02', 'k8s-03']) t.regex(readme, new RegExp(`\\| ${n} \\| control-plane, etcd, worker \\| 192\\.168\\.93\\.\\d+/24 `));
  t.notRegex(readme, /Not in this bundle/);
  t.true(existsSync(join(w.dist, 'vm', 'k8s-01.sh')) && existsSync(join(w.dist, 'vm', 'k8s-03.sh')));
});

test.serial('--node keeps the payload already in the bundle when it packs none, and lists it in manifest, sums, README and VM scripts', (t) => {
  const w = work();
  t.is(w.gen('bundle', '--skip-payload').code, 0);
  // A payload of an earlier run, as gen bundle names it.
  mkdirSync(join(w.dist, 'payload'));
  writeFileSync(join(w.dist, 'payload', 'payload-0123456789abcdef.iso'), 'stand-in volume\n');
  const r = w.gen('bundle', '--skip-payload', '--node', 'k8s-01', '--json');
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { payload: string; payloads: { format: string; file: string; size: number }[] };
  t.is(out.payload, 'payload-0123456789abcdef.iso');
  t.deepEqual(
    out.payloads.map((p) => [p.format, p.file, p.size]),
    [['iso', 'payload-0123456789abcdef.iso', 16]],
  );
  t.regex(readFileSync(join(w.dist, 'SHA256SUMS'), 'utf8'), /^[0-9a-f]{64} {2}payload\/payload-0123456789abcdef\.iso$/m);
  for (const n of ['k8s-01', 'k8s-02']) t.regex(readFileSync(join(w.dist, 'vm', `${n}.sh`), 'utf8'), /payload\/payload-0123456789abcdef\.iso/);
  t.regex(readFileSync(join(w.dist, 'README.md'), 'utf8'), /Payload: 16 B \(`payload\/payload-0123456789abcdef\.iso`\)/);
  t.is(runCli(['verify', w.dist]).code, 0);
});

test.serial('--node on a site without a bundle writes that node alone, and the README names the nodes it lacks', (t) => {
  const w = work();
  const r = w.gen('bundle', '--skip-payload', '--node', 'k8s-03');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /note: k8s-01 is not in this bundle/);
  t.true(existsSync(join(w.dist, 'nodes', 'k8s-03', 'seed.iso')));
  t.false(existsSync(join(w.dist, 'nodes', 'k8s-01')));
  t.false(existsSync(join(w.dist, 'vm', 'k8s-01.sh')));
  t.regex(readFileSync(join(w.dist, 'README.md'), 'utf8'), /Not in this bundle: k8s-01, k8s-02/);
  t.deepEqual((JSON.parse(readFileSync(join(w.dist, 'manifest.json'), 'utf8')) as { nodes: string[] }).nodes, ['k8s-03']);
  t.is(runCli(['verify', w.dist]).code, 0);
});

test.serial('--json failures: an object with an error on stdout and the exit code kept, for bundle, fetch, plan, validate, certs and verify', (t) => {
  const w = work();
  const cases: { args: string[]; code: number; error: RegExp }[] = [
    { args: ['bundle', '--site', 'lab1', '--skip-payload', '--node', 'nope', '--json'], code: 2, error: /no node named 'nope'/ },
    { args: ['bundle', '--site', 'lab1', '--payload-format', 'zip', '--json'], code: 2, error: /--payload-format zip: expected iso, tar or both/ },
    {
      args: ['fetch', '--site', 'lab1', '--offline', '--json', '--cache', join(w.cwd, 'empty-cache')],
      code: 1,
      error: /^offline: \d+ item\(s\) missing from the cache/,
    },
    { args: ['plan', '--site', join(w.cwd, 'absent.yaml'), '--json'], code: 2, error: /absent\.yaml/ },
    { args: ['validate', '--site', join(w.cwd, 'absent.yaml'), '--json'], code: 2, error: /site blueprint not found/ },
    { args: ['certs', '--site', 'lab1', '--json', '--bogus'], code: 2, error: /bogus/ },
    { args: ['verify', w.cwd, '--json'], code: 2, error: /manifest/ },
    { args: ['verify', '--json'], code: 2, error: /give one bundle directory/ },
  ];
  for (const c of cases) {
    const r = runCli(c.args, { cwd: w.cwd });
    t.is(r.code, c.code, `${c.args.join(' ')}: ${r.stderr}`);
    let doc: { error?: unknown; exitCode?: unknown; command?: unknown };
    try {
      doc = JSON.parse(r.stdout) as typeof doc;
    } catch {
      t.fail(`${c.args.join(' ')}: stdout is not JSON: ${JSON.stringify(r.stdout)}`);
      continue;
    }
    t.is(typeof doc.error, 'string', c.args.join(' '));
    t.regex(doc.error as string, c.error, c.args.join(' '));
    t.is(doc.exitCode, c.code);
    t.is(doc.command, c.args[0]);
  }
  // A blueprint with issues: they travel in the JSON too, with their line.
  writeFileSync(join(w.cwd, 'bad.yaml'), readRepo('blueprints/sites/lab1.yaml').replace('192.168.93.46/24', '192.168.93.999/24'));
  const bad = runCli(['plan', '--site', join(w.cwd, 'bad.yaml'), '--json'], { cwd: w.cwd });
  t.is(bad.code, 2, bad.stderr);
  const doc = JSON.parse(bad.stdout) as { error: string; issues: { path: string; line: number }[] };
  t.true(
    doc.issues.some((i) => i.path.startsWith('spec.nodes[1].address') && i.line > 0),
    JSON.stringify(doc.issues),
  );
});

test.serial('gen bundle --json prints the result on stdout alone; --payload-format is refused with --skip-payload', (t) => {
  const w = work();
  const r = w.gen('bundle', '--skip-payload', '--json');
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { site: string; dist: string; files: number; nodes: string[]; payload: null; payloads: unknown[] };
  t.is(out.site, 'lab1');
  t.is(out.dist, w.dist);
  t.deepEqual(out.nodes, ['k8s-01', 'k8s-02', 'k8s-03']);
  t.is(out.payload, null);
  t.true(out.files > 20);
  const both = w.gen('bundle', '--skip-payload', '--payload-format', 'tar');
  t.is(both.code, 2);
  t.regex(both.stderr, /--skip-payload writes no payload, so it has no format/);
});

test.serial(
  'a payload packed by --node keeps the forms the bundle has (the tree stays byte-identical); --payload-format changes them on purpose',
  async (t) => {
    const dir = tmp();
    // lab1 on a catalog without pins or OS packages (nothing is fetched): stand-in payload files cover its plan.
    const fx = await fetchFixture(dir, 'http://127.0.0.1:9', { mirror: 'http://127.0.0.1:9' });
    const art = join(dir, 'art');
    mkdirSync(art);
    const sums = fx.plan.artifacts.map((a) => {
      const bytes = `stand-in ${a.id}\n`;
      writeFileSync(join(art, payloadName(a)), bytes);
      return `${createHash('sha256').update(bytes).digest('hex')}  ${payloadName(a)}\n`;
    });
    writeFileSync(join(art, 'images-amd64.oci.tar'), 'stand-in image archive\n');
    sums.push(`${createHash('sha256').update('stand-in image archive\n').digest('hex')}  images-amd64.oci.tar\n`);
    writeFileSync(join(art, 'SHA256SUMS'), sums.join(''));
    const dist = join(dir, 'out', 'lab1', 'dist');
    const gen = (...args: string[]) =>
      runCli(['bundle', '--site', fx.siteFile, '--catalog', fx.catalogDir, '--out', join(dir, 'out'), '--artifacts', art, ...args]);
    const first = gen('--payload-format', 'both');
    t.is(first.code, 0, first.stderr);
    const before = describeTree(dist, modeAndHash);
    t.deepEqual(
      readdirSync(join(dist, 'payload')).map((f) => f.replace(/[0-9a-f]{16}/, 'X')),
      ['payload-X.iso', 'payload-X.tar'],
    );
    const node = gen('--node', 'k8s-02');
    t.is(node.code, 0, node.stderr);
    t.deepEqual(describeTree(dist, modeAndHash), before, 'same site, same state, same forms: the same bytes');
    const tar = gen('--node', 'k8s-02', '--payload-format', 'tar', '--json');
    t.is(tar.code, 0, tar.stderr);
    t.deepEqual(
      (JSON.parse(tar.stdout) as { payloads: { format: string }[] }).payloads.map((p) => p.format),
      ['tar'],
    );
    t.deepEqual(
      readdirSync(join(dist, 'payload')).map((f) => f.replace(/[0-9a-f]{16}/, 'X')),
      ['payload-X.tar'],
    );
    t.is(runCli(['verify', dist]).code, 0);

    // Other payload inputs: --node alone would pair the kept nodes' seeds with a payload they were not made with.
    const bundled = describeTree(dist, modeAndHash);
    const changed = fx.plan.artifacts[0]!;
    writeFileSync(join(art, payloadName(changed)), 'another stand-in\n');
    writeFileSync(
      join(art, 'SHA256SUMS'),
      readFileSync(join(art, 'SHA256SUMS'), 'utf8').replace(
        new RegExp(`^[0-9a-f]{64}(?=  ${payloadName(changed).replace(/[.]/g, '\\.')}$)`, 'm'),
        createHash('sha256').update('another stand-in\n').digest('hex'),
      ),
    );
    const refused = gen('--node', 'k8s-02');
    t.is(refused.code, 2, refused.stderr);
    t.regex(refused.stderr, /the payload changed since the bundle .* was written \(payload-[0-9a-f]{16} -> payload-[0-9a-f]{16}\)/);
    t.regex(refused.stderr, /without --node/);
    t.deepEqual(describeTree(dist, modeAndHash), bundled, 'the bundle is untouched');
  },
);

import test from 'ava';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { serializeRecord } from '../../generator/update/record.js';
import { repoRoot, runCli, runCliAsync } from '../helpers.js';

const corpusDir = join(repoRoot, 'test', 'fixtures', 'sites', 'invalid');
const corpus = readdirSync(corpusDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

/** `# expect: <path> <rule>` header lines of a fixture; `-` stands for a whole-document issue. */
function expectations(file: string): { path: string; rule: string }[] {
  return readFileSync(join(corpusDir, file), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('# expect: '))
    .map((l) => {
      const [path, rule] = l.slice('# expect: '.length).trim().split(/\s+/);
      return { path: path === '-' ? '' : path!, rule: rule! };
    });
}

/** `# first-line: <text>`: what the first line of `gen validate`'s human output ends with, if the fixture says. */
function firstLine(file: string): string | undefined {
  return readFileSync(join(corpusDir, file), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('# first-line: '))
    ?.slice('# first-line: '.length);
}

/**
 * `# from: <version>`: the site was bundled before with that release of the default catalog. The
 * state a bundle leaves records it (delivered.json); written where gen looks by default, so the
 * version-skew rules have something to start from.
 */
function writeRecordedRelease(file: string, cwd: string): void {
  const text = readFileSync(join(corpusDir, file), 'utf8');
  const from = text
    .split('\n')
    .find((l) => l.startsWith('# from: '))
    ?.slice('# from: '.length)
    .trim();
  if (!from) return;
  const site = parse(text) as { metadata: { name: string } };
  const release = parse(readFileSync(join(repoRoot, 'blueprints', 'catalog', 'releases', `${from}.yaml`), 'utf8')) as { versions: Record<string, string> };
  const state = join(cwd, 'output', site.metadata.name, 'state');
  mkdirSync(state, { recursive: true, mode: 0o700 });
  writeFileSync(join(state, 'delivered.json'), serializeRecord({ revision: 1, release: { kubernetes: from, versions: release.versions }, nodes: {} }));
}

/** Every file below a directory with its size and mtime, to prove a run wrote nothing. */
function snapshot(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = statSync(p);
        out.push(`${p} ${st.size} ${st.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out.sort().join('\n');
}

test('the invalid corpus holds at least 25 blueprints', (t) => {
  t.true(corpus.length >= 25, `${corpus.length}`);
});

/**
 * At most two corpus runs at a time, each awaited: the machine has two cores, and ava hears of a
 * finished test only while this worker's event loop is free (a row of spawnSync calls starves it
 * into ava's inactivity timeout as the corpus grows).
 */
let running = 0;
const waiting: (() => void)[] = [];
async function slot<T>(work: () => Promise<T>): Promise<T> {
  while (running >= 2) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await work();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

for (const file of corpus) {
  test(`invalid blueprint ${file}: exit 2, every expected issue named with its path and line`, async (t) => {
    const expected = expectations(file);
    t.true(expected.length > 0, 'fixture declares its expected issues');
    const cwd = mkdtempSync(join(tmpdir(), 'kubeseed-cli-'));
    try {
      writeRecordedRelease(file, cwd);
      const before = snapshot(repoRoot + '/test/fixtures') + snapshot(cwd);
      const site = join(corpusDir, file);
      const [json, human, plan] = await slot(() =>
        Promise.all([
          runCliAsync(['validate', '--json', '--site', site], { cwd }),
          runCliAsync(['validate', '--site', site], { cwd }),
          runCliAsync(['plan', '--site', site], { cwd }),
        ]),
      );
      t.is(json.code, 2, json.stderr);
      const report = JSON.parse(json.stdout) as { valid: boolean; issues: { path: string; rule: string; line?: number; severity: string; hint?: string }[] };
      t.false(report.valid);
      for (const e of expected) {
        const hit = report.issues.find((i) => i.path === e.path && i.rule === e.rule);
        t.truthy(hit, `${file}: expected ${e.rule} at '${e.path}', got ${report.issues.map((i) => `${i.rule}@${i.path}`).join('; ')}`);
        t.true(typeof hit?.line === 'number' && hit.line >= 1, `${e.rule} has a line`);
        if (/^upgrade-|^containerd-minimum$/.test(e.rule)) t.true((hit?.hint ?? '').length > 0, `${e.rule} has a hint`);
      }
      t.is(human.code, 2);
      const first = firstLine(file);
      if (first !== undefined) t.true(human.stderr.split('\n')[0]!.endsWith(first), `first line: ${human.stderr.split('\n')[0]}`);
      t.notRegex(human.stderr, /\n\s+at /, 'no stack trace');
      for (const e of expected.filter((x) => x.path)) {
        t.regex(
          human.stderr,
          new RegExp(`${file.replace('.', '\\.')}:\\d+:\\d+ +(error|warning) +${e.path.replace(/[.[\]]/g, '\\$&')}: `),
          `human output names ${e.path} with line:col`,
        );
      }
      t.is(plan.code, 2, 'plan refuses an invalid blueprint too');
      t.is(snapshot(repoRoot + '/test/fixtures') + snapshot(cwd), before, 'nothing was written');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
}

test('gen validate --site lab1 exits 0', (t) => {
  const r = runCli(['validate', '--site', 'lab1']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /valid: lab1/);
});

test('gen plan --site lab1 --json prints JSON naming every binary and image with a checksum source', (t) => {
  const r = runCli(['plan', '--site', 'lab1', '--json']);
  t.is(r.code, 0, r.stderr);
  const plan = JSON.parse(r.stdout) as { artifacts: { component: string; checksum: { kind: string } }[]; images: { ref: string }[] };
  t.is(plan.artifacts.length, 11);
  t.true(plan.artifacts.every((a) => ['pinned', 'hash-file', 'sums-file'].includes(a.checksum.kind)));
  t.true(plan.images.some((i) => i.ref === 'registry.k8s.io/pause:3.10.2'));
});

test('a blueprint outside the repository validates, with its catalog found relative to it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeseed-outside-'));
  try {
    cpSync(join(repoRoot, 'blueprints', 'sites', 'lab1.yaml'), join(dir, 'site.yaml'));
    const r = runCli(['validate', '--site', join(dir, 'site.yaml')], { cwd: dir });
    t.is(r.code, 0, r.stderr);
    const rel = runCli(['validate', '--site', './site.yaml'], { cwd: dir });
    t.is(rel.code, 0, rel.stderr);
    cpSync(join(repoRoot, 'blueprints', 'catalog'), join(dir, 'cat'), { recursive: true });
    const withCatalog = runCli(['validate', '--site', 'site.yaml', '--catalog', 'cat', '--json'], { cwd: dir });
    t.is(withCatalog.code, 0, withCatalog.stderr);
    t.is(JSON.parse(withCatalog.stdout).valid, true);
    const missing = runCli(['validate', '--site', 'site.yaml', '--catalog', 'nowhere'], { cwd: dir });
    t.is(missing.code, 2);
    t.regex(missing.stderr, /no catalog at/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('help, version and command-line errors', (t) => {
  const help = runCli(['--help']);
  t.is(help.code, 0);
  for (const c of ['validate', 'plan']) {
    t.regex(help.stdout, new RegExp(`\\n  ${c} `));
    const sub = runCli([c, '--help']);
    t.is(sub.code, 0);
    t.regex(sub.stdout, /Usage: gen /);
  }
  const version = runCli(['--version']);
  t.is(version.code, 0);
  t.is(version.stdout.split('\n')[0], `gen ${JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version}`);
  t.is(runCli([]).code, 2);
  const unknown = runCli(['frobnicate']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown command 'frobnicate'/);
  const badFlag = runCli(['validate', '--sight', 'lab1']);
  t.is(badFlag.code, 2);
  t.regex(badFlag.stderr, /Unknown option '--sight'/);
  const noSite = runCli(['validate', '--site', 'lab9']);
  t.is(noSite.code, 2);
  t.regex(noSite.stderr, /no site named 'lab9'[\s\S]*known sites: .*lab1/);
});

test('NO_COLOR and non-terminals get no escape codes', (t) => {
  const r = runCli(['validate', '--site', join(corpusDir, corpus[0]!)]);
  t.false(r.stderr.includes('\u001b['));
});

test('gen --version names the version, the catalog releases and, in a checkout, the commit', (t) => {
  const r = runCli(['--version']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^gen \d+\.\d+\.\d+\n/);
  t.regex(r.stdout, /^catalog: v\d+\.\d+\.\d+(, v\d+\.\d+\.\d+)*$/m);
  t.true(r.stdout.includes(`installed at: ${repoRoot}`));
  if (existsSync(join(repoRoot, '.git'))) t.regex(r.stdout, /^commit: [0-9a-f]{12}(-dirty)?$/m);
});

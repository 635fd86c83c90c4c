import test from 'ava';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { cpSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { Catalog } from '../../generator/model/index.js';
import { InputError } from '../../generator/model/index.js';
import { bootstrapToken, certPaths, TOKEN_PATH } from '../../generator/pki/issue.js';
import { operatorFiles, selectForNode } from '../../generator/pki/select.js';
import { certInstances } from '../../generator/pki/table.js';
import { realCrypto } from '../../generator/io/crypto.js';
import { loadDefaultCatalog, runCli } from '../helpers.js';
import { flattenState, makeState } from '../pki-fixture.js';
import { ecdsa, k8s03Worker, lab1, nodeNamed, siteFromLab1 } from '../sites.js';
import { readState } from '../../generator/io/state.js';
import { tempDirs } from '../temp.js';
import { describeTree } from '../tree.js';

let catalog: Catalog;
const tmp = tempDirs();
test.before(async () => {
  catalog = await loadDefaultCatalog();
});

/** Every file of a state with its mtime and text: a rewrite shows even when the bytes are the same. */
const listing = (dir: string) => describeTree(dir, (e) => `${e.stat.mtimeMs} ${readFileSync(e.abs, 'utf8')}`);

test('re-running on an existing state changes no file, not even its mtime', async (t) => {
  const site = siteFromLab1(catalog, ecdsa);
  const first = await makeState(site);
  tmp.adopt(first.root);
  const before = listing(first.dir);
  const again = await makeState(site, first.root);
  t.deepEqual(again.changed, []);
  t.true(again.report.every((r) => r.status === 'kept'));
  t.deepEqual(listing(first.dir), before);
});

test('--renew reissues every leaf and keeps the CAs', async (t) => {
  const site = siteFromLab1(catalog, ecdsa);
  const first = await makeState(site);
  tmp.adopt(first.root);
  const before = new Map(first.files);
  const renewed = await makeState(site, first.root, { renew: true });
  for (const inst of certInstances(site)) {
    const p = certPaths(inst);
    if (inst.spec.kind === 'leaf') t.not(renewed.files.get(p.crt), before.get(p.crt), `${inst.id} reissued`);
    else t.is(renewed.files.get(p.crt), before.get(p.crt), `${inst.id} kept`);
  }
  t.is(renewed.files.get(TOKEN_PATH), before.get(TOKEN_PATH));
});

test('a changed node address reissues exactly the certificates that name it', async (t) => {
  const site = siteFromLab1(catalog, ecdsa);
  const first = await makeState(site);
  tmp.adopt(first.root);
  const moved = siteFromLab1(catalog, ecdsa, (s) => {
    nodeNamed(s, 'k8s-03').address = '192.168.93.57/24';
  });
  const second = await makeState(moved, first.root);
  const reissued = second.report
    .filter((r) => r.status === 'reissued')
    .map((r) => r.id)
    .sort();
  t.deepEqual(reissued, ['apiserver/k8s-01', 'apiserver/k8s-02', 'apiserver/k8s-03', 'etcd-peer/k8s-03', 'etcd-server/k8s-03', 'kubelet-serving/k8s-03']);
  t.true(second.report.filter((r) => r.status === 'reissued').every((r) => r.reason === 'subject alternative names changed'));
});

test('--rotate-ca makes a new PKI and keeps the old state beside it', async (t) => {
  const site = siteFromLab1(catalog, ecdsa);
  const first = await makeState(site);
  tmp.adopt(first.root);
  const oldCa = first.files.get('pki/ca.crt');
  const rotated = await makeState(site, first.root, { rotateCa: true });
  t.not(rotated.files.get('pki/ca.crt'), oldCa);
  t.truthy(rotated.previous);
  t.is(readFileSync(join(rotated.previous!, 'current/pki/ca.crt'), 'utf8'), oldCa!);
  const sorted = (m: Map<string, string> | null) => [...(m ?? [])].sort(([a], [b]) => a.localeCompare(b));
  t.deepEqual(sorted(await readState(rotated.previous!)), sorted(first.files), 'the kept state is whole and readable');
  t.is(statSync(first.dir).mode & 0o777, 0o700);
});

/** Each damage, and what a state from before revisions (no manifest) says about it. */
const corruptions: [string, (dir: string, other: string) => void, RegExp][] = [
  [
    'a truncated key',
    (d) => writeFileSync(join(d, 'pki/apiserver-etcd-client.key'), '-----BEGIN PRIVATE KEY-----\nMIIB\n'),
    /pki\/apiserver-etcd-client\.key is not a private key/,
  ],
  [
    'a key that belongs to another certificate',
    (d) => cpSync(join(d, 'pki/scheduler.key'), join(d, 'pki/admin.key')),
    /pki\/admin\.crt does not match its private key/,
  ],
  [
    'a leaf signed by a foreign CA',
    (d, o) => {
      cpSync(join(o, 'pki/kube-proxy.crt'), join(d, 'pki/kube-proxy.crt'));
      cpSync(join(o, 'pki/kube-proxy.key'), join(d, 'pki/kube-proxy.key'));
    },
    /pki\/kube-proxy\.crt is not signed by the ca in this state/,
  ],
  ['a certificate without its key', (d) => rmSync(join(d, 'pki/sa.key')), /pki\/sa\.key is missing while its pair is present/],
  [
    'a state of another site',
    (d) => writeFileSync(join(d, 'state.json'), readFileSync(join(d, 'state.json'), 'utf8').replace('"lab1"', '"lab2"')),
    /belongs to site 'lab2'/,
  ],
  ['files without state.json', (d) => rmSync(join(d, 'state.json')), /no state\.json/],
  ['a damaged bootstrap token', (d) => writeFileSync(join(d, TOKEN_PATH), 'nope\n'), /bootstrap-token is not a bootstrap token/],
];

/** The member each damage touches first, as the state manifest names it. */
const touched: Record<string, RegExp> = {
  'a truncated key': /^state file pki\/apiserver-etcd-client\.key changed since kubeseed wrote it/,
  'a key that belongs to another certificate': /^state file pki\/admin\.key changed since kubeseed wrote it/,
  'a leaf signed by a foreign CA':
    /^state file pki\/kube-proxy\.crt changed since kubeseed wrote it \(its sha256 differs from the state manifest\) \(and pki\/kube-proxy\.key\)$/,
  'a certificate without its key': /^state file pki\/sa\.key is missing$/,
  'a state of another site': /^state file state\.json changed since kubeseed wrote it/,
  'files without state.json': /^state file state\.json is missing$/,
  'a damaged bootstrap token': /^state file secrets\/bootstrap-token changed since kubeseed wrote it/,
};

for (const [what, damage, message] of corruptions) {
  test(`a state with ${what} is exit 2 naming the member, and is left as it was`, async (t) => {
    const site = siteFromLab1(catalog, ecdsa);
    const st = await makeState(site);
    const other = await makeState(site);
    tmp.adopt(st.root);
    tmp.adopt(other.root);
    damage(join(st.dir, 'current'), join(other.dir, 'current'));
    const before = listing(st.dir);
    const err = await t.throwsAsync(makeState(site, st.root), { instanceOf: InputError });
    t.regex(err.message, touched[what]!);
    t.regex(err.hint!, /restore the state from a backup/);
    t.deepEqual(listing(st.dir), before, 'nothing was rewritten');
  });

  test(`a state from before revisions with ${what} is a clear error and is left as it was`, async (t) => {
    const site = siteFromLab1(catalog, ecdsa);
    const st = await makeState(site);
    const other = await makeState(site);
    tmp.adopt(st.root);
    tmp.adopt(other.root);
    flattenState(st.dir);
    flattenState(other.dir);
    damage(st.dir, other.dir);
    const before = listing(st.dir);
    const err = await t.throwsAsync(makeState(site, st.root), { instanceOf: InputError });
    t.regex(err.message, message);
    t.deepEqual(listing(st.dir), before, 'nothing was rewritten');
  });
}

test('asking for another key algorithm than the state has is refused with a hint', async (t) => {
  const st = await makeState(siteFromLab1(catalog, ecdsa));
  tmp.adopt(st.root);
  const err = await t.throwsAsync(makeState(siteFromLab1(catalog), st.root), { instanceOf: InputError });
  t.regex(err.message, /keys are ecdsa-p256, the site asks for rsa-2048/);
  t.regex(err.hint!, /--rotate-ca/);
});

test('leaves close to expiry are reported, and --renew replaces them', async (t) => {
  const site = siteFromLab1(catalog, ecdsa);
  const longAgo = new Date(Date.now() - 350 * 24 * 3600 * 1000);
  const st = await makeState(site, undefined, {}, longAgo);
  tmp.adopt(st.root);
  const again = await makeState(site, st.root);
  t.true(
    again.warnings.some((w) => /^kube-proxy expires in 1[45] days, on \S+: run gen certs --renew, then gen bundle/.test(w)),
    again.warnings.join('\n'),
  );
  const renewed = await makeState(site, st.root, { renew: true });
  t.deepEqual(renewed.warnings, []);
});

test('a worker receives no CA key, no etcd key, no sa.key and no admin credential (by content)', async (t) => {
  const site = siteFromLab1(catalog, ecdsa, k8s03Worker);
  const st = await makeState(site);
  tmp.adopt(st.root);
  const worker = site.nodes.find((n) => n.name === 'k8s-03')!;
  const files = selectForNode(site, worker, st.files);
  const forbidden = [...st.files.entries()].filter(([p]) =>
    /^pki\/(ca|etcd-ca|front-proxy-ca|sa|admin|bootstrapper)\.key$|^pki\/etcd-[a-z]+(\/.*)?\.key$|^pki\/etcd-healthcheck-client\.key$/.test(p),
  );
  t.true(forbidden.length >= 7);
  const blob = files.map((f) => f.content + Buffer.from(f.content).toString('base64')).join('\n');
  const decodedKubeconfigs = files
    .filter((f) => f.path.endsWith('.conf') || f.path.endsWith('kubeconfig'))
    .map((f) => parse(f.content) as { users: { user: Record<string, string> }[] });
  const embeddedKeys = decodedKubeconfigs.map((k) => Buffer.from(k.users[0]!.user['client-key-data']!, 'base64').toString());
  for (const [path, pem] of forbidden) {
    t.false(blob.includes(pem.trim()), `${path} is not among the worker's files`);
    t.false(embeddedKeys.includes(pem), `${path} is not embedded in a worker kubeconfig`);
  }
  t.deepEqual(
    files.map((f) => f.path),
    [
      '/etc/kubernetes/kubelet.conf',
      '/etc/kubernetes/pki/ca.crt',
      '/var/lib/kube-proxy/kubeconfig',
      '/var/lib/kubelet/pki/kubelet.crt',
      '/var/lib/kubelet/pki/kubelet.key',
    ],
  );
  t.true(files.filter((f) => f.path.endsWith('.key') || f.path.endsWith('.conf') || f.path.endsWith('kubeconfig')).every((f) => f.mode === '0600'));
  const admin = operatorFiles(site, st.files).find((f) => f.path === 'admin/admin.kubeconfig')!;
  t.false(files.some((f) => f.content === admin.content));
});

test('control planes get the encryption config with the 32-byte key, 0600', async (t) => {
  const site = siteFromLab1(catalog, ecdsa);
  const st = await makeState(site);
  tmp.adopt(st.root);
  const enc = selectForNode(site, site.nodes[0]!, st.files).find((f) => f.path === '/etc/kubernetes/encryption-config.yaml')!;
  t.is(enc.mode, '0600');
  const cfg = parse(enc.content) as { kind: string; resources: { providers: { secretbox?: { keys: { secret: string }[] } }[] }[] };
  t.is(cfg.kind, 'EncryptionConfiguration');
  t.is(Buffer.from(cfg.resources[0]!.providers[0]!.secretbox!.keys[0]!.secret, 'base64').length, 32);
});

test('bootstrap tokens have the kubeadm format and differ every time', (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const tok = bootstrapToken(realCrypto);
    t.regex(tok, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    seen.add(tok);
  }
  t.is(seen.size, 200);
});

test('gen certs creates the state once and reuses it; a damaged state exits 2', (t) => {
  const cwd = tmp('kubeseed-certs-cli-');
  const first = runCli(['certs', '--site', 'lab1', '--json'], { cwd });
  t.is(first.code, 0, first.stderr);
  const report = JSON.parse(first.stdout) as { state: string; discoveryHash: string; certificates: { status: string; notAfter?: string }[] };
  t.is(report.state, join(cwd, 'output', 'lab1', 'state'));
  t.regex(report.discoveryHash, /^sha256:[0-9a-f]{64}$/);
  t.true(report.certificates.every((c) => c.status === 'created'));
  const second = runCli(['certs', '--site', 'lab1'], { cwd });
  t.is(second.code, 0);
  t.regex(second.stdout, /\(unchanged\)/);
  t.regex(second.stdout, /apiserver\/k8s-01 +kube-apiserver +\d{4}-\d\d-\d\d +kept/);
  writeFileSync(join(report.state, 'current', 'pki', 'ca.key'), 'garbage');
  const broken = runCli(['certs', '--site', 'lab1'], { cwd });
  t.is(broken.code, 2);
  t.regex(broken.stderr, /^gen certs: state file pki\/ca\.key changed since kubeseed wrote it[\s\S]*hint: restore the state/);
  const custom = runCli(['certs', '--site', 'lab1', '--state', 'elsewhere', '--json'], { cwd });
  t.is(custom.code, 0, custom.stderr);
  t.true(existsSync(join(cwd, 'elsewhere', 'current', 'state.json')));
  t.true(createPrivateKey(readFileSync(join(cwd, 'elsewhere', 'current', 'pki', 'ca.key'))).asymmetricKeyType === 'rsa');
  t.truthy(new X509Certificate(readFileSync(join(cwd, 'elsewhere', 'current', 'pki', 'ca.crt'))).ca);
});

test('gen certs warns about what expires within 30 days; --check reports it, writes nothing and exits 1', (t) => {
  const cwd = tmp('kubeseed-certs-check-');
  const short = lab1();
  short.spec.pki.keyAlgorithm = 'ecdsa-p256';
  short.spec.pki.certValidity = '480h';
  writeFileSync(join(cwd, 'short.yaml'), stringify(short));
  const none = runCli(['certs', '--site', './short.yaml', '--check'], { cwd });
  t.is(none.code, 2, none.stderr);
  t.regex(none.stderr, /there is no site state at .*hint: gen certs --site lab1 creates it/s);

  const made = runCli(['certs', '--site', './short.yaml'], { cwd, env: { NO_COLOR: '1' } });
  t.is(made.code, 0, made.stderr);
  const leaves = certInstances(siteFromLab1(catalog, ecdsa)).filter((i) => i.spec.kind === 'leaf').length;
  const warned = made.stderr.split('\n').filter((l) => /^warning: \S+ expires in 19 days, on \S+: run gen certs --renew/.test(l));
  t.is(warned.length, leaves, made.stderr);

  const state = join(cwd, 'output', 'lab1', 'state');
  const before = listing(state);
  const checked = runCli(['certs', '--site', './short.yaml', '--check'], { cwd, env: { NO_COLOR: '1' } });
  t.is(checked.code, 1, checked.stderr);
  t.is(checked.stderr.split('\n').filter((l) => l.startsWith('warning: ')).length, leaves);
  t.regex(checked.stdout, /^kube-proxy +system:kube-proxy +\d{4}-\d\d-\d\d +19 +expiring$/m);
  t.regex(checked.stdout, /^ca +kubernetes +\d{4}-\d\d-\d\d +3649 +ok$/m);
  t.regex(checked.stdout, new RegExp(`check failed: ${leaves} of \\d+ certificates and CAs expire within 30 days`));
  t.deepEqual(listing(state), before, '--check writes nothing, not even a lock');

  const json = runCli(['certs', '--site', './short.yaml', '--check', '--json'], { cwd });
  t.is(json.code, 1);
  const report = JSON.parse(json.stdout) as { ok: boolean; withinHours: number; expiry: { id: string; state: string; daysLeft: number }[] };
  t.false(report.ok);
  t.is(report.withinHours, 720);
  t.is(report.expiry.find((f) => f.id === 'apiserver/k8s-01')?.state, 'expiring');

  const narrow = runCli(['certs', '--site', './short.yaml', '--check', '--within', '7d'], { cwd });
  t.is(narrow.code, 0, narrow.stderr);
  t.regex(narrow.stdout, /check passed: none of \d+ certificates and CAs expires within 7 days; the first to expire is /);
  t.is(narrow.stderr, '');

  const renewed = runCli(['certs', '--site', './short.yaml', '--renew', '--within', '10d'], { cwd });
  t.is(renewed.code, 0, renewed.stderr);
  t.notRegex(renewed.stderr, /warning: .* expires/);

  for (const [args, message] of [
    [['--check', '--renew'], /--check .*--renew/],
    [['--check', '--within', '3w'], /--within 3w is not a duration/],
  ] as const) {
    const bad = runCli(['certs', '--site', './short.yaml', ...args], { cwd });
    t.is(bad.code, 2, args.join(' '));
    t.regex(bad.stderr, message);
  }
  const help = runCli(['certs', '--help']);
  t.regex(help.stdout, /--check +report how long every certificate and CA has left/);
  t.regex(help.stdout, /--within DURATION/);
});

import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLock } from '../../generator/fetch/lock.js';
import { flatStanza, parseDepends, parsePackages, parseProvides, parseRelease } from '../../generator/ospkg/control.js';
import { baselineFromIndex, installedFromStatus, PackageIndex, resolveClosure, ResolveError, type InstalledPackage } from '../../generator/ospkg/resolve.js';
import { compareVersions, satisfies } from '../../generator/ospkg/version.js';
import { fakeDeb, stanzaOf, type FakePackage } from '../debrepo-fixture.js';

// Pairs in the order dpkg --compare-versions gives them (each checked with dpkg 1.21 on Debian 12).
const ORDERED: [string, string][] = [
  ['1.0', '1.1'],
  ['1.0~rc1', '1.0'],
  ['1.0~~', '1.0~'],
  ['1.0~', '1.0'],
  ['1.0', '1.0+b1'],
  ['1.0', '1.0a'],
  ['1.0a', '1.0b'],
  ['1.0-1', '1.0-2'],
  ['1.0-9', '1.0-10'],
  ['1.0-1', '1.0.1-1'],
  ['2:1.0', '10:0.1'],
  ['1:0.1', '2:2.0'],
  ['9.9', '1:0.1'],
  ['1.2.3', '1.2.10'],
  ['1.22.1-9+deb12u8', '1.22.1-9+deb12u9'],
  ['1.22.1-9+deb12u9', '1.22.1-9+deb12u9.1~'],
  ['2.36-9+deb12u9', '2.36-9+deb12u10'],
  ['0.0.17+nmu1', '0.0.17+nmu1+b1'],
  ['3.0043+nmu1', '3.0043+nmu1+deb12u1'],
  ['1.0a', '1.0+'],
  ['1.0+', '1.0.'],
  ['1.0~a', '1.0~b'],
];

test('Debian version comparison orders versions as dpkg does: epoch, ~ before everything, letters before symbols, digits numerically', (t) => {
  for (const [a, b] of ORDERED) {
    t.is(compareVersions(a, b), -1, `${a} < ${b}`);
    t.is(compareVersions(b, a), 1, `${b} > ${a}`);
  }
  for (const [a, b] of [
    ['1.0', '1.0'],
    ['0:1.0', '1.0'],
    ['1.0-0', '1.0'],
    ['1.01', '1.1'],
    ['1.0-1', '1.0-01'],
  ] as const)
    t.is(compareVersions(a, b), 0, `${a} = ${b}`);
  t.true(satisfies('1.0-2', '>=', '1.0-1'));
  t.false(satisfies('1.0-1', '>>', '1.0-1'));
  t.true(satisfies('1.0-1', '<<', '1.0-1.1~'));
  t.true(satisfies('1:1.4.7-1+b2', '=', '1:1.4.7-1+b2'));
  t.true(satisfies('1.0', '<=', '1.0'));
});

test('dependency fields: groups, | alternatives, version relations (old < and > too), arch qualifiers; a malformed atom is an error', (t) => {
  t.deepEqual(parseDepends('libc6 (>= 2.34), libxtables12 (= 1.8.9-2), adduser | passwd, python3:any, foo:amd64 (<< 2)'), [
    [{ name: 'libc6', relation: '>=', version: '2.34' }],
    [{ name: 'libxtables12', relation: '=', version: '1.8.9-2' }],
    [{ name: 'adduser' }, { name: 'passwd' }],
    [{ name: 'python3', archQualifier: 'any' }],
    [{ name: 'foo', archQualifier: 'amd64', relation: '<<', version: '2' }],
  ]);
  t.deepEqual(parseDepends('a (< 1), b (> 2)'), [[{ name: 'a', relation: '<=', version: '1' }], [{ name: 'b', relation: '>=', version: '2' }]]);
  t.deepEqual(parseDepends(''), []);
  t.deepEqual(parseDepends('a [amd64] <!nocheck>'), [[{ name: 'a' }]]);
  t.throws(() => parseDepends('a (>= )'), { message: /malformed dependency 'a \(>= \)'/ });
  t.deepEqual(parseProvides('httpd, nginx-abi-1.22.1-7, mail-transport-agent (= 1.0), x:any'), [
    { name: 'httpd' },
    { name: 'nginx-abi-1.22.1-7' },
    { name: 'mail-transport-agent', version: '1.0' },
    { name: 'x' },
  ]);
});

test('Packages stanzas: the fields read, continuation lines, the stanza kept as published; Release: the SHA256 list', (t) => {
  const text =
    'Package: a\nVersion: 1\nArchitecture: amd64\nDepends: b,\n c (>= 2)\nDescription: x\n more\nSHA256: ' +
    '0'.repeat(64) +
    '\nSize: 12\nFilename: pool/main/a/a_1_amd64.deb\n\nPackage: b\nVersion: 2\nArchitecture: all\nEssential: yes\nPriority: required\n';
  const [a, b] = parsePackages(text);
  t.is(a!.depends, 'b, c (>= 2)');
  t.is(a!.size, 12);
  t.true(a!.stanza.startsWith('Package: a\n') && a!.stanza.endsWith('Filename: pool/main/a/a_1_amd64.deb'));
  t.true(b!.essential);
  t.is(b!.priority, 'required');
  t.is(
    flatStanza(a!.stanza, 'a_1_amd64.deb')
      .split('\n')
      .find((l) => l.startsWith('Filename:')),
    'Filename: ./a_1_amd64.deb',
  );
  const rel = parseRelease(
    `Suite: oldstable\nCodename: bookworm\nMD5Sum:\n ${'1'.repeat(32)} 10 main/binary-amd64/Packages.gz\nSHA256:\n ${'a'.repeat(64)}   123 main/binary-amd64/Packages.gz\n ${'b'.repeat(64)} 456 main/binary-amd64/Packages\n`,
  );
  t.is(rel.fields.Codename, 'bookworm');
  t.deepEqual(rel.sha256.get('main/binary-amd64/Packages.gz'), { size: 123, sha256: 'a'.repeat(64) });
  t.is(rel.sha256.size, 2);
});

/** An index made from fake packages, as bytes. */
function indexOf(packages: FakePackage[], arch = 'amd64'): PackageIndex {
  return new PackageIndex([Buffer.from(`${packages.map((p) => stanzaOf(p, fakeDeb(p))).join('\n\n')}\n`)], arch);
}
const inst = (name: string, version: string, provides: InstalledPackage['provides'] = []): InstalledPackage => ({
  name,
  version,
  arch: 'amd64',
  multiArch: 'no',
  provides,
});
const names = (ps: { name: string }[]) => ps.map((p) => p.name);

test('resolver: Depends and Pre-Depends are followed, what is installed (in a satisfying version) is left out', (t) => {
  const idx = indexOf([
    { name: 'app', version: '1', depends: 'liba (>= 2), libb', preDepends: 'libc' },
    { name: 'liba', version: '2', depends: 'libc' },
    { name: 'libb', version: '1' },
    { name: 'libc', version: '3' },
    { name: 'unrelated', version: '1' },
  ]);
  t.deepEqual(names(resolveClosure(idx, ['app'], [])), ['app', 'liba', 'libb', 'libc']);
  t.deepEqual(names(resolveClosure(idx, ['app'], [inst('libc', '3'), inst('libb', '0.9')])), ['app', 'liba']);
  // An installed version too old for a versioned dependency is upgraded, as apt does.
  t.deepEqual(names(resolveClosure(idx, ['app'], [inst('liba', '1')])), ['app', 'liba', 'libb', 'libc']);
  // A requested package already installed in the candidate's version adds nothing.
  t.deepEqual(names(resolveClosure(idx, ['libb'], [inst('libb', '1')])), []);
});

test('resolver: the first satisfiable alternative wins unless a later one is already there; virtual packages through Provides', (t) => {
  const idx = indexOf([
    { name: 'app', version: '1', depends: 'missing | mta, default-editor | vim' },
    { name: 'postfix', version: '3', priority: 'optional', provides: 'mta' },
    { name: 'exim4', version: '4', priority: 'standard', provides: 'mta' },
    { name: 'vim', version: '9' },
    { name: 'nano', version: '7', provides: 'default-editor' },
  ]);
  // mta: two providers, exim4 has the higher priority; default-editor: only nano provides it.
  t.deepEqual(names(resolveClosure(idx, ['app'], [])), ['app', 'exim4', 'nano']);
  t.deepEqual(names(resolveClosure(idx, ['app'], [inst('vim', '9'), inst('postfix', '3', [{ name: 'mta' }])])), ['app']);
  t.throws(() => resolveClosure(idx, ['mta'], []), { instanceOf: ResolveError, message: /mta is a virtual package \(provided by exim4, postfix\)/ });
});

test('resolver: versioned dependencies need versioned Provides; the candidate is the highest version; arch all and :any qualifiers', (t) => {
  const idx = indexOf([
    { name: 'app', version: '1', depends: 'abi (>= 2), tool:any, data' },
    { name: 'old-abi', version: '1', provides: 'abi' },
    { name: 'new-abi', version: '1', provides: 'abi (= 2.1)' },
    { name: 'tool', version: '1', multiArch: 'allowed' },
    { name: 'data', version: '1', arch: 'all' },
    { name: 'data', version: '2', arch: 'all' },
    { name: 'other-arch', version: '1', arch: 'arm64' },
  ]);
  const r = resolveClosure(idx, ['app'], []);
  t.deepEqual(names(r), ['app', 'data', 'new-abi', 'tool']);
  t.is(r.find((p) => p.name === 'data')!.version, '2');
  t.throws(() => resolveClosure(idx, ['other-arch'], []), { message: /other-arch is not in the index/ });
  const strict = indexOf([
    { name: 'app', version: '1', depends: 'tool:any' },
    { name: 'tool', version: '1' },
  ]);
  t.throws(() => resolveClosure(strict, ['app'], []), { message: /app 1 depends on tool:any, which the index cannot satisfy/ });
});

test('resolver: unsatisfiable dependencies and conflicts are all reported at once, by package', (t) => {
  const idx = indexOf([
    { name: 'a', version: '1', depends: 'gone (>= 1)' },
    { name: 'b', version: '1', depends: 'c (>= 5)' },
    { name: 'c', version: '4' },
    { name: 'd', version: '1', conflicts: 'e' },
    { name: 'e', version: '1' },
  ]);
  const e = t.throws(() => resolveClosure(idx, ['a', 'b', 'd', 'e', 'nosuch'], []), { instanceOf: ResolveError });
  t.deepEqual(e.problems, [
    'a 1 depends on gone (>= 1), which the index cannot satisfy',
    'b 1 depends on c (>= 5), which the index cannot satisfy',
    'd 1 conflicts with e, and e 1 would be installed',
    'nosuch is not in the index',
  ]);
});

test('baseline: Priority required and Essential packages and the named extras, with their dependencies', (t) => {
  const idx = indexOf([
    { name: 'libc6', version: '2', priority: 'required' },
    { name: 'dash', version: '1', essential: true, priority: 'optional', depends: 'libc6, debianutils' },
    { name: 'debianutils', version: '5', priority: 'important' },
    { name: 'systemd', version: '252', priority: 'important', depends: 'libsystemd0' },
    { name: 'libsystemd0', version: '252' },
    { name: 'socat', version: '1' },
  ]);
  t.deepEqual(names(baselineFromIndex(idx, ['systemd'])), ['dash', 'debianutils', 'libc6', 'libsystemd0', 'systemd']);
  const status = parsePackages(
    'Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\nProvides: x\n\nPackage: b\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: amd64\n',
  );
  t.deepEqual(installedFromStatus(status), [{ name: 'a', version: '1', arch: 'amd64', multiArch: 'no', provides: [{ name: 'x' }] }]);
});

test('a lock written before OS packages were carried still loads', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeseed-lock-'));
  const file = join(dir, 'old.lock.json');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'kubeseed/v1alpha1',
      kind: 'Lock',
      site: 'lab1',
      artifacts: { 'etcd@v3.5.0/amd64': { url: 'https://x/etcd.tgz', size: 1, sha256: 'a'.repeat(64) } },
      images: {},
    }),
  );
  const lock = await readLock(file);
  t.is(lock!.site, 'lab1');
  t.is(lock!.osPackages, undefined);
});

import test from 'ava';
import { expandTemplate, findRelease, parseCatalog } from '../../generator/catalog/load.js';
import { CONTAINERD_QUIRKS, QUIRKS, containerdQuirk, minorOf, parseContainerdVersion, quirk } from '../../generator/catalog/quirks.js';
import { join } from 'node:path';
import { readCatalog } from '../../generator/pipeline/load.js';
import { realFs } from '../../generator/io/fs.js';
import { loadDefaultCatalog, repoRoot } from '../helpers.js';

test('the shipped catalog loads and has v1.20.2 and a current release line', async (t) => {
  const c = await loadDefaultCatalog();
  t.truthy(findRelease(c, 'v1.20.2'));
  t.true(
    c.releases.some((r) => minorOf(r.version) >= 33),
    'a release of 1.33 or newer',
  );
  for (const r of c.releases) {
    t.true(r.provenance.length > 0, `${r.version} states where its facts come from`);
    for (const comp of c.components.filter((x) => !x.optional)) t.truthy(r.versions[comp.versionOf], `${r.version} names a version for ${comp.name}`);
    t.truthy(c.lifecycle[`1.${minorOf(r.version)}`], `${r.version}: the catalog knows its minor's end of life`);
    for (const [name, byArch] of Object.entries(r.pinned)) {
      t.truthy(
        c.components.find((x) => x.name === name),
        `pin for unknown component ${name}`,
      );
      for (const a of Object.keys(byArch)) t.true(r.arch.includes(a), `${r.version} pins ${name} for ${a}, which it does not offer`);
    }
    const pause = r.images.find((i) => i.name === 'pause');
    t.truthy(pause, `${r.version} has a pause image`);
    t.true(
      pause!.aliases.some((a) => a.startsWith('k8s.gcr.io/')),
      'pause keeps its k8s.gcr.io alias for the old guides',
    );
    t.true(
      r.images.every((i) => !i.ref.startsWith('k8s.gcr.io/')),
      'images are pulled from registry.k8s.io, k8s.gcr.io only as alias',
    );
  }
});

test('templates expand version, semver and arch', (t) => {
  t.is(expandTemplate('v{semver}/containerd-{semver}-linux-{arch}.tar.gz', { version: '2.1.4', arch: 'arm64' }), 'v2.1.4/containerd-2.1.4-linux-arm64.tar.gz');
  t.is(expandTemplate('{version}/etcd-{version}-linux-{arch}.tar.gz', { version: 'v3.5.25', arch: 'amd64' }), 'v3.5.25/etcd-v3.5.25-linux-amd64.tar.gz');
});

test('a broken catalog is reported with file, path and line', (t) => {
  const r = parseCatalog('/c', [
    { path: 'catalog.yaml', text: 'apiVersion: kubeseed/v1alpha1\nkind: Catalog\nsources: {k: "not a url"}\ncomponents: {}\n' },
    { path: 'releases/v1.30.0.yaml', text: 'version: v1.31.0\nprovenance: [x]\narch: [amd64]\nversions: {}\nimages: []\n' },
  ]);
  t.falsy(r.catalog);
  t.truthy(r.issues.find((i) => i.path === 'sources.k' && i.file === '/c/catalog.yaml' && i.line === 3));
  t.truthy(r.issues.find((i) => i.message.includes('does not match the file name') && i.line === 1));
  t.truthy(parseCatalog('/c', []).issues.find((i) => i.message.includes('catalog index is missing')));
});

test('a component naming an unknown source or a version the release lacks is rejected', (t) => {
  const r = parseCatalog('/c', [
    {
      path: 'catalog.yaml',
      text: 'apiVersion: kubeseed/v1alpha1\nkind: Catalog\nsources: {a: "https://a.example"}\ncomponents:\n  x: {description: d, versionOf: x, source: b, path: p, format: binary, checksum: {kind: pinned}}\n',
    },
    { path: 'releases/v1.30.0.yaml', text: 'version: v1.30.0\nprovenance: [x]\narch: [amd64]\nversions: {}\nimages: []\n' },
  ]);
  t.truthy(r.issues.find((i) => i.path === 'components.x.source'));
  t.truthy(r.issues.find((i) => i.message.includes("no version for 'x'")));
});

/** Each quirk, at the versions on both sides of its boundary. */
const QUIRK_BOUNDARIES: Record<keyof typeof QUIRKS, [last: number, first: number, appliesAfter: boolean]> = {
  insecurePortFlag: [23, 24, false],
  kubeletDockershimFlags: [23, 24, false],
  runtimeEndpointInConfig: [26, 27, true],
  clusterAdminsGroup: [28, 29, true],
  cgroupV2: [24, 25, true],
  kubeadmV1beta3: [21, 22, true],
  kubeadmV1beta4: [30, 31, true],
  kubeadmCorednsSubpath: [20, 21, true],
  nftablesProxy: [30, 31, true],
  nftablesProxyDefault: [32, 33, true],
  ipvsDeprecated: [34, 35, true],
  cgroupV1Refused: [34, 35, true],
};

for (const [name, [last, first, after]] of Object.entries(QUIRK_BOUNDARIES)) {
  test(`quirk ${name} changes between 1.${last} and 1.${first}`, (t) => {
    const q = name as keyof typeof QUIRKS;
    t.is(quirk(q, last), !after);
    t.is(quirk(q, first), after);
    t.is(quirk(q, 20), !after);
    t.is(quirk(q, 36), after);
  });
}

test('every quirk has a boundary test and a reason', (t) => {
  t.deepEqual(Object.keys(QUIRK_BOUNDARIES).sort(), Object.keys(QUIRKS).sort());
  for (const q of Object.values(QUIRKS)) t.true(q.why.length > 5);
});

test('minorOf reads 1.x versions and refuses others', (t) => {
  t.is(minorOf('v1.34.2'), 34);
  t.is(minorOf('1.20.2'), 20);
  t.throws(() => minorOf('v2.0.0'));
});

/** Each containerd quirk: the last version without it and the first with it. */
const CONTAINERD_BOUNDARIES: Record<keyof typeof CONTAINERD_QUIRKS, [without: string, first: string]> = {
  configV3: ['1.7.28', '2.0.0'],
  registryConfigPath: ['1.4.3', '1.5.0'],
  importPlatformFlag: ['1.5.18', '1.6.0'],
};

for (const [name, [without, withIt]] of Object.entries(CONTAINERD_BOUNDARIES)) {
  test(`containerd quirk ${name} starts at ${withIt}`, (t) => {
    const q = name as keyof typeof CONTAINERD_QUIRKS;
    t.false(containerdQuirk(q, without));
    t.true(containerdQuirk(q, withIt));
    t.true(containerdQuirk(q, 'v2.3.4'), 'catalogs may write a leading v');
    t.true(CONTAINERD_QUIRKS[q].why.length > 5);
  });
}

test('every containerd quirk has a boundary test; versions that are not x.y.z are refused', (t) => {
  t.deepEqual(Object.keys(CONTAINERD_BOUNDARIES).sort(), Object.keys(CONTAINERD_QUIRKS).sort());
  t.deepEqual(parseContainerdVersion('1.6.20'), { major: 1, minor: 6 });
  t.throws(() => parseContainerdVersion('latest'));
});

test("the e2e catalog's OS-package needs are the shipped catalog's, for Debian", async (t) => {
  const shipped = (await loadDefaultCatalog()).osPackages!;
  const r = await readCatalog(realFs, join(repoRoot, 'test', 'e2e', 'catalog'));
  t.deepEqual(r.issues, []);
  const e2e = r.catalog!.osPackages!;
  t.deepEqual(
    e2e.needs.map((n) => ({ when: n.when, packages: n.packages.debian })),
    shipped.needs.map((n) => ({ when: n.when, packages: n.packages.debian })),
  );
  t.deepEqual(e2e.families.debian, shipped.families.debian && { ...shipped.families.debian, keys: e2e.families.debian!.keys });
  t.is(join('test/e2e/catalog', e2e.families.debian!.keys), join('blueprints/catalog', shipped.families.debian!.keys));
});

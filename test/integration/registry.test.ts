import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeImageArchive } from '../../generator/pack/images.js';
import type { FetchEvents } from '../../generator/fetch/artifacts.js';
import { fetchSite, type FetchOptions } from '../../generator/pipeline/fetch.js';
import { imageArchive } from '../../generator/registry/export.js';
import { mirrorFor } from '../../generator/plan/images.js';
import { containerdHosts } from '../../generator/render/host-config.js';
import { fetchFixture, fetchOptions, serveArtifacts } from '../fetch-fixture.js';
import { runCliAsync } from '../helpers.js';
import { BearerGateway, buildTestImages, TestContainerd, TestRegistry } from '../registry-fixture.js';
import { UpstreamServer } from '../upstream-server.js';
import { tempDirs } from '../temp.js';

/** lab1's images, pushed to the test registry under the paths their references have; the docker.io ones in Docker's format (manifest list, schema 2). */
const IMAGES = [
  'registry.k8s.io/pause:3.10.2',
  'registry.k8s.io/coredns/coredns:v1.14.4',
  'registry.k8s.io/metrics-server/metrics-server:v0.9.0',
  'docker.io/flannel/flannel:v0.28.4',
  'docker.io/flannel/flannel-cni-plugin:v1.7.1-flannel1',
];
const CREDS = { user: 'mirror', password: 'n0t-a-real-secret' };
const pathOf = (ref: string) => mirrorFor(ref, { 'registry.k8s.io': 'x', 'docker.io': 'x' }).slice(2);

const root = tempDirs()('kubeseed-registry-');
let built: ReturnType<typeof buildTestImages>;
let anon: TestRegistry;
let secured: TestRegistry;
let up: UpstreamServer;

test.before(async () => {
  built = buildTestImages(join(root, 'images'), IMAGES);
  mkdirSync(join(root, 'anon'));
  mkdirSync(join(root, 'secured'));
  anon = await new TestRegistry(join(root, 'anon')).start();
  secured = await new TestRegistry(join(root, 'secured'), CREDS).start();
  for (const ref of IMAGES) {
    anon.push(built.layout, built.tags.get(ref)!, pathOf(ref), ref.startsWith('docker.io/') ? 'v2s2' : 'oci');
    secured.push(built.layout, built.tags.get(ref)!, pathOf(ref));
  }
  up = await new UpstreamServer().start();
});

test.after.always(async () => {
  await up?.stop();
  await anon?.stop();
  await secured?.stop();
});

const options = (dir: string, over: Partial<FetchOptions> = {}): FetchOptions => fetchOptions(dir, { timeoutMs: 5000, retries: 3, backoffMs: 10 }, over);

function newDir(name: string): string {
  const d = join(root, name);
  mkdirSync(d);
  return d;
}

test.serial(
  'an anonymous registry: gen fetch mirrors every image; a real containerd imports the archive under every name with the registry digest',
  async (t) => {
    t.timeout(120_000);
    const dir = newDir('t-anon');
    const fx = await fetchFixture(dir, up.base, { mirror: `http://${anon.host}`, arm64Node: true });
    serveArtifacts(up, fx.plan, () => 4096);
    const r = await runCliAsync(['fetch', '--site', fx.siteFile, '--catalog', fx.catalogDir, '--cache', join(dir, 'cache')], { env: { HOME: dir } });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /22 artifact\(s\), 5 image\(s\)/);

    const lock = JSON.parse(readFileSync(join(dir, 'lab1.lock.json'), 'utf8'));
    for (const ref of IMAGES) {
      t.is(lock.images[ref].digest, anon.digest(pathOf(ref)), ref);
      t.is(
        lock.images[ref].mediaType,
        ref.startsWith('docker.io/') ? 'application/vnd.docker.distribution.manifest.list.v2+json' : 'application/vnd.oci.image.index.v1+json',
      );
      t.deepEqual(Object.keys(lock.images[ref].platforms), ['linux/amd64', 'linux/arm64']);
    }
    // The busybox layer all ten manifests share is stored once: 5 indexes, 10 manifests, 10 configs, 5 own layers, 1 shared layer (+22 artifacts).
    t.is(readdirSync(join(dir, 'cache', 'blobs', 'sha256')).length, 5 + 10 + 10 + 5 + 1 + 22);

    // The cache is an OCI image layout naming every image it holds.
    const cacheIndex = JSON.parse(readFileSync(join(dir, 'cache', 'index.json'), 'utf8'));
    t.deepEqual(cacheIndex.manifests.map((m: { annotations: Record<string, string> }) => m.annotations['io.containerd.image.name']).sort(), [...IMAGES].sort());
    t.is(JSON.parse(readFileSync(join(dir, 'cache', 'oci-layout'), 'utf8')).imageLayoutVersion, '1.0.0');

    // A second run over the lock goes nowhere near the registry.
    const again = await runCliAsync(['fetch', '--site', fx.siteFile, '--catalog', fx.catalogDir, '--cache', join(dir, 'cache'), '--offline'], {
      env: { HOME: dir },
    });
    t.is(again.code, 0, again.stderr);

    const out = await fetchSite(fx.site, fx.plan, options(dir, { offline: true }));
    for (const arch of ['amd64', 'arm64'])
      await writeImageArchive(
        imageArchive(out.images, fx.plan, arch, (h) => out.cache.blobPath(h)),
        join(dir, `images-${arch}.oci.tar`),
        0,
      );
    const arm = execFileSync('tar', ['-tf', join(dir, 'images-arm64.oci.tar')], { encoding: 'utf8' });
    const amd = execFileSync('tar', ['-tf', join(dir, 'images-amd64.oci.tar')], { encoding: 'utf8' });
    for (const ref of IMAGES) {
      t.true(amd.includes(lock.images[ref].platforms['linux/amd64'].digest.replace(':', '/')));
      t.false(amd.includes(lock.images[ref].platforms['linux/arm64'].digest.replace(':', '/')), 'no arm64 manifest in the amd64 archive');
      t.true(arm.includes(lock.images[ref].platforms['linux/arm64'].digest.replace(':', '/')));
    }

    const cd = await new TestContainerd(newDir('containerd')).start();
    try {
      cd.ctr(['-n', 'k8s.io', 'images', 'import', join(dir, 'images-amd64.oci.tar')]);
      const listed = cd.ctr(['-n', 'k8s.io', 'images', 'ls']);
      const rows = new Map(
        listed
          .split('\n')
          .slice(1)
          .filter(Boolean)
          .map((l) => {
            const c = l.split(/\s+/);
            return [c[0]!, c[2]!];
          }),
      );
      t.regex(listed, /docker\.io\/flannel\/flannel:v0\.28\.4\s+application\/vnd\.docker\.distribution\.manifest\.list\.v2\+json/);
      const names = fx.plan.images.filter((i) => i.platform === 'linux/amd64').flatMap((i) => [i.ref, ...i.aliases]);
      t.true(
        names.some((n) => n.startsWith('k8s.gcr.io/')),
        'the catalog names k8s.gcr.io aliases',
      );
      for (const name of names) {
        const ref = IMAGES.find((r) => r === name || fx.plan.images.find((i) => i.ref === r)?.aliases.includes(name))!;
        t.is(rows.get(name), anon.digest(pathOf(ref)), `ctr lists ${name} with the registry's digest`);
      }
      t.is(rows.size, names.length);
      // Every byte this platform needs is present: containerd calls the image complete.
      const check = cd.ctr(['-n', 'k8s.io', 'images', 'check']).split('\n').slice(1).filter(Boolean);
      t.is(check.length, names.length);
      for (const line of check) t.regex(line, /\bcomplete \(\d+\/\d+\)/, line);
    } finally {
      await cd.stop();
    }
  },
);

test.serial("a first pull announces each image's size once its manifests are read (progress gets a percentage), the size done reports", async (t) => {
  const dir = newDir('t-sizes');
  const fx = await fetchFixture(dir, up.base, { mirror: `http://${anon.host}` });
  serveArtifacts(up, fx.plan, () => 1024);
  const announced = new Map<string, number | null>();
  const finished = new Map<string, number>();
  const events: FetchEvents = {
    start: (id, total) => announced.set(id, total),
    total: (id, total) => announced.set(id, total),
    bytes() {},
    retry() {},
    done: (id, r) => finished.set(id, r.size),
  };
  await fetchSite(fx.site, fx.plan, options(dir, { events }));
  for (const ref of IMAGES) {
    t.true((announced.get(ref) ?? 0) > 0, `${ref} announced ${announced.get(ref)}`);
    t.is(announced.get(ref), finished.get(ref), ref);
  }
});

test.serial('htpasswd basic auth: credentials from --registry-auth work; without them the error says what is missing', async (t) => {
  const dir = newDir('t-basic');
  const fx = await fetchFixture(dir, up.base, { mirror: `http://${secured.host}` });
  serveArtifacts(up, fx.plan, () => 1024);
  const noCreds = await runCliAsync(['fetch', '--site', fx.siteFile, '--catalog', fx.catalogDir, '--cache', join(dir, 'cache')], { env: { HOME: dir } });
  t.is(noCreds.code, 1);
  t.regex(noCreds.stderr, new RegExp(`${secured.host.replace(/\./g, '\\.')} asks for a user name and password`));

  writeFileSync(
    join(dir, 'auth.json'),
    JSON.stringify({ auths: { [secured.host]: { auth: Buffer.from(`${CREDS.user}:${CREDS.password}`).toString('base64') } } }),
  );
  const ok = await runCliAsync(
    ['fetch', '--site', fx.siteFile, '--catalog', fx.catalogDir, '--cache', join(dir, 'cache'), '--registry-auth', join(dir, 'auth.json')],
    { env: { HOME: dir } },
  );
  t.is(ok.code, 0, ok.stderr);
  const lock = JSON.parse(readFileSync(join(dir, 'lab1.lock.json'), 'utf8'));
  for (const ref of IMAGES) t.is(lock.images[ref].digest, secured.digest(pathOf(ref)));

  // The same credentials from ~/.docker/config.json.
  const home = newDir('t-basic-home');
  mkdirSync(join(home, '.docker'));
  writeFileSync(join(home, '.docker', 'config.json'), readFileSync(join(dir, 'auth.json')));
  const viaHome = await runCliAsync(
    ['fetch', '--site', fx.siteFile, '--catalog', fx.catalogDir, '--cache', join(home, 'cache'), '--lock', join(home, 'lock.json')],
    { env: { HOME: home } },
  );
  t.is(viaHome.code, 0, viaHome.stderr);
});

test.serial('bearer tokens: the WWW-Authenticate challenge is answered with a token per repository', async (t) => {
  const dir = newDir('t-bearer');
  const gw = await new BearerGateway(anon.port, CREDS).start();
  t.teardown(() => gw.stop());
  const fx = await fetchFixture(dir, up.base, { mirror: `http://127.0.0.1:${gw.port}` });
  serveArtifacts(up, fx.plan, () => 1024);
  const creds = new Map([[`127.0.0.1:${gw.port}`, CREDS]]);
  writeFileSync(
    join(dir, 'auth.json'),
    JSON.stringify({ auths: Object.fromEntries([...creds].map(([h, c]) => [h, { username: c.user, password: c.password }])) }),
  );
  const out = await fetchSite(fx.site, fx.plan, options(dir, { registryAuth: join(dir, 'auth.json') }));
  t.is(out.images.length, 5);
  t.deepEqual([...new Set(gw.tokensIssued)].sort(), IMAGES.map((r) => `repository:${pathOf(r).split(':')[0]}:pull`).sort());
  for (const ref of IMAGES) t.is(out.lock.images[ref]!.digest, anon.digest(pathOf(ref)));

  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ auths: { [`127.0.0.1:${gw.port}`]: { username: 'mirror', password: 'wrong' } } }));
  const err = await fetchSite(
    fx.site,
    fx.plan,
    options(dir, { registryAuth: join(dir, 'bad.json'), cacheDir: join(dir, 'cache2'), lockPath: join(dir, 'other.lock.json') }),
  ).then(
    () => null,
    (e: Error) => e,
  );
  t.regex(err?.message ?? '', /token service .* refused \(HTTP 401\)/);
});

test.serial('the lock pins image digests: a moved tag changes nothing until --update-lock', async (t) => {
  const dir = newDir('t-moved');
  mkdirSync(join(dir, 'reg'));
  const reg = await new TestRegistry(join(dir, 'reg')).start();
  t.teardown(() => reg.stop());
  for (const ref of IMAGES) reg.push(built.layout, built.tags.get(ref)!, pathOf(ref));
  const fx = await fetchFixture(dir, up.base, { mirror: `http://${reg.host}` });
  serveArtifacts(up, fx.plan, () => 1024);
  const first = await fetchSite(fx.site, fx.plan, options(dir));
  const pause = 'registry.k8s.io/pause:3.10.2';
  const old = first.lock.images[pause]!.digest;

  // Upstream moves the pause tag to another image.
  reg.push(built.layout, built.tags.get(IMAGES[1]!)!, pathOf(pause));
  t.not(reg.digest(pathOf(pause)), old);
  const pinned = await fetchSite(fx.site, fx.plan, options(dir, { cacheDir: join(dir, 'cache2') }));
  t.is(pinned.lock.images[pause]!.digest, old, 'pulled by the locked digest');
  t.false(pinned.lockWritten);

  const updated = await fetchSite(fx.site, fx.plan, options(dir, { updateLock: true }));
  t.is(updated.lock.images[pause]!.digest, reg.digest(pathOf(pause)));
  t.true(updated.lockWritten);
});

test.serial('gen bundle without --artifacts fetches first and packs the payload from the cache', async (t) => {
  t.timeout(120_000);
  const dir = newDir('t-bundle');
  const fx = await fetchFixture(dir, up.base, { mirror: `http://${anon.host}`, osPackages: true });
  serveArtifacts(up, fx.plan, () => 8192);
  const args = [
    'bundle',
    '--site',
    fx.siteFile,
    '--catalog',
    fx.catalogDir,
    '--cache',
    join(dir, 'cache'),
    '--out',
    join(dir, 'out'),
    '--state',
    join(dir, 'state'),
    '--payload-format',
    'tar',
  ];
  const r = await runCliAsync(args, { env: { HOME: dir, SOURCE_DATE_EPOCH: '1700000000' } });
  t.is(r.code, 0, r.stderr);
  const dist = join(dir, 'out', 'lab1', 'dist');
  const payload = readdirSync(join(dist, 'payload')).find((f) => f.endsWith('.tar'))!;
  const members = execFileSync('tar', ['-tf', join(dist, 'payload', payload)], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .sort();
  const lock = JSON.parse(readFileSync(join(dir, 'lab1.lock.json'), 'utf8')) as { osPackages: Record<string, { debs: Record<string, { url: string }> }> };
  const debs = Object.values(lock.osPackages['debian-12-amd64']!.debs).map((d) => `ospkg/debian-12-amd64/${d.url.slice(d.url.lastIndexOf('/') + 1)}`);
  t.is(debs.length, 15); // lab1 on v1.37.1: nftables proxy mode (nftables in, ipset and ipvsadm out)
  t.deepEqual(
    members.filter((m) => !m.endsWith('/')),
    [
      'SHA256SUMS',
      'images-amd64.oci.tar',
      'ospkg/debian-12-amd64/Packages',
      ...debs,
      ...fx.plan.artifacts.map((a) => (a.format === 'binary' ? `${a.component}-${a.version}-${a.arch}` : a.url.slice(a.url.lastIndexOf('/') + 1))),
    ].sort(),
  );
  const sums = execFileSync('tar', ['-xOf', join(dist, 'payload', payload), 'SHA256SUMS'], { encoding: 'utf8' });
  for (const m of members.filter((x) => x.startsWith('ospkg/') && !x.endsWith('/')))
    t.regex(sums, new RegExp(`^[0-9a-f]{64}  ${m.replaceAll('+', '\\+').replaceAll('.', '\\.')}$`, 'm'), `${m} in SHA256SUMS`);
  const verify = await runCliAsync(['verify', dist]);
  t.is(verify.code, 0, verify.stdout + verify.stderr);

  // A second bundle reuses the cache, the lock and the image archive: nothing is downloaded.
  const requests = up.log.length;
  const again = await runCliAsync([...args, '--offline'], { env: { HOME: dir, SOURCE_DATE_EPOCH: '1700000000' } });
  t.is(again.code, 0, again.stderr);
  t.is(up.log.length, requests);
  t.is(
    readdirSync(join(dist, 'payload')).find((f) => f.endsWith('.tar')),
    payload,
    'same content-addressed payload',
  );
});

test.serial("on-site mirrors: containerd reads the rendered hosts.toml and pulls docker.io and registry.k8s.io images from the site's registry", async (t) => {
  t.timeout(120_000);
  const dir = newDir('t-hosts');
  // What a node of a site with spec.containerRuntime.registryMirrors gets, one file per upstream registry.
  for (const registry of ['docker.io', 'registry.k8s.io']) {
    mkdirSync(join(dir, 'certs.d', registry), { recursive: true });
    writeFileSync(join(dir, 'certs.d', registry, 'hosts.toml'), containerdHosts([`http://127.0.0.1:1`, `http://${anon.host}`]));
  }
  const cd = await new TestContainerd(newDir('containerd-hosts')).start();
  try {
    for (const ref of ['docker.io/flannel/flannel:v0.28.4', 'registry.k8s.io/pause:3.10.2']) {
      // The first mirror refuses connections: containerd goes on to the next one, in the order written.
      cd.ctr(['-n', 'k8s.io', 'images', 'pull', '--hosts-dir', join(dir, 'certs.d'), '--platform', 'linux/amd64', ref]);
      const row = cd
        .ctr(['-n', 'k8s.io', 'images', 'ls'])
        .split('\n')
        .find((l) => l.startsWith(`${ref} `));
      t.truthy(row, `${ref} pulled`);
      t.is(row!.split(/\s+/)[2], anon.digest(pathOf(ref)), `${ref} carries the site registry's digest`);
    }
  } finally {
    await cd.stop();
  }
});

import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseHashFile, parseSumsFile } from '../../generator/fetch/checksum.js';
import { defaultCacheDir } from '../../generator/fetch/cache.js';
import { emptyLock, readLock, serializeLock } from '../../generator/fetch/lock.js';
import { InputError } from '../../generator/model/index.js';
import { credentialsFromDockerConfig, parseChallenge } from '../../generator/registry/auth.js';
import { ociArchiveLayout } from '../../generator/registry/export.js';
import { selectPlatform } from '../../generator/registry/mirror.js';
import { parseRef, registryEndpoint } from '../../generator/registry/reference.js';
import { tempDirs } from '../temp.js';

const tmp = tempDirs();

const H256 = 'a'.repeat(64);
const H512 = 'b'.repeat(128);

test('hash files: bare hash, hash with name, sha512; wrong length or junk is refused', (t) => {
  t.is(parseHashFile(`${H256}\n`, 'sha256'), H256);
  t.is(parseHashFile(`${H256.toUpperCase()}  containerd-2.1.4-linux-amd64.tar.gz\n`, 'sha256'), H256);
  t.is(parseHashFile(H512, 'sha512'), H512);
  t.is(parseHashFile(H512, 'sha256'), null);
  t.is(parseHashFile('<html>not found</html>', 'sha256'), null);
  t.is(parseHashFile('', 'sha256'), null);
});

test('sums files: the named entry, with binary-mode star, ./ prefix or a directory; never another line', (t) => {
  const text = [
    `${'1'.repeat(64)}  etcd-v3.5.25-linux-arm64.tar.gz`,
    `${'2'.repeat(64)} *etcd-v3.5.25-linux-amd64.tar.gz`,
    `${'3'.repeat(64)}  ./runc.amd64`,
    `${'4'.repeat(64)}  release/crictl.tar.gz`,
    'garbage line',
  ].join('\n');
  t.is(parseSumsFile(text, 'etcd-v3.5.25-linux-amd64.tar.gz', 'sha256'), '2'.repeat(64));
  t.is(parseSumsFile(text, 'runc.amd64', 'sha256'), '3'.repeat(64));
  t.is(parseSumsFile(text, 'crictl.tar.gz', 'sha256'), '4'.repeat(64));
  t.is(parseSumsFile(text, 'runc.arm64', 'sha256'), null);
  t.is(parseSumsFile(text, 'v3.5.25-linux-amd64.tar.gz', 'sha256'), null, 'a suffix is not a name');
});

test('image references: registry, repository, tag, digest; Docker Hub library names', (t) => {
  t.deepEqual(parseRef('registry.k8s.io/coredns/coredns:v1.12.1'), {
    registry: 'registry.k8s.io',
    repository: 'coredns/coredns',
    tag: 'v1.12.1',
    digest: null,
  });
  t.deepEqual(parseRef('docker.io/busybox:1.36'), { registry: 'docker.io', repository: 'library/busybox', tag: '1.36', digest: null });
  t.deepEqual(parseRef(`127.0.0.1:5000/pause@sha256:${H256}`), { registry: '127.0.0.1:5000', repository: 'pause', tag: null, digest: `sha256:${H256}` });
  t.deepEqual(parseRef(`quay.io/calico/node:v3.30.5@sha256:${H256}`).tag, 'v3.30.5');
  t.throws(() => parseRef('pause:3.10'), { message: /names no registry/ });
  t.throws(() => parseRef('registry.k8s.io/pause'), { message: /neither tag nor digest/ });
  t.throws(() => parseRef('registry.k8s.io/Pause:1'), { message: /not a repository name/ });
  t.throws(() => parseRef('registry.k8s.io/pause@sha256:abc'), { message: /not a sha256 digest/ });
});

test('registry endpoints: https by default, plain http only for a mirror written with http://, Docker Hub API host', (t) => {
  const mirrors = { 'registry.k8s.io': 'http://127.0.0.1:5000', 'docker.io': 'https://hub-mirror.site.lan' };
  t.is(registryEndpoint('127.0.0.1:5000', mirrors), 'http://127.0.0.1:5000');
  t.is(registryEndpoint('hub-mirror.site.lan', mirrors), 'https://hub-mirror.site.lan');
  t.is(registryEndpoint('registry.k8s.io', {}), 'https://registry.k8s.io');
  t.is(registryEndpoint('docker.io', {}), 'https://registry-1.docker.io');
  t.is(registryEndpoint('quay.io', mirrors), 'https://quay.io');
});

test('WWW-Authenticate: bearer with quoted parameters, basic, junk', (t) => {
  t.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:flannel/flannel:pull"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:flannel/flannel:pull' },
  });
  t.deepEqual(parseChallenge('Basic realm="kubeseed-test"'), { scheme: 'basic', params: { realm: 'kubeseed-test' } });
  t.is(parseChallenge(''), null);
});

test('Docker config credentials: auth field, username/password, Docker Hub under its v1 index name', (t) => {
  const creds = credentialsFromDockerConfig(
    {
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hub:se:cret').toString('base64') },
        'mirror.lan:5000': { username: 'm', password: 'p' },
        'empty.lan': {},
      },
    },
    'config.json',
  );
  t.deepEqual(creds.get('docker.io'), { username: 'hub', password: 'se:cret' });
  t.deepEqual(creds.get('mirror.lan:5000'), { username: 'm', password: 'p' });
  t.false(creds.has('empty.lan'));
  t.throws(() => credentialsFromDockerConfig({ auths: { x: { auth: Buffer.from('nocolon').toString('base64') } } }, 'c.json'), { instanceOf: InputError });
});

test('platform selection: exact os/arch, arm64 accepts v8, attestations never match', (t) => {
  const d = (architecture: string, variant?: string, os = 'linux') => ({
    mediaType: 'm',
    digest: `sha256:${architecture}${variant ?? ''}`,
    size: 1,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
  });
  const list = [d('unknown', undefined, 'unknown'), d('arm', 'v7'), d('arm64', 'v8'), d('amd64')];
  t.is(selectPlatform(list, 'linux/amd64')?.digest, 'sha256:amd64');
  t.is(selectPlatform(list, 'linux/arm64')?.digest, 'sha256:arm64v8');
  t.is(selectPlatform(list, 'linux/arm/v7')?.digest, 'sha256:armv7');
  t.is(selectPlatform(list, 'linux/s390x'), null);
  t.is(selectPlatform([d('arm', 'v6')], 'linux/arm64'), null);
});

test('OCI archive layout: one index entry per name (aliases included), each blob once, sorted', (t) => {
  const top = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 300 };
  const layout = ociArchiveLayout([
    { names: ['registry.k8s.io/pause:3.10.1', 'k8s.gcr.io/pause:3.10.1'], top, blobs: ['c'.repeat(64), 'b'.repeat(64), 'a'.repeat(64)] },
    { names: [`registry.k8s.io/etcd@sha256:${'d'.repeat(64)}`], top: { ...top, digest: `sha256:${'d'.repeat(64)}` }, blobs: ['d'.repeat(64), 'a'.repeat(64)] },
  ]);
  const index = JSON.parse(layout.indexJson);
  t.deepEqual(
    index.manifests.map((m: { annotations: Record<string, string> }) => [
      m.annotations['io.containerd.image.name'],
      m.annotations['org.opencontainers.image.ref.name'],
    ]),
    [
      ['k8s.gcr.io/pause:3.10.1', '3.10.1'],
      [`registry.k8s.io/etcd@sha256:${'d'.repeat(64)}`, `sha256:${'d'.repeat(64)}`],
      ['registry.k8s.io/pause:3.10.1', '3.10.1'],
    ],
  );
  t.deepEqual(
    layout.blobs,
    ['a', 'b', 'c', 'd'].map((c) => c.repeat(64)),
  );
  t.is(JSON.parse(layout.ociLayout).imageLayoutVersion, '1.0.0');
});

test('lock files: serialisation sorts keys at every level; a damaged lock is bad input naming the field', async (t) => {
  const a = emptyLock('lab1');
  a.artifacts['z@1/amd64'] = { url: 'u', size: 1, sha256: H256 };
  a.artifacts['a@1/amd64'] = { url: 'u', size: 2, sha256: H256 };
  const b = emptyLock('lab1');
  b.artifacts['a@1/amd64'] = { sha256: H256, size: 2, url: 'u' };
  b.artifacts['z@1/amd64'] = { size: 1, url: 'u', sha256: H256 };
  t.is(serializeLock(a), serializeLock(b));
  t.true(serializeLock(a).indexOf('a@1/amd64') < serializeLock(a).indexOf('z@1/amd64'));

  const dir = tmp('kubeseed-lock-');
  t.is(await readLock(join(dir, 'none.json')), null);
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...a, artifacts: { x: { url: 'u', size: 1, sha256: 'short' } } }));
  await t.throwsAsync(readLock(join(dir, 'bad.json')), { instanceOf: InputError, message: /artifacts\.x\.sha256/ });
  writeFileSync(join(dir, 'junk.json'), '{');
  await t.throwsAsync(readLock(join(dir, 'junk.json')), { instanceOf: InputError, message: /not JSON/ });
});

test('cache directory: --cache, then XDG_CACHE_HOME, then ~/.cache', (t) => {
  t.is(defaultCacheDir({ XDG_CACHE_HOME: '/x' }, '/w', 'c'), '/w/c');
  t.is(defaultCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/h' }, '/w'), '/x/kubeseed');
  t.is(defaultCacheDir({ HOME: '/h' }, '/w'), '/h/.cache/kubeseed');
});

// Builds the e2e payload inputs (kubeadm mode's control-plane images among them) in $KUBESEED_FIXTURES/e2e-artifacts (default /var/cache/kubeseed):
// Kubernetes 1.20.2 binaries (from scripts/e2e/build-kubernetes.sh) and Debian's etcd, containerd,
// runc and CNI plugins, repacked under the names and layouts of their upstream releases, plus a
// real `pause` OCI image (one layer holding the static pause binary) as an OCI archive that
// `ctr -n k8s.io images import` accepts. Writes SHA256SUMS. Needs the Debian packages installed.
//
// `node build-artifacts.mjs v1.20.3-kubeseed.1` does the same for the upgrade tests' second release
// (built by `scripts/e2e/build-kubernetes.sh v1.20.3-kubeseed.1`) into e2e-artifacts-<version> and
// e2e-artifacts-<version>-kubeadm: its Kubernetes binaries and control-plane images, every other
// file v1.20.2's.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';

const fixtures = process.env.KUBESEED_FIXTURES ?? '/var/cache/kubeseed';
const version = process.argv[2] ?? 'v1.20.2';
if (!/^v1\.20\.\d+(-[0-9A-Za-z.]+)?$/.test(version)) throw new Error(`build-artifacts: ${version} is not a 1.20 version (the fixtures build 1.20.2's source)`);
const k8s = join(fixtures, `kubernetes-${version}`, 'bin');
const out = join(fixtures, version === 'v1.20.2' ? 'e2e-artifacts' : `e2e-artifacts-${version}`);
const RECIPE = 'e2e-artifacts-r5';
if (existsSync(join(out, '.recipe')) && readFileSync(join(out, '.recipe'), 'utf8').trim() === RECIPE) {
  console.log(`build-artifacts: cached at ${out}`);
  process.exit(0);
}
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const EPOCH = new Date('2021-01-13T00:00:00Z');

async function tarOf(entries, gzip) {
  const pack = tarStream.pack();
  const chunks = [];
  pack.on('data', (c) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  for (const e of entries) {
    if (e.linkname) {
      pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname, mode: 0o777, mtime: EPOCH, uid: 0, gid: 0, uname: 'root', gname: 'root' });
      continue;
    }
    const data = e.data ?? readFileSync(e.source);
    pack.entry({ name: e.name, mode: e.mode ?? 0o755, size: data.length, mtime: EPOCH, uid: 0, gid: 0, uname: 'root', gname: 'root' }, data);
  }
  pack.finalize();
  await done;
  const buf = Buffer.concat(chunks);
  return gzip ? gzipSync(buf, { level: 9 }) : buf;
}

const need = (p) => {
  if (!existsSync(p)) throw new Error(`${p} is missing: run scripts/setup-test-tools.sh and scripts/e2e/build-kubernetes.sh ${version} (as root)`);
  return p;
};

for (const bin of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'kubelet', 'kubectl', 'kubeadm']) {
  copyFileSync(need(join(k8s, bin)), join(out, `${bin}-${version}-amd64`));
}
writeFileSync(
  join(out, 'etcd-v3.4.23-linux-amd64.tar.gz'),
  await tarOf(
    [
      { name: 'etcd-v3.4.23-linux-amd64/etcd', source: need('/usr/bin/etcd') },
      { name: 'etcd-v3.4.23-linux-amd64/etcdctl', source: need('/usr/bin/etcdctl') },
    ],
    true,
  ),
);
writeFileSync(
  join(out, 'containerd-1.6.20-linux-amd64.tar.gz'),
  await tarOf(
    ['containerd', 'containerd-shim-runc-v2', 'ctr'].map((b) => ({ name: `bin/${b}`, source: need(`/usr/bin/${b}`) })),
    true,
  ),
);
copyFileSync(need('/usr/sbin/runc'), join(out, 'runc-v1.1.5-amd64'));
const cni = ['bridge', 'host-local', 'loopback', 'portmap'].map((b) => ({ name: `./${b}`, source: need(`/usr/lib/cni/${b}`) }));
writeFileSync(join(out, 'cni-plugins-linux-amd64-v1.1.1.tgz'), await tarOf(cni, true));

// Images: OCI image layouts with one uncompressed layer each, in one archive.
const sha = (b) => createHash('sha256').update(b).digest('hex');
async function image(ref, layerEntries, cfg) {
  const layer = await tarOf(layerEntries, false);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: cfg,
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] },
      history: [{ created: EPOCH.toISOString(), created_by: `kubeseed e2e fixture ${ref}` }],
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha(layer)}`, size: layer.length }],
    }),
  );
  return { ref, blobs: [config, manifest, layer], manifest };
}
const APPLETS = ['sh', 'ls', 'cat', 'echo', 'sleep', 'httpd', 'wget', 'ping', 'hostname', 'mkdir', 'nc', 'ip', 'true', 'nslookup', 'timeout'];
const common = [
  // v1.20.2's pause for every release: the same pause:3.2 name must keep the same image.
  await image('registry.k8s.io/pause:3.2', [{ name: 'pause', source: need(join(fixtures, 'kubernetes-v1.20.2', 'bin', 'pause')) }], {
    Entrypoint: ['/pause'],
    User: '65535:65535',
  }),
  await image(
    'docker.io/library/busybox:1.35.0',
    [{ name: 'bin/busybox', source: need('/bin/busybox') }, ...APPLETS.map((a) => ({ name: `bin/${a}`, linkname: 'busybox' }))],
    { Cmd: ['sh'], Env: ['PATH=/bin'] },
  ),
];
// kubeadm mode's control plane: static pods run the binary by name from PATH. They go only into
// the kubeadm variant's archive: binary-mode guests would carry 230 MB they never run.
const controlPlane = await Promise.all(
  ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map((b) =>
    image(`registry.k8s.io/${b}:${version}`, [{ name: `usr/local/bin/${b}`, source: need(join(k8s, b)) }], { Env: ['PATH=/usr/local/bin:/usr/bin:/bin'] }),
  ),
);
async function archive(images) {
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: images.map((im) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${sha(im.manifest)}`,
        size: im.manifest.length,
        platform: { architecture: 'amd64', os: 'linux' },
        annotations: { 'io.containerd.image.name': im.ref, 'org.opencontainers.image.ref.name': im.ref.split(':').pop() },
      })),
    }),
  );
  const blobs = new Map(images.flatMap((im) => im.blobs).map((b) => [sha(b), b]));
  return tarOf(
    [
      { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}'), mode: 0o644 },
      { name: 'index.json', data: index, mode: 0o644 },
      ...[...blobs].sort().map(([h, b]) => ({ name: `blobs/sha256/${h}`, data: b, mode: 0o644 })),
    ],
    false,
  );
}
writeFileSync(join(out, 'images-amd64.oci.tar'), await archive(common));

const names = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'kubelet', 'kubectl', 'kubeadm']
  .map((b) => `${b}-${version}-amd64`)
  .concat([
    'etcd-v3.4.23-linux-amd64.tar.gz',
    'containerd-1.6.20-linux-amd64.tar.gz',
    'runc-v1.1.5-amd64',
    'cni-plugins-linux-amd64-v1.1.1.tgz',
    'images-amd64.oci.tar',
  ]);
writeFileSync(join(out, 'SHA256SUMS'), names.map((n) => `${sha(readFileSync(join(out, n)))}  ${n}\n`).join(''));
// The kubeadm variant: the same files (hard links), with the control-plane images in the archive.
const outKubeadm = `${out}-kubeadm`;
rmSync(outKubeadm, { recursive: true, force: true });
mkdirSync(outKubeadm, { recursive: true });
for (const n of names.filter((x) => x !== 'images-amd64.oci.tar')) linkSync(join(out, n), join(outKubeadm, n));
writeFileSync(join(outKubeadm, 'images-amd64.oci.tar'), await archive([...common, ...controlPlane]));
writeFileSync(join(outKubeadm, 'SHA256SUMS'), names.map((n) => `${sha(readFileSync(join(outKubeadm, n)))}  ${n}\n`).join(''));
writeFileSync(join(out, '.recipe'), `${RECIPE}\n`);
console.log(`build-artifacts: built ${names.length} files into ${out} (${Math.round(names.reduce((s, n) => s + statSync(join(out, n)).size, 0) / 1e6)} MB)`);

import test from 'ava';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { realFs } from '../../generator/io/fs.js';
import { readCatalog } from '../../generator/pipeline/load.js';
import { exitAndOutput, repoRoot } from '../helpers.js';
import { UpstreamServer } from '../upstream-server.js';

const BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'kubelet', 'kubectl', 'kubeadm'];
const SCRIPT = join(repoRoot, 'scripts', 'catalog', 'draft-release.mjs');

let up: UpstreamServer;
const roots: string[] = [];
test.before(async () => {
  up = await new UpstreamServer().start();
  // dl.k8s.io and the source tree at the tag, as the loopback serves them.
  for (const v of ['v1.37.2', 'v1.37.3']) {
    for (const arch of ['amd64', 'arm64']) {
      for (const [i, bin] of BINARIES.entries()) {
        // v1.37.3 is only half published: its arm64 kubeadm is missing.
        if (v === 'v1.37.3' && arch === 'arm64' && bin === 'kubeadm') continue;
        up.files.set(`/dl/release/${v}/bin/linux/${arch}/${bin}.sha256`, Buffer.from(`${String(i).repeat(64).slice(0, 64)}\n`));
      }
    }
    up.files.set(
      `/src/${v}/cmd/kubeadm/app/constants/constants.go`,
      Buffer.from(
        'const (\n\t// DefaultEtcdVersion indicates the default etcd version that kubeadm uses\n\tDefaultEtcdVersion = "3.6.13-0"\n\tCoreDNSVersion = "v1.14.3"\n\tPauseVersion = "3.10.3"\n)\n',
      ),
    );
  }
});
test.after.always(async () => {
  await up.stop();
  roots.forEach((r) => rmSync(r, { recursive: true, force: true }));
});

function catalogCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubeseed-draft-'));
  roots.push(dir);
  cpSync(join(repoRoot, 'blueprints', 'catalog'), dir, { recursive: true });
  return dir;
}

async function draft(args: string[]) {
  const child = spawn(process.execPath, [SCRIPT, ...args, '--dl', `${up.base}/dl`, '--source', `${up.base}/src`, '--date', '2026-11-28'], {
    env: { ...process.env, HTTPS_PROXY: '', HTTP_PROXY: '', https_proxy: '', http_proxy: '' },
  });
  return exitAndOutput(child);
}

test('drafts the next patch from the newest of its minor: published binaries checked, kubeadm images from the tag, no Kubernetes pins, a release the catalog loads', async (t) => {
  const dir = catalogCopy();
  const r = await draft(['v1.37.2', '--catalog', dir, '--write']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /drafted v1\.37\.2 from v1\.37\.1: pause 3\.10\.3, coredns v1\.14\.3, etcd image 3\.6\.13-0; 15 upstream files checked/);
  for (const arch of ['amd64', 'arm64'])
    for (const bin of BINARIES) t.true(up.log.some((l) => l.path === `/dl/release/v1.37.2/bin/linux/${arch}/${bin}.sha256` && l.status === 200));

  const loaded = await readCatalog(realFs, dir);
  t.deepEqual(loaded.issues, []);
  const rel = loaded.catalog!.releases.find((x) => x.version === 'v1.37.2')!;
  const before = loaded.catalog!.releases.find((x) => x.version === 'v1.37.1')!;
  t.is(rel.versions.kubernetes, 'v1.37.2');
  t.deepEqual({ ...rel.versions, kubernetes: 'x' }, { ...before.versions, kubernetes: 'x' }, 'the other components carry over');
  const ref = (name: string) => rel.images.find((i) => i.name === name)!;
  t.is(ref('kube-apiserver').ref, 'registry.k8s.io/kube-apiserver:v1.37.2');
  t.deepEqual(ref('kube-scheduler').aliases, ['k8s.gcr.io/kube-scheduler:v1.37.2']);
  t.is(ref('pause').ref, 'registry.k8s.io/pause:3.10.3');
  t.deepEqual(ref('pause').aliases, ['k8s.gcr.io/pause:3.10.3']);
  t.is(ref('coredns').ref, 'registry.k8s.io/coredns/coredns:v1.14.3');
  t.is(ref('etcd').ref, 'registry.k8s.io/etcd:3.6.13-0');
  t.is(ref('flannel').ref, before.images.find((i) => i.name === 'flannel')!.ref);
  for (const bin of BINARIES) t.false(bin in rel.pinned, `${bin} is checked against dl.k8s.io's .sha256 at fetch time`);
  t.deepEqual(rel.pinned.containerd, before.pinned.containerd);
  t.regex(rel.provenance[0]!, /^DRAFT by scripts\/catalog\/draft-release\.mjs on 2026-11-28 from v1\.37\.1/);
  t.true(rel.provenance.some((p) => p.includes(`${up.base}/src/v1.37.2/cmd/kubeadm/app/constants/constants.go`)));
  t.true(rel.provenance.some((p) => p.startsWith('carried over from v1.37.1: ')));
  t.regex(readFileSync(join(dir, 'releases', 'v1.37.2.yaml'), 'utf8'), /^# Kubernetes v1\.37\.2: DRAFT from v1\.37\.1/);

  // Without --write the draft goes to stdout and nothing is written; a second --write refuses to overwrite.
  const printed = await draft(['v1.37.2', '--catalog', catalogCopy()]);
  t.is(printed.code, 0, printed.stderr);
  t.is(parse(printed.stdout).version, 'v1.37.2');
  const again = await draft(['v1.37.2', '--catalog', dir, '--write']);
  t.is(again.code, 2);
  t.regex(again.stderr, /exists \(--force to overwrite\)/);
});

test('a release that is not (fully) published, a minor the catalog lacks, and a bad version are refused with exit 2', async (t) => {
  const dir = catalogCopy();
  const half = await draft(['v1.37.3', '--catalog', dir]);
  t.is(half.code, 2);
  t.regex(half.stderr, /v1\.37\.3 is not published: .*\/release\/v1\.37\.3\/bin\/linux\/arm64\/kubeadm\.sha256 answers 404/);
  const newMinor = await draft(['v1.38.1', '--catalog', dir]);
  t.is(newMinor.code, 2);
  t.regex(newMinor.stderr, /no earlier 1\.38 release/);
  const bad = await draft(['1.37.2', '--catalog', dir]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /is not a Kubernetes release like v1\.37\.2/);
});

#!/usr/bin/env node
// Drafts blueprints/catalog/releases/<version>.yaml for a new Kubernetes patch release, for the
// maintainer who keeps the catalog current. It starts from the catalog's newest release of the
// same minor, and takes from upstream what a patch can change:
//   - that the release is published: every binary's `.sha256` on dl.k8s.io, for each architecture
//     the previous release offers (a missing one stops the draft);
//   - the images kubeadm of that tag uses: DefaultEtcdVersion, PauseVersion and CoreDNSVersion in
//     cmd/kubeadm/app/constants/constants.go at the release tag.
// Kubernetes binaries are not pinned in the draft: `gen fetch` checks them against those
// `.sha256` files when it downloads them. Pins and versions of the other components are carried
// over unchanged; review them (kubespray's checksums.yml, containerd's RELEASES.md) before
// committing the file. Network only here: the generator itself never drafts anything.
//
// Usage: node scripts/catalog/draft-release.mjs VERSION [--catalog DIR] [--write] [--force]
//          [--dl URL] [--source URL] [--date YYYY-MM-DD]
//   --dl      base of Kubernetes downloads (default https://dl.k8s.io)
//   --source  base of the Kubernetes source by tag (default https://raw.githubusercontent.com/kubernetes/kubernetes)
//   --write   write releases/VERSION.yaml into the catalog (default: print it)
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EnvHttpProxyAgent, interceptors, request } from 'undici';
import { parseDocument } from 'yaml';

const KUBERNETES_BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'kubelet', 'kubectl', 'kubeadm'];
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

class DraftError extends Error {}

function usage() {
  return 'Usage: node scripts/catalog/draft-release.mjs VERSION [--catalog DIR] [--write] [--force] [--dl URL] [--source URL] [--date YYYY-MM-DD]';
}

// HTTPS_PROXY / NO_PROXY are honoured, as in gen fetch.
const agent = new EnvHttpProxyAgent().compose(interceptors.redirect({ maxRedirections: 5 }));

async function getText(url) {
  const r = await request(url, { dispatcher: agent, headersTimeout: 30_000, bodyTimeout: 60_000 }).catch((e) => {
    throw new DraftError(`${url}: ${e.message}`);
  });
  const body = await r.body.text();
  if (r.statusCode === 404) return null;
  if (r.statusCode !== 200) throw new DraftError(`${url}: HTTP ${r.statusCode}`);
  return body;
}

const minorOf = (v) => Number(/^v1\.(\d+)\.(\d+)$/.exec(v)?.[1]);
const patchOf = (v) => Number(/^v1\.(\d+)\.(\d+)$/.exec(v)?.[2]);

/** The catalog's newest release of the same minor, older than `version`. */
function previousRelease(catalogDir, version) {
  const minor = minorOf(version);
  const candidates = readdirSync(join(catalogDir, 'releases'))
    .map((f) => f.replace(/\.yaml$/, ''))
    .filter((v) => /^v1\.\d+\.\d+$/.test(v) && minorOf(v) === minor && patchOf(v) < patchOf(version))
    .sort((a, b) => patchOf(b) - patchOf(a));
  if (!candidates.length) throw new DraftError(`the catalog holds no earlier 1.${minor} release to start from; write the first release of a minor by hand`);
  return candidates[0];
}

/** A Go string constant of kubeadm's constants.go, e.g. `PauseVersion = "3.10.2"`. */
function goConstant(source, name) {
  const m = new RegExp(`\\b${name}\\s*=\\s*"([^"]+)"`).exec(source);
  if (!m) throw new DraftError(`${name} not found in kubeadm's constants.go`);
  return m[1];
}

/** Replaces the tag of the image `name` (its aliases too) in the release document. */
function retag(doc, name, tag) {
  const images = doc.get('images');
  const item = images.items.find((i) => i.get('name') === name);
  if (!item) return false;
  const swap = (ref) => `${ref.slice(0, ref.lastIndexOf(':'))}:${tag}`;
  item.set('ref', swap(item.get('ref')));
  const aliases = item.get('aliases');
  if (aliases) aliases.items.forEach((a, i) => aliases.set(i, swap(a.value ?? a)));
  return true;
}

export async function draftRelease({ version, catalogDir, dl, source, date }) {
  if (!/^v1\.\d+\.\d+$/.test(version)) throw new DraftError(`${version} is not a Kubernetes release like v1.37.2`);
  const from = previousRelease(catalogDir, version);
  const doc = parseDocument(readFileSync(join(catalogDir, 'releases', `${from}.yaml`), 'utf8'));
  const arch = doc.get('arch').toJSON();

  const checked = [];
  for (const a of arch) {
    for (const bin of KUBERNETES_BINARIES) {
      const url = `${dl.replace(/\/+$/, '')}/release/${version}/bin/linux/${a}/${bin}.sha256`;
      const text = await getText(url);
      if (text === null) throw new DraftError(`${version} is not published: ${url} answers 404`);
      if (!/^[0-9a-f]{64}\b/.test(text.trim())) throw new DraftError(`${url} holds no sha256`);
      checked.push(url);
    }
  }
  const constantsUrl = `${source.replace(/\/+$/, '')}/${version}/cmd/kubeadm/app/constants/constants.go`;
  const constants = await getText(constantsUrl);
  if (constants === null) throw new DraftError(`${constantsUrl} answers 404: is ${version} tagged?`);
  const etcdImage = goConstant(constants, 'DefaultEtcdVersion');
  const pause = goConstant(constants, 'PauseVersion');
  const coredns = goConstant(constants, 'CoreDNSVersion');

  doc.set('version', version);
  doc.setIn(['versions', 'kubernetes'], version);
  const pinned = doc.get('pinned');
  // Kubernetes binaries are checked against dl.k8s.io's .sha256 files at fetch time.
  for (const bin of KUBERNETES_BINARIES) pinned?.delete(bin);
  for (const name of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) retag(doc, name, version);
  retag(doc, 'etcd', etcdImage);
  retag(doc, 'pause', pause);
  retag(doc, 'coredns', coredns);

  const minor = minorOf(version);
  const kept = doc
    .get('provenance')
    .toJSON()
    .filter(
      (line) =>
        !/^(version and end of life|every Kubernetes binary|other Kubernetes binaries|kubeadm stacked etcd image|pause |kubelet, kubeadm, kubectl)/.test(line),
    )
    .map((line) => line.replace(/^kubelet, kubeadm, kubectl v[\d.]+, /, ''));
  doc.set('provenance', [
    `DRAFT by scripts/catalog/draft-release.mjs on ${date} from ${from}: review every line before committing`,
    `version: ${version} is published (dl.k8s.io .sha256 of ${KUBERNETES_BINARIES.length} binaries for ${arch.join(', ')}, fetched ${date}); end of life: kubernetes.io/releases/1.${minor}`,
    `every Kubernetes binary: dl.k8s.io release/${version}/bin/linux/<arch>/<bin>.sha256, checked at \`gen fetch\` time (catalog.yaml)`,
    `pause ${pause}, coredns ${coredns}, kubeadm stacked etcd image ${etcdImage}: kubeadm's PauseVersion, CoreDNSVersion and DefaultEtcdVersion at ${version} (${constantsUrl})`,
    ...kept.map((line) => `carried over from ${from}: ${line}`),
  ]);
  // The previous release's header comment describes that release: replace it.
  doc.contents.commentBefore = undefined;
  const first = doc.contents.items[0];
  if (first?.key) first.key.commentBefore = undefined;
  doc.commentBefore = ` Kubernetes ${version}: DRAFT from ${from}; checked against upstream on ${date}.`;
  return {
    from,
    text: doc.toString({ lineWidth: 0, flowCollectionPadding: false }),
    checked: [...checked, constantsUrl],
    images: { etcd: etcdImage, pause, coredns },
  };
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      catalog: { type: 'string', default: join(repoRoot, 'blueprints', 'catalog') },
      write: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      dl: { type: 'string', default: 'https://dl.k8s.io' },
      source: { type: 'string', default: 'https://raw.githubusercontent.com/kubernetes/kubernetes' },
      date: { type: 'string', default: new Date().toISOString().slice(0, 10) },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new DraftError(usage());
  const catalogDir = resolve(values.catalog);
  const draft = await draftRelease({ version: positionals[0], catalogDir, dl: values.dl, source: values.source, date: values.date });
  const minor = minorOf(positionals[0]);
  const index = readFileSync(join(catalogDir, 'catalog.yaml'), 'utf8');
  const notes = [
    `drafted ${positionals[0]} from ${draft.from}: pause ${draft.images.pause}, coredns ${draft.images.coredns}, etcd image ${draft.images.etcd}; ${draft.checked.length} upstream files checked`,
  ];
  if (!index.includes(`"1.${minor}":`))
    notes.push(`catalog.yaml has no lifecycle entry for 1.${minor}: add its end-of-life date from kubernetes.io/releases/1.${minor}`);
  if (values.write) {
    const out = join(catalogDir, 'releases', `${positionals[0]}.yaml`);
    if (existsSync(out) && !values.force) throw new DraftError(`${out} exists (--force to overwrite)`);
    writeFileSync(out, draft.text);
    notes.push(`wrote ${out}`);
  } else {
    process.stdout.write(draft.text);
  }
  for (const n of notes) process.stderr.write(`draft-release: ${n}\n`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`draft-release: ${e instanceof DraftError ? e.message : e.stack}\n`);
      process.exit(e instanceof DraftError ? 2 : 1);
    },
  );
}

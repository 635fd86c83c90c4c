import { createHash } from 'node:crypto';
import { chmod, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { realCrypto } from '../io/crypto.js';
import { realFs } from '../io/fs.js';
import { sha256File, sha256FileRemembered } from '../io/hash.js';
import { readTemplates } from '../io/templates.js';
import { FailureError, InputError, type BundlePlan, type Catalog, type ResolvedSite } from '../model/index.js';
import { buildPlan } from '../plan/index.js';
import { imageArchive, writeImageArchive, type FetchOutcome } from './fetch.js';
import { diskFile, memFile, writeIsoTo, writeTarTo } from '../pack/files.js';
import { parseSourceDateEpoch } from '../pack/epoch.js';
import { kickstart } from '../pack/kickstart.js';
import { installScript, qemuScript, vagrantfile, VERIFY_SH } from '../pack/scripts.js';
import { operatorFiles } from '../pki/select.js';
import { imageArchiveName, NODE_FILES, payloadName } from '../model/layout.js';
import { egressLint, nodeFilesList } from '../render/index.js';
import { flatPackagesIndex, osRepoDir } from '../ospkg/payload.js';
import { certsStage, outputDir, placedStateDir } from './certs.js';
import { crashPoint } from '../io/crash.js';
import { withLock } from '../io/lock.js';
import { applyDistModes } from '../pack/modes.js';
import { publishDist, recoverDist } from '../pack/publish.js';
import { renderSite } from './render.js';

export interface BundleOptions {
  out?: string;
  state?: string;
  cwd: string;
  root: string;
  /** Only this node's seeds. */
  node?: string;
  skipPayload: boolean;
  embedPayload: boolean;
  /** A directory holding the payload files (named as the plan names them) and their SHA256SUMS. */
  artifacts?: string;
  /** The fetch stage (gen fetch's), run when neither --artifacts nor --skip-payload is given. */
  fetch?: (plan: BundlePlan) => Promise<FetchOutcome>;
  /** Progress lines. */
  say: (line: string) => void;
  env: NodeJS.ProcessEnv;
}

export interface BundleResult {
  dist: string;
  files: number;
  payload: string | null;
}


/**
 * Stage 1–6 of `gen bundle`, holding the output directory's lock throughout (the state's is taken
 * by the PKI stage). Everything is written to a staging directory and swapped in at the end.
 */
export async function bundle(site: ResolvedSite, catalog: Catalog, opts: BundleOptions): Promise<BundleResult> {
  const loc = { ...(opts.state ? { state: opts.state } : {}), ...(opts.out ? { out: opts.out } : {}), cwd: opts.cwd };
  const outRoot = outputDir(site, loc);
  const nodes = opts.node ? site.nodes.filter((n) => n.name === opts.node) : site.nodes;
  if (opts.node && !nodes.length) throw new InputError(`no node named '${opts.node}' in site ${site.name}`, [], `nodes: ${site.nodes.map((n) => n.name).join(', ')}`);
  if (!opts.skipPayload && !opts.artifacts && !opts.fetch) throw new Error('internal: bundle needs a fetch stage, --artifacts or --skip-payload');
  // Checked before anything is written.
  const sourceEpoch = parseSourceDateEpoch(opts.env.SOURCE_DATE_EPOCH);
  const dir = await placedStateDir(site, loc);
  return withLock(outRoot, { what: 'the output directory', say: opts.say, dirMode: 0o755 }, async () => {
    for (const line of await recoverDist(outRoot)) opts.say(`  ${line}`);
    return bundleLocked(site, catalog, opts, outRoot, dir, nodes, sourceEpoch);
  });
}

async function bundleLocked(site: ResolvedSite, catalog: Catalog, opts: BundleOptions, outRoot: string, dir: string, nodes: ResolvedSite['nodes'], sourceEpoch: number | undefined): Promise<BundleResult> {
  const dist = join(outRoot, 'dist');
  opts.say('[1/6] plan');
  const plan = buildPlan(site, catalog);

  opts.say('[2/6] artifacts');
  let payloadFiles: ArtifactFile[] | null = null;
  if (opts.artifacts) payloadFiles = await collectArtifacts(resolve(opts.cwd, opts.artifacts), opts.say);
  else if (!opts.skipPayload) payloadFiles = await fromCache(await opts.fetch!(plan), plan, outRoot, sourceEpoch ?? 0, opts.say);

  opts.say('[3/6] PKI');
  const pki = await certsStage(site, dir, { crypto: realCrypto, clock: { now: () => new Date() } }, { say: opts.say });
  for (const n of pki.notes) opts.say(`  note: ${n}`);
  for (const w of pki.warnings) opts.say(`  warning: ${w}`);
  const epoch = sourceEpoch ?? pki.meta.created;

  opts.say('[4/6] render');
  const templates = await readTemplates(join(opts.root, 'blueprints', 'templates'));
  const rendered = renderSite(site, catalog, pki.files, templates);
  for (const n of rendered.nodes.filter((x) => nodes.some((y) => y.name === x.name))) {
    const findings = egressLint(site, rendered.plan, [...n.files, ...Object.entries(n.seed).map(([path, content]) => ({ path, content }))]);
    // gen validate's egress rule names the blueprint field behind every finding it can foresee; one
    // that gets this far comes from kubeseed's own templates or catalog, not from the operator.
    if (findings.length) throw new FailureError(`egress lint: ${n.name} would reach outside the site: ${findings.map((f) => `${f.path}:${f.line} ${f.what}`).join('; ')}`, 'this is a kubeseed bug (a template or the catalog names a public host); please report it');
  }

  const payloadSet = payloadFiles ? checkCoverage(rendered.plan, payloadFiles) : null;

  opts.say('[5/6] pack');
  const staging = join(outRoot, `.dist-staging-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  crashPoint('dist-staging-made');
  try {
    let payloadIso: string | null = null;
    let payloadTar: string | null = null;
    const payloadEntries: Awaited<ReturnType<typeof diskFile>>[] = [];
    let knownHashes = new Map<string, string>();
    if (payloadSet) {
      const r = await packPayload(outRoot, staging, payloadSet, epoch, opts.say);
      payloadIso = r.iso;
      payloadTar = r.tar;
      payloadEntries.push(...r.entries);
      knownHashes = r.known;
    }
    // Only the formats the site asks for: an operator who installs by kickstart gets no NoCloud seed.
    const formats = site.output.formats;
    const nocloud = formats.includes('nocloud-iso');
    for (const n of rendered.nodes) {
      const node = site.nodes.find((x) => x.name === n.name)!;
      if (!nodes.includes(node)) continue;
      const nd = join(staging, 'nodes', n.name);
      await mkdir(nd, { recursive: true });
      const nodeFiles = n.files.map((f) => memFile(f.path.slice(1), f.content, Number.parseInt(f.mode, 8)));
      await writeTarTo(join(nd, NODE_FILES.archive), nodeFiles, epoch, true);
      if (nocloud) {
        for (const [name, text] of Object.entries(n.seed)) await writeFile(join(nd, name), text, { mode: 0o644 });
        const seedFiles = [
          ...Object.entries(n.seed).map(([name, text]) => memFile(name, text, 0o644)),
          await diskFile(NODE_FILES.archive, join(nd, NODE_FILES.archive), 0o600),
          ...(opts.embedPayload || site.output.embedPayload ? payloadEntries.map((e) => ({ ...e, path: `payload/${e.path}` })) : []),
        ];
        await writeIsoTo(join(nd, 'seed.iso'), seedFiles, { volumeId: 'cidata', mtime: epoch });
      }
      const list = nodeFilesList(n.files);
      if (formats.includes('kickstart')) {
        await writeFile(join(nd, 'ks.cfg'), kickstart(site, node, await readFile(join(nd, NODE_FILES.archive)), list), { mode: 0o600 });
      }
      if (formats.includes('tarball')) {
        const selfSums = `${createHash('sha256').update(list).digest('hex')}  ${NODE_FILES.listName}\n${await sha256File(join(nd, NODE_FILES.archive))}  ${NODE_FILES.archive}\n`;
        await writeTarTo(
          join(nd, `${n.name}.tar.gz`),
          [
            memFile(`${n.name}/install.sh`, installScript(site, node), 0o755),
            memFile(`${n.name}/${NODE_FILES.listName}`, list, 0o644),
            memFile(`${n.name}/${NODE_FILES.selfCheckName}`, selfSums, 0o644),
            await diskFile(`${n.name}/${NODE_FILES.archive}`, join(nd, NODE_FILES.archive), 0o600),
          ],
          epoch,
          true,
        );
      }
      await chmod(join(nd, NODE_FILES.archive), 0o600);
      if (nocloud) {
        // The VM helpers boot the NoCloud seed.
        await mkdir(join(staging, 'vm'), { recursive: true });
        await writeFile(join(staging, 'vm', `${n.name}.sh`), qemuScript(node, payloadIso), { mode: 0o755 });
      }
    }
    if (nocloud) await writeFile(join(staging, 'vm', 'Vagrantfile'), vagrantfile(site, payloadIso), { mode: 0o644 });
    for (const f of operatorFiles(site, pki.files)) {
      await mkdir(dirname(join(staging, f.path)), { recursive: true });
      await writeFile(join(staging, f.path), f.content, { mode: Number.parseInt(f.mode, 8) });
      await chmod(join(staging, f.path), Number.parseInt(f.mode, 8));
    }
    await writeFile(join(staging, 'verify.sh'), VERIFY_SH, { mode: 0o755 });
    await applyDistModes(staging);
    const manifest = await writeManifest(staging, site, rendered.plan, catalog, payloadTar, epoch, knownHashes);
    crashPoint('dist-staged');

    opts.say('[6/6] publish');
    await publishDist(staging, dist);
    return { dist, files: manifest, payload: payloadTar };
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
}

interface ArtifactFile {
  name: string;
  source: string;
  sha256: string;
  size: number;
}

/** The payload's files from --artifacts DIR, each checked against DIR/SHA256SUMS and the catalog's pins. */
async function collectArtifacts(dirArg: string, say: (l: string) => void): Promise<ArtifactFile[]> {
  const sumsFile = join(dirArg, 'SHA256SUMS');
  if ((await stat(sumsFile).catch(() => null))?.isFile() === false) throw new InputError(`${sumsFile} is not a regular file`, [], 'the artifacts directory must list every file with its sha256 (sha256sum * > SHA256SUMS)');
  const sumsText = await readFile(sumsFile, 'utf8').catch(() => {
    throw new InputError(`${dirArg}/SHA256SUMS is missing`, [], 'the artifacts directory must list every file with its sha256 (sha256sum * > SHA256SUMS)');
  });
  const sums = new Map<string, string>();
  for (const line of sumsText.split('\n').filter(Boolean)) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (m) sums.set(m[2]!, m[1]!);
  }
  const out: ArtifactFile[] = [];
  for (const [name, expected] of [...sums].sort()) {
    if (name.includes('/') || name.startsWith('.')) throw new InputError(`${dirArg}/SHA256SUMS lists ${JSON.stringify(name)}, which is not a file name of that directory`, [], 'the payload files sit directly in the artifacts directory, named as gen plan names them');
    const source = join(dirArg, name);
    const st = await stat(source).catch(() => null);
    if (!st) throw new InputError(`${source} is listed in SHA256SUMS but missing`);
    if (!st.isFile()) throw new InputError(`${source} is not a regular file`);
    const actual = await sha256File(source);
    if (actual !== expected) throw new InputError(`${source}: sha256 ${actual} does not match SHA256SUMS (${expected})`);
    out.push({ name, source, sha256: actual, size: st.size });
  }
  say(`  ${out.length} artifact(s) verified`);
  return out;
}

/**
 * The payload's files straight from the fetch cache (no copy), plus one image archive per
 * architecture, written once into the payload cache and named by what it holds.
 */
async function fromCache(outcome: FetchOutcome, plan: BundlePlan, outRoot: string, mtime: number, say: (l: string) => void): Promise<ArtifactFile[]> {
  const files: ArtifactFile[] = plan.artifacts.map((a) => {
    const f = outcome.files.get(a.id)!;
    return { name: payloadName(a), source: f.path, sha256: f.entry.sha256, size: f.entry.size };
  });
  const cache = join(outRoot, 'payload-cache');
  await mkdir(cache, { recursive: true });
  for (const arch of [...new Set(plan.images.map((i) => i.platform.split('/')[1]!))].sort()) {
    const layout = imageArchive(outcome, plan, arch);
    const key = createHash('sha256').update(`${mtime}\n${layout.indexJson}\n${layout.blobs.join('\n')}`).digest('hex').slice(0, 16);
    const target = join(cache, `images-${arch}-${key}.oci.tar`);
    if (!(await stat(target).catch(() => null))) {
      const tmp = `${target}.tmp-${process.pid}`;
      await writeImageArchive(layout, tmp, mtime);
      await rename(tmp, target);
      say(`  wrote ${imageArchiveName(arch)} (${layout.blobs.length} blobs)`);
    }
    const sha256 = await sha256FileRemembered(target);
    files.push({ name: imageArchiveName(arch), source: target, sha256, size: (await stat(target)).size });
  }
  for (const repo of outcome.osRepos) {
    const dir = osRepoDir(repo.id);
    for (const d of repo.debs) files.push({ name: `${dir}/${d.filename}`, source: outcome.cache.blobPath(d.sha256), sha256: d.sha256, size: d.size });
    const index = flatPackagesIndex(repo);
    const sha256 = createHash('sha256').update(index).digest('hex');
    const target = join(cache, `ospkg-${repo.id}-${sha256.slice(0, 16)}.Packages`);
    if (!(await stat(target).catch(() => null))) await writeFile(target, index, { mode: 0o644 });
    files.push({ name: `${dir}/Packages`, source: target, sha256, size: Buffer.byteLength(index) });
  }
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

/** Every artifact the plan needs is present (pins matched), and the image archive of every architecture. */
function checkCoverage(plan: BundlePlan, files: ArtifactFile[]): ArtifactFile[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const problems: string[] = [];
  for (const a of plan.artifacts) {
    const f = byName.get(payloadName(a));
    if (!f) problems.push(`${payloadName(a)} (${a.id}) is missing`);
    else if (a.checksum.kind === 'pinned' && a.checksum.sha256 !== f.sha256) problems.push(`${payloadName(a)}: sha256 ${f.sha256} is not the catalog's pin ${a.checksum.sha256}`);
  }
  for (const arch of new Set(plan.images.map((i) => i.platform.split('/')[1]!))) {
    if (!byName.has(imageArchiveName(arch))) problems.push(`${imageArchiveName(arch)} (the ${arch} image archive) is missing`);
  }
  // A repository's .debs are whatever its index lists; the index itself must be there.
  for (const r of plan.osPackages.repos) if (!byName.has(`${osRepoDir(r.id)}/Packages`)) problems.push(`${osRepoDir(r.id)}/Packages (the OS packages of ${r.id}) is missing`);
  if (problems.length) throw new InputError(`the artifacts do not cover the plan:\n  ${problems.join('\n  ')}`, [], 'gen plan lists every file the payload needs');
  const needed = new Set([...plan.artifacts.map(payloadName), ...plan.images.map((i) => imageArchiveName(i.platform.split('/')[1]!))]);
  const repoDirs = plan.osPackages.repos.map((r) => `${osRepoDir(r.id)}/`);
  return files.filter((f) => needed.has(f.name) || repoDirs.some((d) => f.name.startsWith(d)));
}

/** Writes or reuses the content-addressed payload. */
async function packPayload(outRoot: string, staging: string, files: ArtifactFile[], epoch: number, say: (l: string) => void) {
  const id = createHash('sha256');
  for (const f of files) id.update(`${f.name}\0${f.sha256}\n`);
  const digest = id.digest('hex').slice(0, 16);
  const cache = join(outRoot, 'payload-cache');
  await mkdir(cache, { recursive: true });
  const tarName = `payload-${digest}.tar`;
  const isoName = `payload-${digest}.iso`;
  const sums = files.map((f) => `${f.sha256}  ${f.name}\n`).join('');
  const entries = [...(await Promise.all(files.map((f) => diskFile(f.name, f.source, 0o644)))), memFile('SHA256SUMS', sums, 0o644)];
  const known = new Map<string, string>();
  for (const [name, write] of [
    [tarName, (t: string) => writeTarTo(t, entries, epoch, false)],
    [isoName, (t: string) => writeIsoTo(t, entries, { volumeId: 'KSPAYLOAD', mtime: epoch }).then(() => undefined)],
  ] as const) {
    const cached = join(cache, name);
    // The payload's digest is remembered beside it: a re-run does not hash hundreds of MB again.
    if (!(await stat(cached).catch(() => null))) {
      const tmp = `${cached}.tmp-${process.pid}`;
      await write(tmp);
      await rename(tmp, cached);
      say(`  wrote ${name}`);
    } else say(`  reused ${name}`);
    const digest = await sha256FileRemembered(cached);
    known.set(`payload/${name}`, digest);
    await mkdir(join(staging, 'payload'), { recursive: true });
    // A hard link: the payload's bytes are not copied again on a re-run.
    await link(cached, join(staging, 'payload', name)).catch(async () => {
      const { copyFile } = await import('node:fs/promises');
      await copyFile(cached, join(staging, 'payload', name));
    });
  }
  return { tar: tarName, iso: isoName, entries, known };
}

async function writeManifest(staging: string, site: ResolvedSite, plan: BundlePlan, catalog: Catalog, payload: string | null, epoch: number, known: Map<string, string>): Promise<number> {
  const files = await realFs.listFiles(staging);
  const entries = [];
  for (const f of files) {
    const st = await stat(join(staging, f));
    entries.push({ path: f, size: st.size, mode: (st.mode & 0o777).toString(8).padStart(4, '0'), sha256: known.get(f) ?? (await sha256File(join(staging, f))) });
  }
  const release = catalog.releases.find((r) => r.version === site.kubernetes.version)!;
  const manifest = {
    apiVersion: 'kubeseed/v1alpha1',
    kind: 'BundleManifest',
    site: site.name,
    kubernetesVersion: site.kubernetes.version,
    mode: site.kubernetes.mode,
    created: new Date(epoch * 1000).toISOString(),
    versions: release.versions,
    images: plan.images.map((i) => ({ ref: i.ref, platform: i.platform })),
    payload,
    nodes: plan.nodes.map((n) => n.name),
    files: entries,
  };
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  await writeFile(join(staging, 'manifest.json'), manifestText, { mode: 0o644 });
  await chmod(join(staging, 'manifest.json'), 0o644);
  // The files were hashed for the manifest already; only manifest.json itself is new.
  const hashes = new Map(entries.map((e) => [e.path, e.sha256]));
  hashes.set('manifest.json', createHash('sha256').update(manifestText).digest('hex'));
  const sums = [...hashes.keys()].sort().map((f) => `${hashes.get(f)}  ${f}\n`);
  await writeFile(join(staging, 'SHA256SUMS'), sums.join(''), { mode: 0o644 });
  await chmod(join(staging, 'SHA256SUMS'), 0o644);
  return hashes.size + 1;
}

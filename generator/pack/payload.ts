import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File, sha256FileRemembered } from '../io/hash.js';
import { InputError, type BundlePlan, type ResolvedOsRepo } from '../model/index.js';
import { imageArchiveName, payloadName, VOLUME_LABELS } from '../model/layout.js';
import { flatPackagesIndex, osRepoDir } from '../ospkg/payload.js';
import { DIST } from './dist-layout.js';
import { diskFile, memFile, writeIsoTo, writeTarTo } from './files.js';
import { writeImageArchive, type ImageArchive } from './images.js';

/** One file of the payload: its name there, where its bytes are, and what they hash to. */
export interface ArtifactFile {
  name: string;
  source: string;
  sha256: string;
  size: number;
}

/** The payload's forms: a KSPAYLOAD volume (ISO 9660) or a tarball. */
export const PAYLOAD_FORMATS = ['iso', 'tar'] as const;
export type PayloadFormat = (typeof PAYLOAD_FORMATS)[number];

/** One written form of the payload, in dist/payload. */
export interface PayloadFile {
  format: PayloadFormat;
  name: string;
  size: number;
  sha256: string;
}

export interface Payload {
  /** The forms written, the default one first; each named by the digest of what it holds. */
  files: PayloadFile[];
  /** The volume's and the tarball's names in dist/payload, when written. */
  iso: string | null;
  tar: string | null;
  /** Its files, for a seed ISO that embeds the payload. */
  entries: Awaited<ReturnType<typeof diskFile>>[];
  /** dist path → sha256 of what was hashed already (the manifest need not read them again). */
  known: Map<string, string>;
}

/**
 * Writes `target` once: a file already there is the same content (its name says what it holds),
 * so a re-run costs nothing. Written to a temporary name and renamed, so a crash leaves no half file.
 */
async function writeOnce(target: string, write: (tmp: string) => Promise<unknown>): Promise<boolean> {
  if (await stat(target).catch(() => null)) return false;
  const tmp = `${target}.tmp-${process.pid}`;
  await write(tmp);
  await rename(tmp, target);
  return true;
}

/**
 * A name --artifacts may list: a plain file of the directory, or a file of one OS package
 * repository (`ospkg/<repository>/<file>`, the payload's only nested shape). No segment may be
 * empty or start with a dot, so nothing reaches outside the directory.
 */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+~%-]*$/;
export function payloadFileName(name: string): boolean {
  const parts = name.split('/');
  if (parts.length === 1) return SEGMENT.test(name);
  return parts.length === 3 && `${parts[0]}/${parts[1]}` === osRepoDir(parts[1]!) && parts.every((p) => SEGMENT.test(p));
}

/** The payload's files from --artifacts DIR, each checked against DIR/SHA256SUMS. */
export async function collectArtifacts(dirArg: string, say: (l: string) => void): Promise<ArtifactFile[]> {
  const sumsFile = join(dirArg, 'SHA256SUMS');
  if ((await stat(sumsFile).catch(() => null))?.isFile() === false)
    throw new InputError(`${sumsFile} is not a regular file`, [], 'the artifacts directory must list every file with its sha256 (sha256sum * > SHA256SUMS)');
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
    if (!payloadFileName(name))
      throw new InputError(
        `${dirArg}/SHA256SUMS lists ${JSON.stringify(name)}, which is not a file name of that directory`,
        [],
        'the payload files sit directly in the artifacts directory, named as gen plan names them (OS packages in ospkg/<repository>/)',
      );
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
 * The image archive of each architecture, written once into the payload cache under a name made
 * from what it holds, and returned as payload files.
 */
export async function imageArchives(
  archives: { arch: string; archive: ImageArchive }[],
  cache: string,
  mtime: number,
  say: (l: string) => void,
): Promise<ArtifactFile[]> {
  await mkdir(cache, { recursive: true });
  const out: ArtifactFile[] = [];
  for (const { arch, archive } of archives) {
    const key = createHash('sha256')
      .update(`${mtime}\n${archive.indexJson}\n${archive.blobs.join('\n')}`)
      .digest('hex')
      .slice(0, 16);
    const target = join(cache, `images-${arch}-${key}.oci.tar`);
    if (await writeOnce(target, (tmp) => writeImageArchive(archive, tmp, mtime))) say(`  wrote ${imageArchiveName(arch)} (${archive.blobs.length} blobs)`);
    out.push({ name: imageArchiveName(arch), source: target, sha256: await sha256FileRemembered(target), size: (await stat(target)).size });
  }
  return out;
}

/** Each OS package repository as payload files: its `.deb`s straight from the fetch cache, and a flat `Packages` index written once into the payload cache. */
export async function osPackageFiles(repos: ResolvedOsRepo[], cache: string, blobPath: (hex: string) => string): Promise<ArtifactFile[]> {
  const out: ArtifactFile[] = [];
  for (const repo of repos) {
    const dir = osRepoDir(repo.id);
    for (const d of repo.debs) out.push({ name: `${dir}/${d.filename}`, source: blobPath(d.sha256), sha256: d.sha256, size: d.size });
    const index = flatPackagesIndex(repo);
    const sha256 = createHash('sha256').update(index).digest('hex');
    const target = join(cache, `ospkg-${repo.id}-${sha256.slice(0, 16)}.Packages`);
    await writeOnce(target, (tmp) => writeFile(tmp, index, { mode: 0o644 }));
    out.push({ name: `${dir}/Packages`, source: target, sha256, size: Buffer.byteLength(index) });
  }
  return out;
}

/** Every artifact the plan needs is present (pins matched), and the image archive of every architecture; only those are kept. */
export function checkCoverage(plan: BundlePlan, files: ArtifactFile[]): ArtifactFile[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const problems: string[] = [];
  for (const a of plan.artifacts) {
    const f = byName.get(payloadName(a));
    if (!f) problems.push(`${payloadName(a)} (${a.id}) is missing`);
    else if (a.checksum.kind === 'pinned' && a.checksum.sha256 !== f.sha256)
      problems.push(`${payloadName(a)}: sha256 ${f.sha256} is not the catalog's pin ${a.checksum.sha256}`);
  }
  const arches = [...new Set(plan.images.map((i) => i.platform.split('/')[1]!))];
  for (const arch of arches) if (!byName.has(imageArchiveName(arch))) problems.push(`${imageArchiveName(arch)} (the ${arch} image archive) is missing`);
  // A repository's .debs are whatever its index lists; the index itself must be there.
  for (const r of plan.osPackages.repos)
    if (!byName.has(`${osRepoDir(r.id)}/Packages`)) problems.push(`${osRepoDir(r.id)}/Packages (the OS packages of ${r.id}) is missing`);
  if (problems.length)
    throw new InputError(`the artifacts do not cover the plan:\n  ${problems.join('\n  ')}`, [], 'gen plan lists every file the payload needs');
  const needed = new Set([...plan.artifacts.map(payloadName), ...arches.map(imageArchiveName)]);
  const repoDirs = plan.osPackages.repos.map((r) => `${osRepoDir(r.id)}/`);
  return files.filter((f) => needed.has(f.name) || repoDirs.some((d) => f.name.startsWith(d)));
}

/**
 * The payload in the forms asked for (a KSPAYLOAD volume, a tarball or both), named by the digest
 * of what it holds, written once into the payload cache and hard-linked into dist (a re-run copies
 * no bytes).
 */
export async function packPayload(
  cache: string,
  dist: string,
  files: ArtifactFile[],
  epoch: number,
  formats: readonly PayloadFormat[],
  say: (l: string) => void,
): Promise<Payload> {
  const id = createHash('sha256');
  for (const f of files) id.update(`${f.name}\0${f.sha256}\n`);
  const digest = id.digest('hex').slice(0, 16);
  await mkdir(cache, { recursive: true });
  const sums = files.map((f) => `${f.sha256}  ${f.name}\n`).join('');
  const entries = [...(await Promise.all(files.map((f) => diskFile(f.name, f.source, 0o644)))), memFile('SHA256SUMS', sums, 0o644)];
  const writers: Record<PayloadFormat, (t: string) => Promise<unknown>> = {
    tar: (t) => writeTarTo(t, entries, epoch, false),
    iso: (t) => writeIsoTo(t, entries, { volumeId: VOLUME_LABELS.payload, mtime: epoch }),
  };
  const known = new Map<string, string>();
  const written: PayloadFile[] = [];
  await mkdir(join(dist, DIST.payloadDir), { recursive: true });
  for (const format of formats) {
    const name = `payload-${digest}.${format}`;
    const cached = join(cache, name);
    say(`  ${(await writeOnce(cached, writers[format])) ? 'wrote' : 'reused'} ${name}`);
    // The payload's digest is remembered beside it: a re-run does not hash hundreds of MB again.
    const sha256 = await sha256FileRemembered(cached);
    known.set(DIST.payload(name), sha256);
    await link(cached, join(dist, DIST.payload(name))).catch(() => copyFile(cached, join(dist, DIST.payload(name))));
    written.push({ format, name, size: (await stat(cached)).size, sha256 });
  }
  const named = (f: PayloadFormat) => written.find((w) => w.format === f)?.name ?? null;
  return { files: written, iso: named('iso'), tar: named('tar'), entries, known };
}

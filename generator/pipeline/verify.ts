import { X509Certificate, createHash } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { kindOf, readRegular, sha256Regular } from '../io/regular.js';
import { InputError, type ClockPort } from '../model/index.js';
import { distDirMode, isSecretDistFile } from '../pack/modes.js';

export interface VerifyReport {
  ok: boolean;
  checked: number;
  problems: string[];
  notes: string[];
}

interface ManifestFile {
  path: string;
  size: number;
  mode: string;
  sha256: string;
}

/** A manifest larger than this is not one we wrote (ours are kilobytes). */
const MAX_MANIFEST_BYTES = 64 << 20;
const HEX64 = /^[0-9a-f]{64}$/;
const SAFE_PATH = /^(?!\/)(?!.*(?:^|\/)\.{0,2}(?:\/|$))[^\0\n\\]+$/;
const mode8 = (m: number) => (m & 0o777).toString(8).padStart(4, '0');

/** The manifest's `files`, each entry checked for shape; anything else is not a manifest we can verify by. */
function manifestFiles(doc: unknown, where: string): ManifestFile[] {
  const bad = (what: string) =>
    new InputError(`${where} ${what}`, [], 'a bundle is verified by the manifest.json gen bundle wrote; rebuild the bundle if it was edited');
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('is not a JSON object');
  const m = doc as Record<string, unknown>;
  if (m.kind !== 'BundleManifest') throw bad('is not a kubeseed bundle manifest (kind is not BundleManifest)');
  if (!Array.isArray(m.files)) throw bad('has no files list');
  return m.files.map((f: unknown, i: number) => {
    const e = f as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null) throw bad(`files[${i}] is not an object`);
    if (typeof e.path !== 'string' || !SAFE_PATH.test(e.path)) throw bad(`files[${i}].path is not a relative path inside the bundle`);
    if (typeof e.size !== 'number' || !Number.isSafeInteger(e.size) || e.size < 0) throw bad(`files[${i}].size is not a size`);
    if (typeof e.mode !== 'string' || !/^0[0-7]{3}$/.test(e.mode)) throw bad(`files[${i}].mode is not an octal mode`);
    if (typeof e.sha256 !== 'string' || !HEX64.test(e.sha256)) throw bad(`files[${i}].sha256 is not a sha256`);
    return { path: e.path, size: e.size, mode: e.mode, sha256: e.sha256 };
  });
}

/** Every entry below `root` by lstat, never following a symlink: path → what it is. */
async function walk(root: string): Promise<Map<string, { kind: string; mode: number; empty: boolean }>> {
  const out = new Map<string, { kind: string; mode: number; empty: boolean }>();
  const visit = async (rel: string) => {
    const names = await readdir(join(root, rel));
    if (rel) out.get(rel)!.empty = names.length === 0;
    for (const n of names.sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = await lstat(join(root, r));
      out.set(r, { kind: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : kindOf(st)!, mode: st.mode & 0o777, empty: false });
      if (st.isDirectory()) await visit(r);
    }
  };
  await visit('');
  return out;
}

/**
 * `gen verify DIST`: manifest.json's own hash against SHA256SUMS, SHA256SUMS against the manifest,
 * every file against the manifest (size, mode, sha256), nothing missing, extra, empty, a symlink
 * or a special file (none is ever opened), secrets at 0600 in 0700 directories, and the admin
 * credential chained to the bundle's CA and not expired. Exit 2 when there is no manifest to
 * verify by; problems are exit 1.
 */
export async function verifyBundle(dist: string, clock: ClockPort): Promise<VerifyReport> {
  const now = clock.now();
  const top = await lstat(dist).catch(() => null);
  if (!top) {
    const parent = await readdir(dirname(dist)).catch(() => [] as string[]);
    const old = parent.find((n) => /^dist\.old-\d+$/.test(n));
    throw new InputError(
      `${dist} does not exist`,
      [],
      old
        ? `a gen bundle run stopped while publishing: the previous bundle is ${join(dirname(dist), old)} (the next gen bundle puts it back)`
        : 'point gen verify at output/<site>/dist',
    );
  }
  if (!top.isDirectory()) throw new InputError(`${dist} is ${kindOf(top) ?? 'not a directory'}`, [], 'point gen verify at output/<site>/dist');

  const manifestPath = join(dist, 'manifest.json');
  const mst = await lstat(manifestPath).catch(() => null);
  if (!mst) throw new InputError(`${dist} holds no manifest.json`, [], 'point gen verify at output/<site>/dist');
  if (!mst.isFile())
    throw new InputError(`${manifestPath} is ${kindOf(mst)}, not a file; not opened`, [], 'a bundle holds regular files only; rebuild it with gen bundle');
  if (mst.size > MAX_MANIFEST_BYTES) throw new InputError(`${manifestPath} is ${mst.size} bytes, more than a bundle manifest can be`);
  const raw = await readRegular(manifestPath);
  if (typeof raw === 'string') throw new InputError(`${manifestPath} is ${raw}, not a file; not opened`);
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new InputError(
      `${manifestPath} is not JSON: ${(e as Error).message}`,
      [],
      'a bundle is verified by the manifest.json gen bundle wrote; rebuild the bundle if it was edited',
    );
  }
  const files = manifestFiles(doc, manifestPath);

  const problems: string[] = [];
  const notes: string[] = [];
  const listed = new Map<string, ManifestFile>();
  for (const f of files) {
    if (listed.has(f.path)) problems.push(`manifest.json lists ${f.path} twice`);
    listed.set(f.path, f);
  }

  // SHA256SUMS: the manifest's own hash, and the same hash as the manifest for every file.
  const manifestSha = createHash('sha256').update(raw).digest('hex');
  const sumsRaw = await readRegular(join(dist, 'SHA256SUMS'));
  if (typeof sumsRaw === 'string') problems.push(`SHA256SUMS: ${sumsRaw === 'missing' ? 'missing' : `${sumsRaw}, not a file; not opened`}`);
  else {
    const sums = new Map<string, string>();
    sumsRaw
      .toString('utf8')
      .split('\n')
      .forEach((line, i) => {
        if (!line) return;
        const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
        if (!m) problems.push(`SHA256SUMS line ${i + 1}: not "<sha256>  <path>"`);
        else sums.set(m[2]!, m[1]!);
      });
    const mine = sums.get('manifest.json');
    if (!mine) problems.push('SHA256SUMS does not list manifest.json');
    else if (mine !== manifestSha) problems.push('manifest.json: sha256 differs from SHA256SUMS (the manifest was changed)');
    for (const [p, h] of sums) {
      if (p === 'manifest.json') continue;
      const f = listed.get(p);
      if (!f) problems.push(`SHA256SUMS lists ${p}, which the manifest does not`);
      else if (f.sha256 !== h) problems.push(`${p}: SHA256SUMS and manifest.json disagree on its sha256`);
    }
    for (const p of listed.keys()) if (!sums.has(p)) problems.push(`${p}: in the manifest but not in SHA256SUMS`);
  }

  // The tree as it is, by lstat: nothing is opened that is not a regular file.
  const tree = await walk(dist);
  for (const [p, e] of tree) {
    if (e.kind === 'dir') {
      if (e.empty) problems.push(`${p}/: empty directory`);
      else if (![...listed.keys()].some((f) => f.startsWith(`${p}/`))) problems.push(`${p}/: not in the manifest`);
      if (distDirMode(p) === 0o700 && (e.mode & 0o077) !== 0)
        problems.push(`${p}/: mode ${mode8(e.mode)}, must be 0700: it holds files that carry private keys or tokens`);
      continue;
    }
    if (e.kind !== 'file') {
      problems.push(`${p}: ${e.kind}${listed.has(p) ? ' where the manifest lists a file' : ''} (a bundle holds regular files only); not opened`);
      continue;
    }
    if (!listed.has(p) && p !== 'manifest.json' && p !== 'SHA256SUMS') problems.push(`${p}: not in the manifest`);
  }
  for (const f of files) {
    const e = tree.get(f.path);
    if (!e) {
      problems.push(`${f.path}: missing`);
      continue;
    }
    if (e.kind !== 'file') continue;
    const st = await lstat(join(dist, f.path));
    if (st.size !== f.size) problems.push(`${f.path}: ${st.size} bytes, manifest says ${f.size}`);
    if (isSecretDistFile(f.path) && (st.mode & 0o077) !== 0)
      problems.push(`${f.path}: mode ${mode8(st.mode)}, must be 0600: it carries private keys or tokens`);
    else if (mode8(st.mode) !== f.mode) problems.push(`${f.path}: mode ${mode8(st.mode)}, manifest says ${f.mode}`);
    if (st.size === f.size) {
      const h = await sha256Regular(join(dist, f.path));
      if (typeof h === 'string') problems.push(`${f.path}: ${h}; not opened`);
      else if (h.sha256 !== f.sha256) problems.push(`${f.path}: sha256 differs from the manifest`);
    }
  }

  await checkAdmin(dist, now, problems, notes);
  return { ok: problems.length === 0, checked: files.length, problems, notes };
}

async function checkAdmin(dist: string, now: Date, problems: string[], notes: string[]): Promise<void> {
  try {
    const caRaw = await readRegular(join(dist, 'admin', 'ca.crt'));
    const kcRaw = await readRegular(join(dist, 'admin', 'admin.kubeconfig'));
    if (typeof caRaw === 'string' || typeof kcRaw === 'string') {
      problems.push(`admin credentials unreadable: ${typeof caRaw === 'string' ? `admin/ca.crt is ${caRaw}` : `admin/admin.kubeconfig is ${String(kcRaw)}`}`);
      return;
    }
    const ca = new X509Certificate(caRaw);
    const kc = parse(kcRaw.toString('utf8')) as { users?: { user?: Record<string, string> }[] } | null;
    const data = kc?.users?.[0]?.user?.['client-certificate-data'];
    if (!data) {
      problems.push('admin/admin.kubeconfig: no client certificate');
      return;
    }
    const admin = new X509Certificate(Buffer.from(data, 'base64'));
    if (!admin.verify(ca.publicKey)) problems.push('admin/admin.kubeconfig: its certificate is not signed by admin/ca.crt');
    for (const [name, cert] of [
      ['admin/ca.crt', ca],
      ['admin credential', admin],
    ] as const) {
      const left = (new Date(cert.validTo).getTime() - now.getTime()) / 86_400_000;
      if (left < 0) problems.push(`${name}: expired on ${cert.validTo}`);
      else notes.push(`${name} valid until ${new Date(cert.validTo).toISOString().slice(0, 10)} (${Math.floor(left)} days)`);
    }
  } catch (e) {
    problems.push(`admin credentials unreadable: ${(e as Error).message}`);
  }
}

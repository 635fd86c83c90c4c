import { X509Certificate } from 'node:crypto';
import { realFs } from '../io/fs.js';
import { sha256File } from '../io/hash.js';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { InputError } from '../model/index.js';

export interface VerifyReport {
  ok: boolean;
  checked: number;
  problems: string[];
  notes: string[];
}


/**
 * `gen verify DIST`: every file against manifest.json (size, mode, sha256), nothing missing or
 * extra, and the admin credential's certificate chained to the bundle's CA and not expired.
 */
export async function verifyBundle(dist: string, now = new Date()): Promise<VerifyReport> {
  let manifest: { files: { path: string; size: number; mode: string; sha256: string }[] };
  try {
    manifest = JSON.parse(await readFile(join(dist, 'manifest.json'), 'utf8'));
  } catch {
    throw new InputError(`${dist} holds no readable manifest.json`, [], 'point gen verify at output/<site>/dist');
  }
  const problems: string[] = [];
  const notes: string[] = [];
  const listed = new Set(manifest.files.map((f) => f.path));
  for (const f of manifest.files) {
    const p = join(dist, f.path);
    const st = await stat(p).catch(() => null);
    if (!st) {
      problems.push(`${f.path}: missing`);
      continue;
    }
    if (st.size !== f.size) problems.push(`${f.path}: ${st.size} bytes, manifest says ${f.size}`);
    if ((st.mode & 0o777).toString(8).padStart(4, '0') !== f.mode) problems.push(`${f.path}: mode ${(st.mode & 0o777).toString(8)}, manifest says ${f.mode}`);
    else if (await sha256File(p).then((h) => h !== f.sha256)) problems.push(`${f.path}: sha256 differs from the manifest`);
  }
  for (const rel of await realFs.listFiles(dist)) {
    if (!listed.has(rel) && rel !== 'manifest.json' && rel !== 'SHA256SUMS') problems.push(`${rel}: not in the manifest`);
  }
  try {
    const ca = new X509Certificate(await readFile(join(dist, 'admin', 'ca.crt')));
    const kc = parse(await readFile(join(dist, 'admin', 'admin.kubeconfig'), 'utf8')) as { users: { user: Record<string, string> }[] };
    const admin = new X509Certificate(Buffer.from(kc.users[0]!.user['client-certificate-data']!, 'base64'));
    if (!admin.verify(ca.publicKey)) problems.push('admin/admin.kubeconfig: its certificate is not signed by admin/ca.crt');
    for (const [name, cert] of [['admin/ca.crt', ca], ['admin credential', admin]] as const) {
      const left = (new Date(cert.validTo).getTime() - now.getTime()) / 86_400_000;
      if (left < 0) problems.push(`${name}: expired on ${cert.validTo}`);
      else notes.push(`${name} valid until ${new Date(cert.validTo).toISOString().slice(0, 10)} (${Math.floor(left)} days)`);
    }
  } catch (e) {
    problems.push(`admin credentials unreadable: ${(e as Error).message}`);
  }
  return { ok: problems.length === 0, checked: manifest.files.length, problems, notes };
}

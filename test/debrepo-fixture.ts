import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import * as openpgp from 'openpgp';

/** A package of a hand-made repository; the .deb is stand-in bytes (nothing installs it). */
export interface FakePackage {
  name: string;
  version: string;
  arch?: string;
  priority?: string;
  essential?: boolean;
  multiArch?: string;
  depends?: string;
  preDepends?: string;
  provides?: string;
  conflicts?: string;
  breaks?: string;
  /** Bytes of the stand-in .deb (default: derived from name and version). */
  bytes?: Buffer;
}

export interface SigningKey {
  privateKey: openpgp.PrivateKey;
  armoredPublic: string;
}

/** A throwaway archive key (Ed25519), made per test run. */
export async function throwawayKey(name = 'kubeseed test archive'): Promise<SigningKey> {
  const { privateKey, publicKey } = await openpgp.generateKey({ userIDs: [{ name }], format: 'object' });
  return { privateKey, armoredPublic: publicKey.armor() };
}

export async function clearsign(text: string, key: SigningKey): Promise<string> {
  return openpgp.sign({ message: await openpgp.createCleartextMessage({ text }), signingKeys: key.privateKey });
}

export function fakeDeb(p: FakePackage): Buffer {
  return p.bytes ?? Buffer.from(`!<arch>\nstand-in .deb of ${p.name} ${p.version}\n`.repeat(40));
}

export function debFilename(p: FakePackage): string {
  return `pool/main/${p.name[0]}/${p.name}/${p.name}_${p.version.replace(/^\d+:/, '')}_${p.arch ?? 'amd64'}.deb`;
}

/** The Packages stanza of a fake package, as dak writes one. */
export function stanzaOf(p: FakePackage, deb: Buffer): string {
  const lines = [
    `Package: ${p.name}`,
    `Version: ${p.version}`,
    `Installed-Size: ${Math.ceil(deb.length / 1024)}`,
    `Maintainer: Test Maintainer <test@kubeseed.test>`,
    `Architecture: ${p.arch ?? 'amd64'}`,
  ];
  if (p.essential) lines.push('Essential: yes');
  if (p.multiArch) lines.push(`Multi-Arch: ${p.multiArch}`);
  if (p.provides) lines.push(`Provides: ${p.provides}`);
  if (p.preDepends) lines.push(`Pre-Depends: ${p.preDepends}`);
  if (p.depends) lines.push(`Depends: ${p.depends}`);
  if (p.conflicts) lines.push(`Conflicts: ${p.conflicts}`);
  if (p.breaks) lines.push(`Breaks: ${p.breaks}`);
  lines.push(`Description: ${p.name} for tests`, ` A package of a hand-made repository.`, `Section: admin`, `Priority: ${p.priority ?? 'optional'}`);
  lines.push(
    `Filename: ${debFilename(p)}`,
    `Size: ${deb.length}`,
    `MD5sum: ${createHash('md5').update(deb).digest('hex')}`,
    `SHA256: ${createHash('sha256').update(deb).digest('hex')}`,
  );
  return lines.join('\n');
}

export interface DebRepo {
  /** Path below the mirror → bytes. */
  files: Map<string, Buffer>;
  inReleasePath: string;
  indexPath: string;
}

/**
 * A repository in the archive's layout: `dists/<suite>/InRelease` clearsigned with `key`, one
 * component's `Packages.gz` listed in it by SHA256, and the .deb files under `pool/`.
 */
export async function buildDebRepo(opts: {
  suite: string;
  arch?: string;
  component?: string;
  packages: FakePackage[];
  key: SigningKey;
  releaseFields?: string[];
}): Promise<DebRepo> {
  const arch = opts.arch ?? 'amd64';
  const component = opts.component ?? 'main';
  const files = new Map<string, Buffer>();
  const stanzas: string[] = [];
  for (const p of opts.packages) {
    const deb = fakeDeb(p);
    files.set(debFilename(p), deb);
    stanzas.push(stanzaOf(p, deb));
  }
  const packages = Buffer.from(`${stanzas.join('\n\n')}\n`);
  const gz = gzipSync(packages);
  const rel = `${component}/binary-${arch}`;
  const indexPath = `dists/${opts.suite}/${rel}/Packages.gz`;
  files.set(indexPath, gz);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const release = [
    'Origin: Debian',
    'Label: Debian',
    `Suite: ${opts.suite}`,
    `Codename: ${opts.suite}`,
    `Architectures: ${arch}`,
    `Components: ${component}`,
    ...(opts.releaseFields ?? []),
    'SHA256:',
    ` ${sha(packages)} ${String(packages.length).padStart(8)} ${rel}/Packages`,
    ` ${sha(gz)} ${String(gz.length).padStart(8)} ${rel}/Packages.gz`,
    '',
  ].join('\n');
  const inReleasePath = `dists/${opts.suite}/InRelease`;
  files.set(inReleasePath, Buffer.from(await clearsign(release, opts.key)));
  return { files, inReleasePath, indexPath };
}

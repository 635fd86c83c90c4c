import { chmod, copyFile, link, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { realFs } from '../io/fs.js';
import { sha256File } from '../io/hash.js';
import { InputError, type BundlePlan, type Catalog, type RenderedFile, type ResolvedNode, type ResolvedSite } from '../model/index.js';
import type { SecretFile } from '../pki/select.js';
import type { Engine } from '../text/template.js';
import { DIST, isRegenerated, nodeOwning } from './dist-layout.js';
import { writeManifest } from './manifest.js';
import { applyDistModes } from './modes.js';
import { packNode } from './nodes.js';
import { packPayload, PAYLOAD_FORMATS, type ArtifactFile, type Payload, type PayloadFile, type PayloadFormat } from './payload.js';
import { distReadme } from './readme.js';
import { verifyScript } from './scripts.js';
import { vagrantfile } from './vagrant.js';
import { qemuScript, siteScripts } from './vm.js';
import { packUpdates } from './update.js';
import type { NodeUpdate } from '../update/compute.js';

export interface DistInput {
  site: ResolvedSite;
  catalog: Catalog;
  plan: BundlePlan;
  /** The nodes to write (all, or the one `--node` names), each rendered with its seed and checksum list. */
  nodes: { node: ResolvedNode; files: RenderedFile[]; seed: Record<string, string>; list: string }[];
  operatorFiles: SecretFile[];
  /** The payload's files (checked against the plan), or null without a payload. */
  payload: ArtifactFile[] | null;
  /** The payload's forms to write, the one to carry first. */
  payloadFormats: readonly PayloadFormat[];
  /** Where payloads and image archives are kept between runs. */
  payloadCache: string;
  embedPayload: boolean;
  /**
   * With `--node`: the published bundle to update. Its other nodes are kept byte for byte (and its
   * payload, when this run packs none); everything that describes the whole bundle is written anew.
   */
  previous: string | null;
  epoch: number;
  engine: Engine;
  say: (line: string) => void;
  /** The site revision (generator/update) and the updates of the nodes written now. */
  revision: number;
  updates: NodeUpdate[];
}

export interface DistResult {
  files: number;
  /** The payload file to carry (the first form written), or null. */
  payload: string | null;
  payloads: PayloadFile[];
  /** Nodes of the site that this bundle holds. */
  nodes: string[];
}

/** The pack stage: everything `dist` holds, written into `dist` (a staging directory the caller swaps in). */
export async function packDist(dist: string, d: DistInput): Promise<DistResult> {
  const written = new Set(d.nodes.map((n) => n.node.name));
  const kept = d.previous ? await keepPrevious(d.previous, dist, d.site, written, d.payload === null) : { nodes: [], payload: null, payloadNames: [] };
  const payload: Payload | null = d.payload ? await packPayload(d.payloadCache, dist, d.payload, d.epoch, d.payloadFormats, d.say) : kept.payload;
  // The kept nodes' seeds were made with the bundle's payload (some embed it): one bundle, one payload.
  const oldPayload = kept.payloadNames.find((n) => /^payload-[0-9a-f]{16}\./.test(n));
  if (d.payload && payload && kept.nodes.length && oldPayload && !payload.files.some((f) => f.name.slice(0, 24) === oldPayload.slice(0, 24)))
    throw new InputError(
      `--node ${[...written].join(', ')}: the payload changed since the bundle in ${d.previous} was written (${oldPayload.slice(0, 24)} -> ${payload.files[0]!.name.slice(0, 24)}); the other nodes' seeds go with the old one`,
      [],
      "run gen bundle without --node to write every node with the new payload, or add --skip-payload to keep the bundle's payload",
    );
  for (const n of d.nodes) {
    await packNode({
      site: d.site,
      node: n.node,
      files: n.files,
      seed: n.seed,
      list: n.list,
      dist,
      epoch: d.epoch,
      engine: d.engine,
      payload,
      embedPayload: d.embedPayload,
    });
  }
  const present = d.site.nodes.filter((n) => written.has(n.name) || kept.nodes.includes(n.name));
  for (const n of d.site.nodes.filter((x) => !present.includes(x))) d.say(`  note: ${n.name} is not in this bundle; gen bundle without --node writes it`);
  const vm = d.site.output.formats.includes('nocloud-iso');
  if (vm) {
    const clash = present.find((n) => ([DIST.vmUp, DIST.vmDown] as string[]).includes(DIST.vmScript(n.name)));
    if (clash) throw new InputError(`node ${clash.name}: its VM script would be ${DIST.vmScript(clash.name)}, the site's own script`, [], 'rename the node');
    await mkdir(join(dist, DIST.vmDir), { recursive: true });
    for (const n of present) await writeFile(join(dist, DIST.vmScript(n.name)), qemuScript(d.engine, d.site, n, payload?.iso ?? null), { mode: 0o755 });
    const site = siteScripts(d.engine, d.site, present);
    await writeFile(join(dist, DIST.vmUp), site.up, { mode: 0o755 });
    await writeFile(join(dist, DIST.vmDown), site.down, { mode: 0o755 });
    await writeFile(join(dist, DIST.vagrantfile), vagrantfile(d.engine, d.site, present, payload?.iso ?? null), { mode: 0o644 });
  }
  for (const f of d.operatorFiles) {
    await mkdir(dirname(join(dist, f.path)), { recursive: true });
    await writeFile(join(dist, f.path), f.content, { mode: Number.parseInt(f.mode, 8) });
    await chmod(join(dist, f.path), Number.parseInt(f.mode, 8));
  }
  await packUpdates(dist, { site: d.site, plan: d.plan, payload: d.payload, updates: d.updates, revision: d.revision, epoch: d.epoch, engine: d.engine });
  await writeFile(join(dist, DIST.verify), verifyScript(d.engine), { mode: 0o755 });
  await writeFile(join(dist, DIST.readme), distReadme(d.engine, { site: d.site, plan: d.plan, nodes: present, payload, vm }), { mode: 0o644 });
  await applyDistModes(dist);
  const files = await writeManifest(dist, {
    site: d.site,
    plan: d.plan,
    catalog: d.catalog,
    nodes: present.map((n) => n.name),
    payloads: payload?.files ?? [],
    epoch: d.epoch,
    known: payload?.known ?? new Map<string, string>(),
    revision: d.revision,
  });
  return { files, payload: payload?.files[0]?.name ?? null, payloads: payload?.files ?? [], nodes: present.map((n) => n.name) };
}

/**
 * Copies into `dist` what an update by `--node` keeps of the published bundle: the other nodes'
 * directories, byte for byte, and its payload when this run packs none. Everything that describes
 * the whole bundle (manifest, sums, README, VM files, admin/) is written anew by the caller.
 */
async function keepPrevious(
  previous: string,
  dist: string,
  site: ResolvedSite,
  replaced: Set<string>,
  keepPayload: boolean,
): Promise<{ nodes: string[]; payload: Payload | null; payloadNames: string[] }> {
  const manifestPath = join(previous, DIST.manifest);
  const text = await readFile(manifestPath, 'utf8').catch(() => null);
  if (text === null)
    throw new InputError(
      `--node updates one node of the bundle in ${previous}, which has no ${DIST.manifest}`,
      [],
      'run gen bundle without --node to write the whole bundle again',
    );
  let manifest: { site?: unknown };
  try {
    manifest = JSON.parse(text) as { site?: unknown };
  } catch {
    throw new InputError(`${manifestPath} is not JSON`, [], 'run gen bundle without --node to write the whole bundle again');
  }
  if (manifest.site !== site.name)
    throw new InputError(
      `${previous} is the bundle of site ${String(manifest.site)}, not ${site.name}`,
      [],
      'give the --out of this site, or run gen bundle without --node',
    );
  const siteNodes = new Set(site.nodes.map((n) => n.name));
  const nodes = new Set<string>();
  const payloadNames: string[] = [];
  for (const rel of await realFs.listFiles(previous)) {
    if (isRegenerated(rel)) continue;
    const owner = nodeOwning(rel);
    if (owner !== null && (replaced.has(owner) || !siteNodes.has(owner))) continue;
    if (rel.startsWith(`${DIST.payloadDir}/`)) {
      payloadNames.push(rel.slice(DIST.payloadDir.length + 1));
      if (!keepPayload) continue;
    }
    if (owner !== null) nodes.add(owner);
    await mkdir(dirname(join(dist, rel)), { recursive: true });
    // Payload files are large and never written in place: a link costs nothing.
    if (rel.startsWith(`${DIST.payloadDir}/`)) await link(join(previous, rel), join(dist, rel)).catch(() => copyFile(join(previous, rel), join(dist, rel)));
    else await copyFile(join(previous, rel), join(dist, rel));
  }
  return { nodes: [...nodes], payload: keepPayload ? await keptPayload(dist, payloadNames) : null, payloadNames };
}

/** The payload forms found in a kept bundle, hashed again: the new manifest vouches for what it lists. */
async function keptPayload(dist: string, names: string[]): Promise<Payload | null> {
  const files: PayloadFile[] = [];
  const known = new Map<string, string>();
  for (const format of PAYLOAD_FORMATS) {
    const name = names.find((n) => new RegExp(`^payload-[0-9a-f]{16}\\.${format}$`).test(n));
    if (!name) continue;
    const path = join(dist, DIST.payload(name));
    const sha256 = await sha256File(path);
    known.set(DIST.payload(name), sha256);
    files.push({ format, name, size: (await stat(path)).size, sha256 });
  }
  if (!files.length) return null;
  const named = (f: PayloadFormat) => files.find((w) => w.format === f)?.name ?? null;
  return { files, iso: named('iso'), tar: named('tar'), entries: [], known };
}

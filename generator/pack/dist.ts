import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BundlePlan, Catalog, OutputFormat, RenderedFile, ResolvedNode, ResolvedSite } from '../model/index.js';
import { FILES, VOLUME_LABELS } from '../model/layout.js';
import type { SecretFile } from '../pki/select.js';
import type { Engine } from '../text/template.js';
import { DIST } from './dist-layout.js';
import { writeManifest } from './manifest.js';
import { applyDistModes } from './modes.js';
import { packNode } from './nodes.js';
import { packPayload, type ArtifactFile, type Payload } from './payload.js';
import { vagrantfile, verifyScript } from './scripts.js';

export interface DistInput {
  site: ResolvedSite;
  catalog: Catalog;
  plan: BundlePlan;
  /** The nodes to write (all, or the one `--node` names), each rendered with its seed and checksum list. */
  nodes: { node: ResolvedNode; files: RenderedFile[]; seed: Record<string, string>; list: string }[];
  operatorFiles: SecretFile[];
  /** The payload's files (checked against the plan), or null without a payload. */
  payload: ArtifactFile[] | null;
  /** Where payloads and image archives are kept between runs. */
  payloadCache: string;
  embedPayload: boolean;
  epoch: number;
  engine: Engine;
  say: (line: string) => void;
}

const OUTPUTS: Record<OutputFormat, string> = {
  'nocloud-iso': 'NoCloud seed `seed.iso` (and its files)',
  tarball: 'node tarball (`install.sh` for a host that already runs its OS)',
  kickstart: '`ks.cfg` for a RHEL-family installer',
};

/** The pack stage: everything `dist` holds, written into `dist` (a staging directory the caller swaps in). */
export async function packDist(dist: string, d: DistInput): Promise<{ files: number; payload: string | null }> {
  const payload: Payload | null = d.payload ? await packPayload(d.payloadCache, dist, d.payload, d.epoch, d.say) : null;
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
  const vm = d.site.output.formats.includes('nocloud-iso');
  if (vm) await writeFile(join(dist, DIST.vagrantfile), vagrantfile(d.engine, d.site, payload?.iso ?? null), { mode: 0o644 });
  for (const f of d.operatorFiles) {
    await mkdir(dirname(join(dist, f.path)), { recursive: true });
    await writeFile(join(dist, f.path), f.content, { mode: Number.parseInt(f.mode, 8) });
    await chmod(join(dist, f.path), Number.parseInt(f.mode, 8));
  }
  await writeFile(join(dist, DIST.verify), verifyScript(d.engine), { mode: 0o755 });
  await writeFile(join(dist, DIST.readme), readme(d, payload, vm), { mode: 0o644 });
  await applyDistModes(dist);
  const files = await writeManifest(dist, d.site, d.plan, d.catalog, payload?.tar ?? null, d.epoch, payload?.known ?? new Map<string, string>());
  return { files, payload: payload?.tar ?? null };
}

function readme(d: DistInput, payload: Payload | null, vm: boolean): string {
  const outputs = d.site.output.formats.map((f) => OUTPUTS[f]).join(', ');
  return d.engine.render('pack/README.md', {
    site: d.site.name,
    kubernetesVersion: d.site.kubernetes.version,
    mode: d.site.kubernetes.mode,
    nodes: d.nodes.map((n) => ({ dir: DIST.nodeDir(n.node.name), outputs })),
    sums: DIST.sums,
    manifest: DIST.manifest,
    verify: DIST.verify,
    payload: payload?.tar ?? '',
    payloadIso: payload?.iso ?? '',
    payloadLabel: VOLUME_LABELS.payload,
    payloadTarball: FILES.payloadTarball,
    vm,
  });
}

import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File } from '../io/hash.js';
import type { OutputFormat, RenderedFile, ResolvedNode, ResolvedSite } from '../model/index.js';
import { NODE_FILES, VOLUME_LABELS } from '../model/layout.js';
import type { Engine } from '../text/template.js';
import { DIST } from './dist-layout.js';
import { diskFile, memFile, writeIsoTo, writeTarTo } from './files.js';
import { kickstart } from './kickstart.js';
import type { Payload } from './payload.js';
import { installScript } from './scripts.js';

/** What the node outputs are made of: the rendered node, its seed and the node-files archive already in dist. */
export interface NodeOutputInput {
  site: ResolvedSite;
  node: ResolvedNode;
  files: RenderedFile[];
  /** NoCloud seed files by name. */
  seed: Record<string, string>;
  /** `sha256sum -c` list of the node's files. */
  list: string;
  dist: string;
  epoch: number;
  engine: Engine;
  payload: Payload | null;
  embedPayload: boolean;
}

const at = (o: NodeOutputInput, rel: string) => join(o.dist, rel);

/** Each output format of a node: what it writes into dist. */
const FORMATS: Record<OutputFormat, (o: NodeOutputInput) => Promise<void>> = {
  // The seed's files beside the ISO (for other seed builders) and the ISO; dist.ts writes the VM scripts that boot it.
  'nocloud-iso': async (o) => {
    const dir = at(o, DIST.nodeDir(o.node.name));
    for (const [name, text] of Object.entries(o.seed)) await writeFile(join(dir, name), text, { mode: 0o644 });
    const seedFiles = [
      ...Object.entries(o.seed).map(([name, text]) => memFile(name, text, 0o644)),
      await diskFile(NODE_FILES.archive, at(o, DIST.nodeFiles(o.node.name)), 0o600),
      ...(o.embedPayload && o.payload ? o.payload.entries.map((e) => ({ ...e, path: DIST.payload(e.path) })) : []),
    ];
    await writeIsoTo(at(o, DIST.seedIso(o.node.name)), seedFiles, { volumeId: VOLUME_LABELS.seed[0], mtime: o.epoch });
  },
  kickstart: async (o) => {
    const archive = await readFile(at(o, DIST.nodeFiles(o.node.name)));
    await writeFile(at(o, DIST.kickstart(o.node.name)), kickstart(o.engine, o.site, o.node, archive, o.list), { mode: 0o600 });
  },
  // install.sh, the list, the archive and a self-check of both, under one directory named after the node.
  tarball: async (o) => {
    const name = o.node.name;
    const archive = at(o, DIST.nodeFiles(name));
    const selfSums = `${createHash('sha256').update(o.list).digest('hex')}  ${NODE_FILES.listName}\n${await sha256File(archive)}  ${NODE_FILES.archive}\n`;
    await writeTarTo(
      at(o, DIST.tarball(name)),
      [
        memFile(`${name}/install.sh`, installScript(o.engine, o.site, o.node), 0o755),
        memFile(`${name}/${NODE_FILES.listName}`, o.list, 0o644),
        memFile(`${name}/${NODE_FILES.selfCheckName}`, selfSums, 0o644),
        await diskFile(`${name}/${NODE_FILES.archive}`, archive, 0o600),
      ],
      o.epoch,
      true,
    );
  },
};

/** A node's outputs: its node-files archive (0600: it holds keys), then every format the site asks for. */
export async function packNode(o: NodeOutputInput): Promise<void> {
  await mkdir(at(o, DIST.nodeDir(o.node.name)), { recursive: true });
  const archive = at(o, DIST.nodeFiles(o.node.name));
  await writeTarTo(
    archive,
    o.files.map((f) => memFile(f.path.slice(1), f.content, Number.parseInt(f.mode, 8))),
    o.epoch,
    true,
  );
  await chmod(archive, 0o600);
  for (const format of o.site.output.formats) await FORMATS[format](o);
}

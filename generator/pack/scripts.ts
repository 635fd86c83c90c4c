import type { ResolvedNode, ResolvedSite } from '../model/index.js';
import { FILES, NODE, NODE_FILES, VOLUME_LABELS } from '../model/layout.js';
import type { Engine } from '../text/template.js';
import { DIST } from './dist-layout.js';

/** The names `gen bundle` gives a payload tarball (payload-<digest>.tar), as a shell pattern. */
export const PAYLOAD_TARBALL_GLOB = 'payload-*.tar';

/** The node layout as the pack templates name it. */
export const PACK_LAYOUT = {
  ...FILES,
  config: NODE.config,
  nodeFilesArchive: NODE_FILES.archive,
  nodeFilesList: NODE_FILES.list,
  nodeFilesCopied: NODE_FILES.copied,
  listName: NODE_FILES.listName,
  selfCheckName: NODE_FILES.selfCheckName,
  payloadLabel: VOLUME_LABELS.payload,
};

/** For hosts that already run an OS: lays down the node's files as first boot would, then starts first boot. */
export function installScript(engine: Engine, site: ResolvedSite, node: ResolvedNode): string {
  return engine.render('pack/install.sh', {
    node: node.name,
    site: site.name,
    layout: PACK_LAYOUT,
    payloadGlob: PAYLOAD_TARBALL_GLOB,
    payloadDir: DIST.payloadDir,
  });
}

export function verifyScript(engine: Engine): string {
  return engine.render('pack/verify.sh', { sums: DIST.sums });
}

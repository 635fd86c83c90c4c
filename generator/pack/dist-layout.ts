import { NODE_FILES } from '../model/layout.js';

/** Where each output stands in `output/<site>/dist`; the VM scripts and the Vagrantfile reach the seeds and payload from `vm/`. */
export const DIST = {
  adminDir: 'admin',
  /** Written by the PKI stage's operator files (pki/select.ts). */
  adminKubeconfig: 'admin/admin.kubeconfig',
  adminCa: 'admin/ca.crt',
  nodesDir: 'nodes',
  nodeDir: (node: string) => `nodes/${node}`,
  nodeFiles: (node: string) => `nodes/${node}/${NODE_FILES.archive}`,
  seedIso: (node: string) => `nodes/${node}/seed.iso`,
  kickstart: (node: string) => `nodes/${node}/ks.cfg`,
  tarball: (node: string) => `nodes/${node}/${node}.tar.gz`,
  /**
   * A running node's latest update (generator/update), in its own directory so that `--node`
   * keeps the other nodes' updates: the tarball (it can hold keys), its change set in words; and
   * the script that applies every node's update over ssh.
   */
  updateName: (node: string, revision: number) => `${node}-rev${revision}`,
  updateTarball: (node: string, revision: number) => `nodes/${node}/${node}-rev${revision}.update.tar.gz`,
  updateSummary: (node: string, revision: number) => `nodes/${node}/${node}-rev${revision}.update.txt`,
  applyUpdates: 'apply-updates.sh',
  vmDir: 'vm',
  vmScript: (node: string) => `vm/${node}.sh`,
  vmUp: 'vm/up.sh',
  vmDown: 'vm/down.sh',
  vagrantfile: 'vm/Vagrantfile',
  payloadDir: 'payload',
  payload: (name: string) => `payload/${name}`,
  verify: 'verify.sh',
  readme: 'README.md',
  manifest: 'manifest.json',
  sums: 'SHA256SUMS',
} as const;

const UPDATE_TARBALL_SUFFIX = '.update.tar.gz';

/** The node whose directory holds `path` (`nodes/<node>/…`), or null. */
export function nodeOwning(path: string): string | null {
  const m = new RegExp(`^${DIST.nodesDir}/([^/]+)/`).exec(path);
  return m ? m[1]! : null;
}

/** A node's outputs that carry its keys and tokens: the node-files archive and everything made from it. */
export function isNodeSecret(path: string): boolean {
  const node = nodeOwning(path);
  return (
    node !== null &&
    ([DIST.nodeFiles(node), DIST.seedIso(node), DIST.tarball(node), DIST.kickstart(node)].includes(path) || path.endsWith(UPDATE_TARBALL_SUFFIX))
  );
}

/** What describes the whole bundle (or comes from the state, not from a node), written anew by every run, `--node` included. */
export function isRegenerated(path: string): boolean {
  return (
    ([DIST.manifest, DIST.sums, DIST.readme, DIST.verify, DIST.applyUpdates] as string[]).includes(path) ||
    path.startsWith(`${DIST.vmDir}/`) ||
    path.startsWith(`${DIST.adminDir}/`)
  );
}

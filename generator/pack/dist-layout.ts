import { NODE_FILES } from '../model/layout.js';

/** Where each output stands in `output/<site>/dist`; the VM scripts and the Vagrantfile reach the seeds and payload from `vm/`. */
export const DIST = {
  nodeDir: (node: string) => `nodes/${node}`,
  nodeFiles: (node: string) => `nodes/${node}/${NODE_FILES.archive}`,
  seedIso: (node: string) => `nodes/${node}/seed.iso`,
  kickstart: (node: string) => `nodes/${node}/ks.cfg`,
  tarball: (node: string) => `nodes/${node}/${node}.tar.gz`,
  vmDir: 'vm',
  vmScript: (node: string) => `vm/${node}.sh`,
  vagrantfile: 'vm/Vagrantfile',
  payloadDir: 'payload',
  payload: (name: string) => `payload/${name}`,
  verify: 'verify.sh',
  readme: 'README.md',
  manifest: 'manifest.json',
  sums: 'SHA256SUMS',
} as const;

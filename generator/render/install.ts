import type { PlannedArtifact } from '../model/index.js';
import { NODE } from './paths.js';

/** How each downloaded component lands on a node: a binary copied, or an archive unpacked. */
const RULES: Record<string, { dest: string; strip?: number; members?: (a: PlannedArtifact) => string[] }> = {
  etcd: { dest: NODE.bin, strip: 1, members: (a) => [`etcd-${a.version}-linux-${a.arch}/etcd`, `etcd-${a.version}-linux-${a.arch}/etcdctl`] },
  containerd: { dest: NODE.bin, strip: 1 },
  crictl: { dest: NODE.bin },
  'cni-plugins': { dest: NODE.cniBin },
  runc: { dest: `${NODE.sbin}/runc` },
};

export interface InstallStep {
  file: string;
  tar: boolean;
  dest: string;
  strip: number;
  members: string[];
}

export function payloadName(a: PlannedArtifact): string {
  return a.format === 'binary' ? `${a.component}-${a.version}-${a.arch}` : a.url.slice(a.url.lastIndexOf('/') + 1);
}

export function installSteps(artifacts: PlannedArtifact[]): InstallStep[] {
  return artifacts.map((a) => {
    const rule = RULES[a.component] ?? { dest: `${NODE.bin}/${a.component}` };
    return { file: payloadName(a), tar: a.format === 'tar.gz', dest: rule.dest, strip: rule.strip ?? 0, members: rule.members?.(a) ?? [] };
  });
}

import type { PlannedArtifact } from '../model/index.js';
import { installTarget, payloadName } from '../model/layout.js';

/** How an archive is unpacked into its install target: leading path components dropped, and only some members. */
const ARCHIVES: Record<string, { strip?: number; members?: (a: PlannedArtifact) => string[] }> = {
  etcd: { strip: 1, members: (a) => [`etcd-${a.version}-linux-${a.arch}/etcd`, `etcd-${a.version}-linux-${a.arch}/etcdctl`] },
  containerd: { strip: 1 },
  'containerd-static': { strip: 1 },
};

export interface InstallStep {
  file: string;
  tar: boolean;
  dest: string;
  strip: number;
  members: string[];
}

/** How each downloaded component lands on a node: a binary copied to its target, or an archive unpacked there. */
export function installSteps(artifacts: PlannedArtifact[]): InstallStep[] {
  return artifacts.map((a) => {
    const rule = ARCHIVES[a.component] ?? {};
    return { file: payloadName(a), tar: a.format === 'tar.gz', dest: installTarget(a.component), strip: rule.strip ?? 0, members: rule.members?.(a) ?? [] };
  });
}

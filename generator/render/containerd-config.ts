import { stringify } from 'smol-toml';
import { containerdQuirk } from '../catalog/quirks.js';
import { installTarget, NODE } from '../model/layout.js';

export interface ContainerdConfigInput {
  /** The release's containerd version, e.g. `2.3.4` or `1.6.20`. */
  version: string;
  /** The pause image every pod sandbox runs. */
  sandboxImage: string;
}

/**
 * /etc/containerd/config.toml in the format the node's containerd reads natively: version 3 for
 * 2.x (no migration at start, no deprecated keys), version 2 for 1.x. Keys per containerd's
 * docs/cri/config.md ("Full configuration", containerd 2.x and 1.x).
 */
export function containerdConfig(input: ContainerdConfigInput): string {
  const runc = { runtime_type: 'io.containerd.runc.v2', options: { BinaryName: installTarget('runc'), SystemdCgroup: true } };
  const hosts = containerdQuirk('registryConfigPath', input.version) ? { registry: { config_path: NODE.containerdCertsDir } } : {};
  const base = { root: NODE.containerdRoot, state: NODE.containerdState, grpc: { address: NODE.containerdSocket } };
  const doc = containerdQuirk('configV3', input.version)
    ? {
        version: 3,
        ...base,
        plugins: {
          'io.containerd.cri.v1.images': { pinned_images: { sandbox: input.sandboxImage }, ...hosts },
          'io.containerd.cri.v1.runtime': {
            containerd: { default_runtime_name: 'runc', runtimes: { runc } },
            // bin_dirs replaces bin_dir, deprecated since containerd 2.1.
            cni: { bin_dirs: [NODE.cniBin], conf_dir: NODE.cniConf },
          },
        },
      }
    : {
        version: 2,
        ...base,
        plugins: {
          'io.containerd.grpc.v1.cri': {
            sandbox_image: input.sandboxImage,
            containerd: { default_runtime_name: 'runc', runtimes: { runc } },
            cni: { bin_dir: NODE.cniBin, conf_dir: NODE.cniConf },
            ...hosts,
          },
        },
      };
  return `# Written by kubeseed: containerd ${input.version} CRI configuration (config format version ${doc.version}).\n${stringify(doc)}\n`;
}

import { InputError, type Role } from '../model/index.js';
import { formatIPv4, parseCidr } from './ipv4.js';

/** What `gen init` asks for; everything else takes the schema's defaults. */
export interface ScaffoldAnswers {
  name: string;
  version: string;
  mode: 'binary' | 'kubeadm';
  network?: 'flannel' | 'calico' | 'bridge';
  os: { family: string; version?: string };
  nodes: { name: string; address: string; roles?: Role[]; mac?: string }[];
  gateway?: string;
  dns?: string[];
}

/** `NAME,ADDRESS/PREFIX[,ROLE+ROLE…][,MAC]`, as `--node` takes it (roles and MAC in either order). */
export function parseNodeFlag(text: string): ScaffoldAnswers['nodes'][number] {
  const [name, address, ...rest] = text.split(',').map((p) => p.trim());
  if (!name || !address)
    throw new InputError(
      `--node ${JSON.stringify(text)}: expected NAME,ADDRESS/PREFIX[,ROLE+ROLE][,MAC]`,
      [],
      'e.g. --node k8s-01,192.168.93.45/24,control-plane+etcd+worker,52:54:00:93:00:45',
    );
  const node: ScaffoldAnswers['nodes'][number] = { name, address };
  for (const part of rest) {
    if (/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(part)) node.mac = part.toLowerCase();
    else if (part) node.roles = part.split('+').map((r) => r.trim()) as Role[];
  }
  return node;
}

/**
 * The blueprint as an object (serialised by the caller, never templated). A node without roles is
 * a worker, except the first, which runs the control plane and etcd too: a one-node site works
 * as is, and a larger one says what it means once edited. The gateway defaults to the first host
 * of the first node's subnet and the resolver to the gateway, the common small-site layout.
 */
export function scaffoldSite(a: ScaffoldAnswers): object {
  const first = parseCidr(a.nodes[0]?.address ?? '');
  const gateway = a.gateway ?? (first ? formatIPv4(first.network + 1) : undefined);
  const dns = a.dns ?? (gateway ? [gateway] : []);
  return {
    apiVersion: 'kubeseed/v1alpha1',
    kind: 'Site',
    metadata: { name: a.name },
    spec: {
      kubernetes: { version: a.version, mode: a.mode },
      ...(a.network ? { network: { plugin: a.network } } : {}),
      os: { family: a.os.family, ...(a.os.version ? { version: a.os.version } : {}) },
      nodes: a.nodes.map((n, i) => ({
        name: n.name,
        address: n.address,
        ...(gateway ? { gateway } : {}),
        dns: [...dns],
        ...(n.mac ? { mac: n.mac } : {}),
        roles: n.roles ?? (i === 0 ? ['control-plane', 'etcd', 'worker'] : ['worker']),
      })),
    },
  };
}

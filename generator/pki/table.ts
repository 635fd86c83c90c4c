// Over 300 lines on purpose: the certificate table with one field per line, read as one list.
import { quirk } from '../catalog/quirks.js';
import { MODES, type CertUsage, type Mode, type ResolvedNode, type ResolvedSite, type Role } from '../model/index.js';
import { KUBECONFIG, KUBELET_SERVING, pkiPath } from '../model/layout.js';

/**
 * Every certificate and key pair of a site, as data (DESIGN.md section 5). One table serves binary
 * and kubeadm modes. Who receives what is stated here and nowhere else; `selectForNode` and the
 * plan read it.
 */

/** Who holds a file: nodes with one of the roles, the bootstrap node, or the operator (dist/admin). */
export type Holder = { roles: Role[] } | 'all' | 'bootstrap' | 'operator' | 'nobody';

export interface Sans {
  dns: string[];
  ips: string[];
}

interface CertFields {
  name: string;
  kind: 'ca' | 'leaf' | 'keypair';
  /** Issuing CA (leaves only). */
  ca?: string;
  modes: readonly Mode[];
  o?: (site: ResolvedSite) => string[];
  usages: CertUsage[];
  certOn: Holder;
  keyOn: Holder | { binary: Holder; kubeadm: Holder };
  /** Where the files land on a node, without extension (`.crt`/`.key`, or `.pub`/`.key`). */
  nodePath?: string;
  /** Embedded in this kubeconfig instead of standing as files. */
  kubeconfig?: string;
}

/** One certificate for the whole site. */
export interface SiteCertSpec extends CertFields {
  perNode: false;
  cn?: (site: ResolvedSite) => string;
  sans?: (site: ResolvedSite) => Sans;
}

/** One certificate per holding node: its CN and SANs may name the node. */
export interface NodeCertSpec extends CertFields {
  perNode: true;
  cn: (site: ResolvedSite, node: ResolvedNode) => string;
  sans?: (site: ResolvedSite, node: ResolvedNode) => Sans;
}

export type CertSpec = SiteCertSpec | NodeCertSpec;

const CP: Holder = { roles: ['control-plane'] };
const ETCD: Holder = { roles: ['etcd'] };
const noSans = (): Sans => ({ dns: [], ips: [] });
/** From 1.29 kubeadm puts admin and apiserver-kubelet-client in a group bound to cluster-admin, not system:masters. */
const adminGroup = (s: ResolvedSite) => [quirk('clusterAdminsGroup', s.kubernetes.minor) ? 'kubeadm:cluster-admins' : 'system:masters'];

/** An etcd member's own certificate (server or peer): one per member, named and addressed as the member, serving and client. */
const etcdMemberCert = (name: string, file: string): CertSpec => ({
  name,
  kind: 'leaf',
  ca: 'etcd-ca',
  perNode: true,
  modes: MODES,
  usages: ['server', 'client'],
  certOn: ETCD,
  keyOn: ETCD,
  nodePath: pkiPath(file),
  cn: (_s, n) => n.name,
  sans: (_s, n) => etcdSans(n),
});

export const CERTS: CertSpec[] = [
  {
    name: 'ca',
    kind: 'ca',
    perNode: false,
    modes: MODES,
    cn: () => 'kubernetes',
    usages: ['ca'],
    certOn: 'all',
    keyOn: CP,
    nodePath: pkiPath('ca'),
  },
  {
    name: 'etcd-ca',
    kind: 'ca',
    perNode: false,
    modes: MODES,
    cn: () => 'etcd-ca',
    usages: ['ca'],
    certOn: { roles: ['control-plane', 'etcd'] },
    keyOn: { binary: 'nobody', kubeadm: CP },
    nodePath: pkiPath('etcd/ca'),
  },
  {
    name: 'front-proxy-ca',
    kind: 'ca',
    perNode: false,
    modes: MODES,
    cn: () => 'front-proxy-ca',
    usages: ['ca'],
    certOn: CP,
    keyOn: { binary: 'nobody', kubeadm: CP },
    nodePath: pkiPath('front-proxy-ca'),
  },
  {
    name: 'apiserver',
    kind: 'leaf',
    ca: 'ca',
    perNode: true,
    modes: MODES,
    usages: ['server'],
    certOn: CP,
    keyOn: CP,
    nodePath: pkiPath('apiserver'),
    cn: () => 'kube-apiserver',
    sans: (s, n) => ({ dns: uniq([...s.derived.apiserverSANs.dns, n.name]), ips: uniq([...s.derived.apiserverSANs.ips, n.ip]) }),
  },
  {
    name: 'apiserver-kubelet-client',
    kind: 'leaf',
    ca: 'ca',
    perNode: false,
    modes: MODES,
    usages: ['client'],
    certOn: CP,
    keyOn: CP,
    nodePath: pkiPath('apiserver-kubelet-client'),
    cn: () => 'kube-apiserver-kubelet-client',
    o: adminGroup,
  },
  {
    name: 'apiserver-etcd-client',
    kind: 'leaf',
    ca: 'etcd-ca',
    perNode: false,
    modes: MODES,
    usages: ['client'],
    certOn: CP,
    keyOn: CP,
    nodePath: pkiPath('apiserver-etcd-client'),
    cn: () => 'kube-apiserver-etcd-client',
    o: () => ['system:masters'],
  },
  {
    name: 'front-proxy-client',
    kind: 'leaf',
    ca: 'front-proxy-ca',
    perNode: false,
    modes: MODES,
    usages: ['client'],
    certOn: CP,
    keyOn: CP,
    nodePath: pkiPath('front-proxy-client'),
    cn: () => 'front-proxy-client',
  },
  etcdMemberCert('etcd-server', 'etcd/server'),
  etcdMemberCert('etcd-peer', 'etcd/peer'),
  {
    name: 'etcd-healthcheck-client',
    kind: 'leaf',
    ca: 'etcd-ca',
    perNode: false,
    modes: MODES,
    usages: ['client'],
    certOn: ETCD,
    keyOn: ETCD,
    nodePath: pkiPath('etcd/healthcheck-client'),
    cn: () => 'kube-etcd-healthcheck-client',
    o: () => ['system:masters'],
  },
  /**
   * kubeadm writes the controller-manager and scheduler kubeconfigs itself (the CA key is on every
   * control plane in kubeadm mode) and refuses existing ones whose server is not the URL it would
   * have chosen; binary mode issues them here.
   */
  {
    name: 'controller-manager',
    kind: 'leaf',
    ca: 'ca',
    perNode: false,
    modes: ['binary'],
    usages: ['client'],
    certOn: CP,
    keyOn: CP,
    kubeconfig: KUBECONFIG.controllerManager,
    cn: () => 'system:kube-controller-manager',
  },
  {
    name: 'scheduler',
    kind: 'leaf',
    ca: 'ca',
    perNode: false,
    modes: ['binary'],
    usages: ['client'],
    certOn: CP,
    keyOn: CP,
    kubeconfig: KUBECONFIG.scheduler,
    cn: () => 'system:kube-scheduler',
  },
  {
    name: 'admin',
    kind: 'leaf',
    ca: 'ca',
    perNode: false,
    modes: MODES,
    usages: ['client'],
    certOn: 'operator',
    keyOn: 'operator',
    kubeconfig: 'admin/admin.kubeconfig',
    cn: () => 'kubernetes-admin',
    o: adminGroup,
  },
  /**
   * The bootstrap node applies the cluster manifests (and, from 1.29, the binding that makes
   * kubeadm:cluster-admins work) before any other identity has rights. It already holds the CA
   * key, so a system:masters credential there grants nothing new.
   */
  {
    name: 'bootstrapper',
    kind: 'leaf',
    ca: 'ca',
    perNode: false,
    modes: ['binary'],
    usages: ['client'],
    certOn: 'bootstrap',
    keyOn: 'bootstrap',
    kubeconfig: KUBECONFIG.bootstrapper,
    cn: () => 'kubeseed:bootstrapper',
    o: () => ['system:masters'],
  },
  {
    name: 'kubelet-client',
    kind: 'leaf',
    ca: 'ca',
    perNode: true,
    modes: ['binary'],
    usages: ['client'],
    certOn: 'all',
    keyOn: 'all',
    kubeconfig: KUBECONFIG.kubelet,
    cn: (_s, n) => `system:node:${n.name}`,
    o: () => ['system:nodes'],
  },
  {
    name: 'kubelet-serving',
    kind: 'leaf',
    ca: 'ca',
    perNode: true,
    modes: MODES,
    usages: ['server'],
    certOn: 'all',
    keyOn: 'all',
    nodePath: KUBELET_SERVING,
    cn: (_s, n) => `system:node:${n.name}`,
    o: () => ['system:nodes'],
    sans: (_s, n) => ({ dns: [n.name], ips: [n.ip] }),
  },
  // kube-proxy runs as a host service in both modes (kubeadm's add-on, a DaemonSet, is skipped).
  {
    name: 'kube-proxy',
    kind: 'leaf',
    ca: 'ca',
    perNode: false,
    modes: MODES,
    usages: ['client'],
    certOn: 'all',
    keyOn: 'all',
    kubeconfig: KUBECONFIG.kubeProxy,
    cn: () => 'system:kube-proxy',
  },
  {
    name: 'sa',
    kind: 'keypair',
    perNode: false,
    modes: MODES,
    usages: ['signing'],
    certOn: CP,
    keyOn: CP,
    nodePath: pkiPath('sa'),
  },
];

function etcdSans(n: ResolvedNode): Sans {
  return { dns: [n.name, 'localhost'], ips: [n.ip, '127.0.0.1', '::1'] };
}

function uniq(xs: string[]): string[] {
  return [...new Set(xs)];
}

export function holds(holder: Holder, site: ResolvedSite, node: ResolvedNode): boolean {
  if (holder === 'all') return true;
  if (holder === 'nobody' || holder === 'operator') return false;
  if (holder === 'bootstrap') return node.name === site.derived.bootstrapNode;
  return holder.roles.some((r) => node.roles.includes(r));
}

export function keyHolder(spec: CertSpec, mode: Mode): Holder {
  const k = spec.keyOn;
  return typeof k === 'object' && 'binary' in k ? k[mode] : k;
}

export function certsForMode(mode: Mode): CertSpec[] {
  return CERTS.filter((c) => c.modes.includes(mode));
}

/** A certificate as issued for the site: per-node specs are expanded to `name/node`. */
export interface CertInstance {
  id: string;
  spec: CertSpec;
  node?: ResolvedNode;
  cn: string;
  o: string[];
  sans: Sans;
  /** Node names that receive the certificate (and `operator`). */
  certNodes: string[];
  keyNodes: string[];
}

export function certInstances(site: ResolvedSite): CertInstance[] {
  const mode = site.kubernetes.mode;
  const out: CertInstance[] = [];
  for (const spec of certsForMode(mode)) {
    const receivers = (h: Holder, only?: ResolvedNode) => {
      const names = site.nodes.filter((n) => (!only || n === only) && holds(h, site, n)).map((n) => n.name);
      return h === 'operator' ? [...names, 'operator'] : names;
    };
    const common = { spec, o: spec.o?.(site) ?? [] };
    if (spec.perNode) {
      for (const node of site.nodes.filter((x) => holds(spec.certOn, site, x))) {
        out.push({
          ...common,
          id: `${spec.name}/${node.name}`,
          node,
          cn: spec.cn(site, node),
          sans: spec.sans?.(site, node) ?? noSans(),
          certNodes: receivers(spec.certOn, node),
          keyNodes: receivers(keyHolder(spec, mode), node),
        });
      }
    } else {
      out.push({
        ...common,
        id: spec.name,
        cn: spec.cn?.(site) ?? '',
        sans: spec.sans?.(site) ?? noSans(),
        certNodes: receivers(spec.certOn),
        keyNodes: receivers(keyHolder(spec, mode)),
      });
    }
  }
  return out;
}

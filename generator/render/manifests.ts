import { quirk } from '../catalog/quirks.js';
import { InputError, type PlannedImage, type ResolvedSite } from '../model/index.js';
import { calico } from './addons/calico.js';
import { coredns } from './addons/coredns.js';
import { crb, doc, meta, type Obj } from './addons/common.js';
import { dashboard } from './addons/dashboard.js';
import { flannel } from './addons/flannel.js';
import { headlamp } from './addons/headlamp.js';
import { ingressNginx } from './addons/ingress-nginx.js';
import { metricsServer } from './addons/metrics-server.js';

/** Cluster manifests applied once by the bootstrap node, as objects; one YAML file per add-on. */

/** From 1.29 the admin credential's group only has rights through this binding (kubeadm creates it; binary mode must too). */
function clusterAdmins(site: ResolvedSite): Obj[] {
  if (!quirk('clusterAdminsGroup', site.kubernetes.minor)) return [];
  return [crb('kubeadm:cluster-admins', 'cluster-admin', [{ kind: 'Group', name: 'kubeadm:cluster-admins', apiGroup: 'rbac.authorization.k8s.io' }])];
}

/**
 * The kubelets renew their client certificates themselves (rotateCertificates in their config):
 * the controller-manager's csrapproving controller approves a node's CSR for its own identity only
 * when the node may create `certificatesigningrequests/selfnodeclient`, which this binding grants
 * (Kubernetes docs, "TLS bootstrapping", section Approval: group system:nodes bound to the
 * ClusterRole system:certificates.k8s.io:certificatesigningrequests:selfnodeclient). kubeadm
 * creates the same binding as kubeadm:node-autoapprove-certificate-rotation, so kubeadm mode
 * needs none of ours.
 */
export const KUBELET_ROTATION_BINDING = 'kubeseed:node-autoapprove-certificate-rotation';
export const SELF_NODE_CLIENT_ROLE = 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient';
function kubeletRotation(site: ResolvedSite): Obj[] {
  if (site.kubernetes.mode !== 'binary') return [];
  return [crb(KUBELET_ROTATION_BINDING, SELF_NODE_CLIENT_ROLE, [{ kind: 'Group', name: 'system:nodes', apiGroup: 'rbac.authorization.k8s.io' }])];
}

/** What the cluster was built from, for operators (`kubectl -n kube-system get cm kubeseed-site -o yaml`). */
function siteInfo(site: ResolvedSite): Obj[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta('kubeseed-site', 'kube-system', { 'app.kubernetes.io/managed-by': 'kubeseed' }),
      data: {
        site: site.name,
        kubernetesVersion: site.kubernetes.version,
        mode: site.kubernetes.mode,
        networkPlugin: site.network.plugin,
        addons: site.addons.join(','),
        // Not every node: a worker added later would change the bootstrap node's files (issue #22); `kubectl get nodes` lists them all.
        controlPlaneNodes: site.nodes
          .filter((n) => n.roles.includes('control-plane') || n.roles.includes('etcd'))
          .map((n) => `${n.name}=${n.ip}`)
          .join(','),
      },
    },
  ];
}

/** The network plugins that come as manifests (bridge is files on the nodes), by the file they are applied from. */
const NETWORK: Record<string, [string, (site: ResolvedSite, images: PlannedImage[]) => Obj[]]> = {
  flannel: ['10-flannel.yaml', flannel],
  calico: ['10-calico.yaml', calico],
};
const ADDONS: Record<string, [string, (site: ResolvedSite, images: PlannedImage[]) => Obj[]]> = {
  coredns: ['20-coredns.yaml', coredns],
  'metrics-server': ['30-metrics-server.yaml', (_s, images) => metricsServer(images)],
  headlamp: ['40-headlamp.yaml', (_s, images) => headlamp(images)],
  dashboard: ['40-dashboard.yaml', (_s, images) => dashboard(images)],
  'ingress-nginx': ['50-ingress-nginx.yaml', (_s, images) => ingressNginx(images)],
};

/** What the bootstrap node applies, by file name (applied in name order); each builds its text on demand. */
export function manifestTable(site: ResolvedSite): [name: string, build: (images: PlannedImage[]) => string][] {
  const out: [string, (images: PlannedImage[]) => string][] = [['00-kubeseed-site.yaml', () => doc(siteInfo(site))]];
  if (clusterAdmins(site).length) out.push(['01-cluster-admins.yaml', () => doc(clusterAdmins(site))]);
  if (kubeletRotation(site).length) out.push(['02-kubelet-rotation.yaml', () => doc(kubeletRotation(site))]);
  const net = NETWORK[site.network.plugin];
  if (net) out.push([net[0], (images) => doc(net[1](site, images))]);
  for (const addon of site.addons) {
    const a = ADDONS[addon];
    if (!a) throw new UnsupportedError(`the ${addon} add-on has no manifests; remove it from spec.addons`);
    out.push([a[0], (images) => doc(a[1](site, images))]);
  }
  return out;
}

/** The site asks for something this Kubernetes release or this generator cannot render: bad input. */
export class UnsupportedError extends InputError {}

import { quirk } from '../catalog/quirks.js';
import type { ResolvedNode, ResolvedSite } from '../model/index.js';
import { FILES, KUBECONFIG, NODE, pkiPath } from '../model/layout.js';
import { etcdTimingArgs, leaderElectionArgs, nodeMonitorArgs } from './timing.js';

/** A component's command-line flags, in order; `null` values are left out. */
export type Flags = [name: string, value: string | null][];

const pki = pkiPath;

/**
 * An apiserver beside an etcd member talks to that member only, as kubeadm's stacked control plane
 * does: the apiserver opens an etcd client per resource and each client connects to every endpoint
 * it is given (a 1.20 apiserver held 75 connections to each of three members, measured in the
 * three-node e2e), so listing all members triples the TLS connections every member serves.
 * Losing the local member takes this apiserver out, which the other control planes (and the
 * node-local proxies in front of them) cover. Apiservers without a member list them all.
 */
export function etcdServersFor(site: ResolvedSite, node: ResolvedNode): string {
  return node.roles.includes('etcd') ? 'https://127.0.0.1:2379' : site.derived.etcdEndpoints.join(',');
}

/** kube-apiserver, hardened as the CIS benchmark asks (DESIGN.md section 9). */
export function apiserverFlags(site: ResolvedSite, node: ResolvedNode): Flags {
  const k = site.kubernetes;
  return [
    ['advertise-address', node.ip],
    ['bind-address', '0.0.0.0'],
    ['secure-port', String(site.controlPlane.apiserverPort)],
    ['allow-privileged', 'true'],
    ['anonymous-auth', 'false'],
    ['authorization-mode', 'Node,RBAC'],
    ['enable-admission-plugins', 'NodeRestriction'],
    ['profiling', 'false'],
    ['client-ca-file', pki('ca.crt')],
    ['tls-cert-file', pki('apiserver.crt')],
    ['tls-private-key-file', pki('apiserver.key')],
    ['kubelet-client-certificate', pki('apiserver-kubelet-client.crt')],
    ['kubelet-client-key', pki('apiserver-kubelet-client.key')],
    ['kubelet-certificate-authority', pki('ca.crt')],
    ['kubelet-preferred-address-types', 'InternalIP,Hostname'],
    ['etcd-servers', etcdServersFor(site, node)],
    ['etcd-cafile', pki('etcd/ca.crt')],
    ['etcd-certfile', pki('apiserver-etcd-client.crt')],
    ['etcd-keyfile', pki('apiserver-etcd-client.key')],
    ['service-cluster-ip-range', k.serviceCIDR],
    ['service-node-port-range', `${k.nodePortRange.from}-${k.nodePortRange.to}`],
    ['service-account-issuer', `https://kubernetes.default.svc.${k.clusterDomain}`],
    ['service-account-key-file', pki('sa.pub')],
    ['service-account-signing-key-file', pki('sa.key')],
    ['service-account-lookup', 'true'],
    ['encryption-provider-config', FILES.encryptionConfig],
    ['audit-policy-file', FILES.auditPolicy],
    ['audit-log-path', NODE.auditLog],
    ['audit-log-maxage', '30'],
    ['audit-log-maxbackup', '10'],
    ['audit-log-maxsize', '100'],
    ['requestheader-client-ca-file', pki('front-proxy-ca.crt')],
    ['requestheader-allowed-names', 'front-proxy-client'],
    ['requestheader-extra-headers-prefix', 'X-Remote-Extra-'],
    ['requestheader-group-headers', 'X-Remote-Group'],
    ['requestheader-username-headers', 'X-Remote-User'],
    ['proxy-client-cert-file', pki('front-proxy-client.crt')],
    ['proxy-client-key-file', pki('front-proxy-client.key')],
    ['insecure-port', quirk('insecurePortFlag', k.minor) ? '0' : null],
  ];
}

export function controllerManagerFlags(site: ResolvedSite): Flags {
  const k = site.kubernetes;
  const allocate = site.network.plugin !== 'bridge';
  return [
    ['bind-address', '127.0.0.1'],
    ['kubeconfig', KUBECONFIG.controllerManager],
    ['authentication-kubeconfig', KUBECONFIG.controllerManager],
    ['authorization-kubeconfig', KUBECONFIG.controllerManager],
    ['leader-elect', 'true'],
    ['profiling', 'false'],
    ['use-service-account-credentials', 'true'],
    ['controllers', '*,bootstrapsigner,tokencleaner'],
    ['cluster-name', site.name],
    ['cluster-signing-cert-file', pki('ca.crt')],
    ['cluster-signing-key-file', pki('ca.key')],
    // What the kubelets' renewed client certificates get: the site's leaf lifetime.
    ['cluster-signing-duration', goDuration(site.pki.certValidityHours)],
    ['root-ca-file', pki('ca.crt')],
    ['service-account-private-key-file', pki('sa.key')],
    ['service-cluster-ip-range', k.serviceCIDR],
    ['requestheader-client-ca-file', pki('front-proxy-ca.crt')],
    // bridge gives every node a fixed pod subnet of its own; flannel and calico read node.spec.podCIDR.
    ['allocate-node-cidrs', String(allocate)],
    ['cluster-cidr', allocate ? k.podCIDR : null],
    ['node-cidr-mask-size', allocate ? '24' : null],
    ...Object.entries(leaderElectionArgs(site.controlPlane.timing)),
    ...Object.entries(nodeMonitorArgs(site.controlPlane.timing)),
  ];
}

/** Hours as a Go duration: `8760h`, or seconds when not whole hours. */
export function goDuration(hours: number): string {
  return Number.isInteger(hours) ? `${hours}h` : `${Math.round(hours * 3600)}s`;
}

export function schedulerFlags(site: ResolvedSite): Flags {
  return [
    ['bind-address', '127.0.0.1'],
    ['kubeconfig', KUBECONFIG.scheduler],
    ['authentication-kubeconfig', KUBECONFIG.scheduler],
    ['authorization-kubeconfig', KUBECONFIG.scheduler],
    ['leader-elect', 'true'],
    ['profiling', 'false'],
    ...Object.entries(leaderElectionArgs(site.controlPlane.timing)),
  ];
}

export function etcdFlags(site: ResolvedSite, node: ResolvedNode): Flags {
  const etcd = pki('etcd');
  return [
    ['name', node.name],
    ['data-dir', NODE.etcdData],
    ['listen-client-urls', `https://127.0.0.1:2379,https://${node.ip}:2379`],
    ['advertise-client-urls', `https://${node.ip}:2379`],
    ['listen-peer-urls', `https://${node.ip}:2380`],
    ['initial-advertise-peer-urls', `https://${node.ip}:2380`],
    // initial-cluster and initial-cluster-state come from the unit's EnvironmentFile (FILES.etcdCluster):
    // a member's first start reads them, so a change of membership rewrites that file and restarts nothing.
    ['initial-cluster-token', `kubeseed-${site.name}`],
    ['client-cert-auth', 'true'],
    ['trusted-ca-file', `${etcd}/ca.crt`],
    ['cert-file', `${etcd}/server.crt`],
    ['key-file', `${etcd}/server.key`],
    ['peer-client-cert-auth', 'true'],
    ['peer-trusted-ca-file', `${etcd}/ca.crt`],
    ['peer-cert-file', `${etcd}/peer.crt`],
    ['peer-key-file', `${etcd}/peer.key`],
    ['auto-tls', 'false'],
    ['peer-auto-tls', 'false'],
    ...Object.entries(etcdTimingArgs(site.controlPlane.timing)),
  ];
}

export function kubeletFlags(site: ResolvedSite, node: ResolvedNode): Flags {
  const m = site.kubernetes.minor;
  return [
    ['config', FILES.kubeletConfig],
    ['kubeconfig', KUBECONFIG.kubelet],
    ['node-ip', node.ip],
    ['hostname-override', node.name],
    ['network-plugin', quirk('kubeletDockershimFlags', m) ? 'cni' : null],
    ['container-runtime', quirk('kubeletDockershimFlags', m) ? 'remote' : null],
    ['container-runtime-endpoint', quirk('runtimeEndpointInConfig', m) ? null : NODE.containerdSock],
  ];
}

export function kubeProxyFlags(): Flags {
  return [['config', FILES.kubeProxyConfig]];
}

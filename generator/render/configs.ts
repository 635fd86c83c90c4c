import { stringify } from 'yaml';
import { quirk } from '../catalog/quirks.js';
import type { ResolvedNode, ResolvedSite } from '../model/index.js';
import { KUBECONFIG, KUBELET_SERVING, NODE, pkiPath } from '../model/layout.js';
import { kubeletTimingFields } from './timing.js';
import { resolvConf } from './host-config.js';

/**
 * KubeletConfiguration, CIS settings. The client certificate (in the kubelet's kubeconfig) is the
 * first one only: the kubelet renews it itself at 70–90% of its life through a CSR that the
 * controller-manager approves (02-kubelet-rotation.yaml) and signs with the cluster CA, and keeps
 * the new pair in /var/lib/kubelet/pki/kubelet-client-current.pem. The serving certificate stays
 * ours, pre-issued with the node's name and address (no serving CSR, which nothing in the cluster
 * would approve) and renewed by gen certs --renew (docs/decisions.md).
 */
export function kubeletConfig(site: ResolvedSite, _node: ResolvedNode): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true, cacheTTL: '2m0s' },
      x509: { clientCAFile: pkiPath('ca.crt') },
    },
    authorization: { mode: 'Webhook' },
    readOnlyPort: 0,
    cgroupDriver: 'systemd',
    clusterDNS: [site.kubernetes.clusterDNS],
    clusterDomain: site.kubernetes.clusterDomain,
    resolvConf: resolvConf(site),
    tlsCertFile: `${KUBELET_SERVING}.crt`,
    tlsPrivateKeyFile: `${KUBELET_SERVING}.key`,
    rotateCertificates: true,
    serverTLSBootstrap: false,
    protectKernelDefaults: true,
    makeIPTablesUtilChains: true,
    eventRecordQPS: 5,
    failSwapOn: true,
    ...kubeletTimingFields(site.controlPlane.timing),
    ...(quirk('runtimeEndpointInConfig', site.kubernetes.minor) ? { containerRuntimeEndpoint: NODE.containerdSock } : {}),
  });
}

export function kubeProxyConfig(site: ResolvedSite, node: ResolvedNode): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: KUBECONFIG.kubeProxy },
    bindAddress: '0.0.0.0',
    metricsBindAddress: '127.0.0.1:10249',
    healthzBindAddress: '0.0.0.0:10256',
    hostnameOverride: node.name,
    clusterCIDR: site.kubernetes.podCIDR,
    mode: site.kubernetes.proxyMode,
    ...(site.kubernetes.proxyMode === 'ipvs' ? { ipvs: { scheduler: 'rr', strictARP: true } } : {}),
  });
}

export function crictlConfig(): string {
  return stringify({ 'runtime-endpoint': NODE.containerdSock, 'image-endpoint': NODE.containerdSock, timeout: 10, debug: false });
}

/** CNI bridge with the node's own pod subnet; other nodes' subnets are reached by static routes. */
export function bridgeConflist(site: ResolvedSite, node: ResolvedNode): string {
  return `${JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: `kubeseed-${site.name}`,
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          // Pod addresses stay visible across nodes (routes, not NAT); the site has no outside to reach.
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: node.podSubnet }]], routes: [{ dst: '0.0.0.0/0' }] },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

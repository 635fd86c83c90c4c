import { stringify } from 'yaml';
import { quirk } from '../catalog/quirks.js';
import type { ResolvedNode, ResolvedSite } from '../model/index.js';
import { FILES, KUBELET_SERVING, NODE, pkiPath } from '../model/layout.js';
import { etcdTimingArgs, kubeletTimingFields, leaderElectionArgs, nodeMonitorArgs } from './timing.js';
import { resolvConf } from './host-config.js';

/** What kubeadm needs from the site state: the pre-made bootstrap token and the CA's discovery hash. */
export interface KubeadmSecrets {
  token: string;
  caCertHash: string;
}

type Args = Record<string, string>;

/** kubeadm's API version for the release: v1beta2 until 1.21, v1beta3 from 1.22, v1beta4 from 1.31. */
export function kubeadmApiVersion(minor: number): string {
  if (quirk('kubeadmV1beta4', minor)) return 'kubeadm.k8s.io/v1beta4';
  if (quirk('kubeadmV1beta3', minor)) return 'kubeadm.k8s.io/v1beta3';
  return 'kubeadm.k8s.io/v1beta2';
}

/**
 * Slow hardware (and software emulation) needs more than kubeadm's 4-minute control-plane and
 * 5-minute discovery waits; first boot has its own deadline around the whole step anyway.
 */
const WAIT = '30m0s';

/** v1beta4 writes extra arguments as a list of name/value pairs; older versions as a map. */
function args(minor: number, a: Args): Args | { name: string; value: string }[] {
  return quirk('kubeadmV1beta4', minor) ? Object.entries(a).map(([name, value]) => ({ name, value })) : a;
}

function nodeRegistration(site: ResolvedSite, node: ResolvedNode) {
  const m = site.kubernetes.minor;
  const worker = node.roles.includes('worker');
  return {
    name: node.name,
    // A URL: required from v1beta3, accepted by v1beta2.
    criSocket: NODE.containerdSock,
    kubeletExtraArgs: args(m, { 'node-ip': node.ip }),
    // A control plane that is also a worker takes ordinary pods: no control-plane taint.
    ...(node.roles.includes('control-plane') ? { taints: worker ? [] : [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] } : {}),
  };
}

const FILE_VOLUMES = [
  { name: 'kubeseed-encryption-config', path: FILES.encryptionConfig, file: true },
  { name: 'kubeseed-audit-policy', path: FILES.auditPolicy, file: true },
  { name: 'kubeseed-audit-log', path: NODE.logDir, file: false },
];

function clusterConfiguration(site: ResolvedSite, apiVersion: string) {
  const k = site.kubernetes;
  const m = k.minor;
  const cps = site.nodes.filter((n) => n.roles.includes('control-plane'));
  const apiserverArgs: Args = {
    profiling: 'false',
    'authorization-mode': 'Node,RBAC',
    'enable-admission-plugins': 'NodeRestriction',
    'service-node-port-range': `${k.nodePortRange.from}-${k.nodePortRange.to}`,
    'encryption-provider-config': FILES.encryptionConfig,
    'audit-policy-file': FILES.auditPolicy,
    'audit-log-path': NODE.auditLog,
    'audit-log-maxage': '30',
    'audit-log-maxbackup': '10',
    'audit-log-maxsize': '100',
    'kubelet-certificate-authority': pkiPath('ca.crt'),
  };
  const etcdTiming = etcdTimingArgs(site.controlPlane.timing);
  const etcd =
    k.etcdTopology === 'external'
      ? {
          external: {
            endpoints: site.derived.etcdEndpoints,
            caFile: pkiPath('etcd/ca.crt'),
            certFile: pkiPath('apiserver-etcd-client.crt'),
            keyFile: pkiPath('apiserver-etcd-client.key'),
          },
        }
      : { local: { dataDir: NODE.etcdData, ...(Object.keys(etcdTiming).length ? { extraArgs: args(m, etcdTiming) } : {}) } };
  return {
    apiVersion,
    kind: 'ClusterConfiguration',
    kubernetesVersion: k.version,
    clusterName: site.name,
    controlPlaneEndpoint: `${site.controlPlane.endpoint.host}:${site.controlPlane.endpoint.port}`,
    certificatesDir: NODE.pki,
    imageRepository: 'registry.k8s.io',
    networking: { dnsDomain: k.clusterDomain, serviceSubnet: k.serviceCIDR, podSubnet: k.podCIDR },
    etcd,
    apiServer: {
      ...(quirk('kubeadmV1beta4', m) ? {} : { timeoutForControlPlane: WAIT }),
      certSANs: [...new Set([...site.derived.apiserverSANs.dns, ...site.derived.apiserverSANs.ips, ...cps.flatMap((n) => [n.name, n.ip])])],
      extraArgs: args(m, apiserverArgs),
      extraVolumes: FILE_VOLUMES.map((v) => ({
        name: v.name,
        hostPath: v.path,
        mountPath: v.path,
        readOnly: v.file,
        pathType: v.file ? 'File' : 'DirectoryOrCreate',
      })),
    },
    controllerManager: {
      extraArgs: args(m, {
        profiling: 'false',
        'use-service-account-credentials': 'true',
        ...(site.network.plugin === 'bridge' ? { 'allocate-node-cidrs': 'false' } : {}),
        ...leaderElectionArgs(site.controlPlane.timing),
        ...nodeMonitorArgs(site.controlPlane.timing),
      }),
    },
    scheduler: { extraArgs: args(m, { profiling: 'false', ...leaderElectionArgs(site.controlPlane.timing) }) },
  };
}

/** The kubelet's settings for kubeadm to write (kubeadm adds the CA and its own paths). */
function kubeletConfiguration(site: ResolvedSite) {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    cgroupDriver: 'systemd',
    clusterDNS: [site.kubernetes.clusterDNS],
    clusterDomain: site.kubernetes.clusterDomain,
    resolvConf: resolvConf(site),
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true } },
    authorization: { mode: 'Webhook' },
    readOnlyPort: 0,
    // The serving certificate was issued with the site's PKI; no CSR to approve.
    tlsCertFile: `${KUBELET_SERVING}.crt`,
    tlsPrivateKeyFile: `${KUBELET_SERVING}.key`,
    serverTLSBootstrap: false,
    protectKernelDefaults: true,
    failSwapOn: true,
    ...kubeletTimingFields(site.controlPlane.timing),
    ...(quirk('runtimeEndpointInConfig', site.kubernetes.minor) ? { containerRuntimeEndpoint: NODE.containerdSock } : {}),
  };
}

/**
 * `/etc/kubeseed/kubeadm.yaml` for one node. The bootstrap node gets InitConfiguration +
 * ClusterConfiguration + KubeletConfiguration; every other node a JoinConfiguration
 * (with `controlPlane` on control planes). Certificates are pre-placed under certificatesDir with
 * kubeadm's file names, so kubeadm generates none and no `--upload-certs` is needed.
 */
export function kubeadmConfig(site: ResolvedSite, node: ResolvedNode, secrets: KubeadmSecrets): string {
  const m = site.kubernetes.minor;
  const apiVersion = kubeadmApiVersion(m);
  const cp = node.roles.includes('control-plane');
  const endpoint = { advertiseAddress: node.ip, bindPort: site.controlPlane.apiserverPort };
  const docs: object[] = [];
  if (node.name === site.derived.bootstrapNode) {
    docs.push({
      apiVersion,
      kind: 'InitConfiguration',
      bootstrapTokens: [
        {
          token: secrets.token,
          description: `kubeseed: nodes of site ${site.name} join with this token`,
          ttl: '24h0m0s',
          usages: ['signing', 'authentication'],
          groups: ['system:bootstrappers:kubeadm:default-node-token'],
        },
      ],
      localAPIEndpoint: endpoint,
      nodeRegistration: nodeRegistration(site, node),
      ...(quirk('kubeadmV1beta4', m) ? { timeouts: { controlPlaneComponentHealthCheck: WAIT, kubeletHealthCheck: WAIT } } : {}),
    });
    docs.push(clusterConfiguration(site, apiVersion), kubeletConfiguration(site));
  } else {
    docs.push({
      apiVersion,
      kind: 'JoinConfiguration',
      discovery: {
        bootstrapToken: {
          apiServerEndpoint: `${site.controlPlane.endpoint.host}:${site.controlPlane.endpoint.port}`,
          token: secrets.token,
          caCertHashes: [secrets.caCertHash],
        },
        ...(quirk('kubeadmV1beta4', m) ? {} : { timeout: WAIT }),
      },
      ...(quirk('kubeadmV1beta4', m) ? { timeouts: { discovery: WAIT, controlPlaneComponentHealthCheck: WAIT, kubeletHealthCheck: WAIT } } : {}),
      nodeRegistration: nodeRegistration(site, node),
      ...(cp ? { controlPlane: { localAPIEndpoint: endpoint } } : {}),
    });
  }
  return docs.map((d) => stringify(d)).join('---\n');
}

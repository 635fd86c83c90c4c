import { stringify } from 'yaml';
import { quirk } from '../catalog/quirks.js';
import type { PlannedImage, ResolvedNode, ResolvedSite } from '../model/index.js';
import { FILES, KUBELET_SERVING, NODE, pkiPath } from '../model/layout.js';
import { etcdTimingArgs, kubeletTimingFields, leaderElectionArgs, nodeMonitorArgs } from './timing.js';
import { resolvConf } from './host-config.js';
import { UnsupportedError } from './manifests.js';
import { goDuration } from './flags.js';

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

/** The `<repository>/<name>:<tag>` parts of an image reference, or null for a digest or a missing tag. */
function splitRef(ref: string): { repository: string; name: string; tag: string } | null {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (ref.includes('@') || slash < 0 || colon < slash) return null;
  return { repository: ref.slice(0, slash), name: ref.slice(slash + 1, colon), tag: ref.slice(colon + 1) };
}

/** kubeadm's registries before and after 1.25; from 1.21 it pulls CoreDNS from `<this>/coredns/coredns`. */
const KUBEADM_DEFAULT_REGISTRIES = ['registry.k8s.io', 'k8s.gcr.io'];

/**
 * kubeadm builds every image name itself: `<imageRepository>/<component>:<kubernetesVersion>` for
 * the control plane, and for etcd and CoreDNS `<repository>/etcd|coredns:<tag>` from the
 * ImageMeta fields of `etcd.local` and `dns` (imageRepository, imageTag; the same fields in
 * v1beta2, v1beta3 and v1beta4: kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta3/ and
 * .v1beta4/, "LocalEtcd" and "DNS"). Left unset, etcd and CoreDNS come from tags compiled into
 * kubeadm's constants, which may name images the payload does not carry; so the settings here
 * come from the release's image list, and a reference kubeadm cannot express is refused.
 */
export function kubeadmImages(site: ResolvedSite, images: PlannedImage[]) {
  const v = site.kubernetes.version;
  const refOf = (name: string) => images.find((i) => i.name === name)?.ref;
  const parts = (name: string, imageName = name) => {
    const ref = refOf(name);
    if (!ref) return null;
    const p = splitRef(ref);
    if (!p || p.name !== imageName)
      throw new UnsupportedError(`kubeadm names its ${imageName} image <repository>/${imageName}:<tag>; the release's ${name} image ${ref} has another form`);
    return p;
  };
  const apiserver = parts('kube-apiserver');
  if (!apiserver) throw new UnsupportedError(`Kubernetes ${v} lists no kube-apiserver image in the catalog; kubeadm runs the control plane from images`);
  for (const c of ['kube-controller-manager', 'kube-scheduler']) {
    const p = parts(c);
    if (!p || p.repository !== apiserver.repository || p.tag !== v)
      throw new UnsupportedError(`kubeadm runs ${c} as ${apiserver.repository}/${c}:${v}; the release lists ${refOf(c) ?? 'no such image'}`);
  }
  if (apiserver.tag !== v)
    throw new UnsupportedError(`kubeadm runs kube-apiserver as ${apiserver.repository}/kube-apiserver:${v}; the release lists ${refOf('kube-apiserver')}`);
  const etcd = parts('etcd');
  const dns = parts('coredns');
  if (dns && quirk('kubeadmCorednsSubpath', site.kubernetes.minor) && KUBEADM_DEFAULT_REGISTRIES.includes(dns.repository))
    throw new UnsupportedError(`kubeadm ${v} pulls CoreDNS from ${dns.repository}/coredns/coredns, not the release's ${refOf('coredns')}`);
  const meta = (p: { repository: string; tag: string } | null) => (p ? { imageRepository: p.repository, imageTag: p.tag } : null);
  return { imageRepository: apiserver.repository, etcd: meta(etcd), dns: meta(dns) };
}

function clusterConfiguration(site: ResolvedSite, apiVersion: string, images: PlannedImage[]) {
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
  const pinned = kubeadmImages(site, images);
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
      : {
          local: {
            ...requireEtcdImage(site, pinned.etcd),
            dataDir: NODE.etcdData,
            ...(Object.keys(etcdTiming).length ? { extraArgs: args(m, etcdTiming) } : {}),
          },
        };
  return {
    apiVersion,
    kind: 'ClusterConfiguration',
    kubernetesVersion: k.version,
    clusterName: site.name,
    controlPlaneEndpoint: `${site.controlPlane.endpoint.host}:${site.controlPlane.endpoint.port}`,
    certificatesDir: NODE.pki,
    imageRepository: pinned.imageRepository,
    // Without the CoreDNS add-on the site runs no CoreDNS and kubeadm's phase is skipped anyway.
    ...(pinned.dns ? { dns: pinned.dns } : {}),
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
        'cluster-signing-duration': goDuration(site.pki.certValidityHours),
        ...(site.network.plugin === 'bridge' ? { 'allocate-node-cidrs': 'false' } : {}),
        ...leaderElectionArgs(site.controlPlane.timing),
        ...nodeMonitorArgs(site.controlPlane.timing),
      }),
    },
    scheduler: { extraArgs: args(m, { profiling: 'false', ...leaderElectionArgs(site.controlPlane.timing) }) },
  };
}

/** Stacked etcd runs from the payload's image: a release without one cannot boot offline. */
function requireEtcdImage(site: ResolvedSite, etcd: { imageRepository: string; imageTag: string } | null) {
  if (!etcd)
    throw new UnsupportedError(
      `Kubernetes ${site.kubernetes.version} lists no etcd image in the catalog; kubeadm's stacked etcd runs from one (or use etcdTopology: external)`,
    );
  return etcd;
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
    // kubeadm's own default, said here: the client certificate kubeadm join obtains is renewed by
    // the kubelet, approved through the binding kubeadm init creates
    // (kubeadm:node-autoapprove-certificate-rotation).
    rotateCertificates: true,
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
export function kubeadmConfig(site: ResolvedSite, node: ResolvedNode, secrets: KubeadmSecrets, images: PlannedImage[]): string {
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
    docs.push(clusterConfiguration(site, apiVersion, images), kubeletConfiguration(site));
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

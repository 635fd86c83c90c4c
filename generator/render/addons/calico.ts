// Over 300 lines: upstream's Calico manifest as objects (CRDs, RBAC, DaemonSet): data, not logic.
import type { PlannedImage, ResolvedSite } from '../../model/index.js';
import { NODE } from '../../model/layout.js';
import { clusterRole, crb, fieldEnv, image, meta, rule, sa, saSubject, type Obj } from './common.js';

/**
 * Calico with the Kubernetes API as its datastore, VXLAN encapsulation (works on any network the
 * nodes share, no BGP peering to plan) and no Typha (a site has tens of nodes, not hundreds).
 */

const CALICO_GROUP = 'crd.projectcalico.org';
const ANP_GROUP = 'policy.networking.k8s.io';

/**
 * The resources Calico 3.30 keeps in the Kubernetes API (the CRD list of its v3.30 manifests):
 * kind, scope, and whether the type has a status subresource.
 */
const CALICO_TYPES: { kind: string; plural: string; namespaced?: boolean; status?: boolean }[] = [
  { kind: 'BGPConfiguration', plural: 'bgpconfigurations' },
  { kind: 'BGPFilter', plural: 'bgpfilters' },
  { kind: 'BGPPeer', plural: 'bgppeers' },
  { kind: 'BlockAffinity', plural: 'blockaffinities' },
  { kind: 'CalicoNodeStatus', plural: 'caliconodestatuses', status: true },
  { kind: 'ClusterInformation', plural: 'clusterinformations' },
  { kind: 'FelixConfiguration', plural: 'felixconfigurations' },
  { kind: 'GlobalNetworkPolicy', plural: 'globalnetworkpolicies' },
  { kind: 'GlobalNetworkSet', plural: 'globalnetworksets' },
  { kind: 'HostEndpoint', plural: 'hostendpoints' },
  { kind: 'IPAMBlock', plural: 'ipamblocks' },
  { kind: 'IPAMConfig', plural: 'ipamconfigs' },
  { kind: 'IPAMHandle', plural: 'ipamhandles' },
  { kind: 'IPPool', plural: 'ippools' },
  { kind: 'IPReservation', plural: 'ipreservations' },
  { kind: 'KubeControllersConfiguration', plural: 'kubecontrollersconfigurations', status: true },
  { kind: 'NetworkPolicy', plural: 'networkpolicies', namespaced: true },
  { kind: 'NetworkSet', plural: 'networksets', namespaced: true },
  { kind: 'StagedGlobalNetworkPolicy', plural: 'stagedglobalnetworkpolicies' },
  { kind: 'StagedKubernetesNetworkPolicy', plural: 'stagedkubernetesnetworkpolicies', namespaced: true },
  { kind: 'StagedNetworkPolicy', plural: 'stagednetworkpolicies', namespaced: true },
  { kind: 'Tier', plural: 'tiers' },
];
/**
 * The admin network policy API (sig-network), which Calico 3.30 enforces and watches. Its group is
 * under k8s.io, which the apiserver protects: the definitions name the API review that approved it.
 */
const ANP_APPROVAL = { 'api-approved.kubernetes.io': 'https://github.com/kubernetes-sigs/network-policy-api/pull/30' };
const ANP_TYPES = [
  { kind: 'AdminNetworkPolicy', plural: 'adminnetworkpolicies', status: true },
  { kind: 'BaselineAdminNetworkPolicy', plural: 'baselineadminnetworkpolicies', status: true },
];

/**
 * The definitions carry a structural schema that keeps every field, not Calico's full OpenAPI
 * schemas: Calico's own clients validate what they write, and the apiserver only has to store it.
 */
function crd(
  group: string,
  version: string,
  t: { kind: string; plural: string; namespaced?: boolean; status?: boolean },
  annotations?: Record<string, string>,
): Obj {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { ...meta(`${t.plural}.${group}`), ...(annotations ? { annotations } : {}) },
    spec: {
      group,
      names: { kind: t.kind, listKind: `${t.kind}List`, plural: t.plural, singular: t.kind.toLowerCase() },
      scope: t.namespaced ? 'Namespaced' : 'Cluster',
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          ...(t.status ? { subresources: { status: {} } } : {}),
        },
      ],
    },
  };
}

const ALL_CALICO = CALICO_TYPES.map((t) => t.plural);
const IPAM = ['blockaffinities', 'ipamblocks', 'ipamhandles'];
const RW = ['get', 'list', 'create', 'update', 'delete'];

function rbac(): Obj[] {
  return [
    sa('calico-node'),
    sa('calico-cni-plugin'),
    sa('calico-kube-controllers'),
    clusterRole('calico-node', [
      rule([''], ['pods', 'nodes', 'namespaces', 'configmaps'], ['get']),
      rule(['discovery.k8s.io'], ['endpointslices'], ['watch', 'list']),
      rule([''], ['endpoints', 'services'], ['watch', 'list', 'get']),
      rule([''], ['nodes/status'], ['patch', 'update']),
      rule(['networking.k8s.io'], ['networkpolicies'], ['watch', 'list']),
      rule(
        [ANP_GROUP],
        ANP_TYPES.map((t) => t.plural),
        ['watch', 'list'],
      ),
      rule([''], ['pods', 'namespaces', 'serviceaccounts'], ['list', 'watch']),
      rule([''], ['pods/status'], ['patch']),
      rule([CALICO_GROUP], ALL_CALICO, ['get', 'list', 'watch']),
      rule([CALICO_GROUP], ['ippools', 'felixconfigurations', 'clusterinformations', 'bgpconfigurations', 'bgppeers', 'tiers'], ['create', 'update']),
      rule([CALICO_GROUP], ['caliconodestatuses', 'caliconodestatuses/status'], ['update']),
      rule([''], ['nodes'], ['get', 'list', 'watch']),
      rule([CALICO_GROUP], IPAM, RW),
      rule([CALICO_GROUP], ['ipamconfigs'], ['get', 'create']),
      rule(['apps'], ['daemonsets'], ['get']),
      // calico-node mints the CNI plugin's short-lived token, for that account only.
      rule([''], ['serviceaccounts/token'], ['create'], ['calico-cni-plugin']),
    ]),
    clusterRole('calico-cni-plugin', [
      rule([''], ['pods', 'nodes', 'namespaces'], ['get']),
      rule([''], ['pods/status'], ['patch']),
      rule([CALICO_GROUP], IPAM, RW),
      rule([CALICO_GROUP], ['ipamconfigs', 'clusterinformations', 'ippools', 'ipreservations'], ['get', 'list']),
    ]),
    clusterRole('calico-kube-controllers', [
      rule([''], ['nodes'], ['watch', 'list', 'get']),
      rule([''], ['pods'], ['get', 'list', 'watch']),
      rule([''], ['services', 'endpoints'], ['get', 'list', 'watch']),
      rule(['discovery.k8s.io'], ['endpointslices'], ['get', 'list', 'watch']),
      rule([CALICO_GROUP], ['ipreservations'], ['list']),
      rule([CALICO_GROUP], [...IPAM, 'ippools'], [...RW, 'watch']),
      rule([CALICO_GROUP], ['hostendpoints'], RW),
      rule([CALICO_GROUP], ['clusterinformations', 'kubecontrollersconfigurations', 'tiers'], ['get', 'list', 'create', 'update', 'watch']),
      rule([CALICO_GROUP], ['kubecontrollersconfigurations/status'], ['update']),
    ]),
    crb('calico-node', 'calico-node', [saSubject('calico-node')]),
    crb('calico-cni-plugin', 'calico-cni-plugin', [saSubject('calico-cni-plugin')]),
    crb('calico-kube-controllers', 'calico-kube-controllers', [saSubject('calico-kube-controllers')]),
  ];
}

/** The CNI configuration install-cni writes on every node; it fills in the node name and the token's kubeconfig. */
function cniConfig(): string {
  const conf = {
    name: 'k8s-pod-network',
    cniVersion: '0.3.1',
    plugins: [
      {
        type: 'calico',
        log_level: 'info',
        log_file_path: '/var/log/calico/cni/cni.log',
        datastore_type: 'kubernetes',
        nodename: '__KUBERNETES_NODE_NAME__',
        // 0: Calico picks the MTU from the host interface and the encapsulation.
        mtu: 0,
        ipam: { type: 'calico-ipam' },
        policy: { type: 'k8s' },
        kubernetes: { kubeconfig: '__KUBECONFIG_FILEPATH__' },
      },
      { type: 'portmap', snat: true, capabilities: { portMappings: true } },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

/** The node's own subnets: Calico picks the host address inside them (never a pod or docker bridge). */
function autodetection(site: ResolvedSite): string {
  if (site.network.interface) return `interface=${site.network.interface}`;
  const nets = [...new Set(site.nodes.map((n) => n.subnet))].sort();
  return `cidr=${nets.join(',')}`;
}

const configEnv = (name: string, key: string): Obj => ({ name, valueFrom: { configMapKeyRef: { name: 'calico-config', key } } });
/** Host-network pods reach the apiserver where the node's own clients do, not through a Service that kube-proxy may not have programmed yet. */
const apiserverEnv = { envFrom: [{ configMapRef: { name: 'kubernetes-services-endpoint', optional: true } }] };
const hostPath = (name: string, path: string, type?: string): Obj => ({ name, hostPath: { path, ...(type ? { type } : {}) } });

function node(site: ResolvedSite, images: PlannedImage[]): Obj {
  const labels = { 'k8s-app': 'calico-node' };
  const range = site.kubernetes.nodePortRange;
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta('calico-node', 'kube-system', labels),
    spec: {
      selector: { matchLabels: labels },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          hostNetwork: true,
          tolerations: [
            { effect: 'NoSchedule', operator: 'Exists' },
            { key: 'CriticalAddonsOnly', operator: 'Exists' },
            { effect: 'NoExecute', operator: 'Exists' },
          ],
          serviceAccountName: 'calico-node',
          // Calico removes its own state on the way down; nothing to wait for.
          terminationGracePeriodSeconds: 0,
          priorityClassName: 'system-node-critical',
          initContainers: [
            {
              name: 'install-cni',
              image: image(images, 'calico-cni'),
              imagePullPolicy: 'IfNotPresent',
              command: ['/opt/cni/bin/install'],
              ...apiserverEnv,
              env: [
                { name: 'CNI_CONF_NAME', value: '10-calico.conflist' },
                configEnv('CNI_NETWORK_CONFIG', 'cni_network_config'),
                fieldEnv('KUBERNETES_NODE_NAME', 'spec.nodeName'),
                configEnv('CNI_MTU', 'veth_mtu'),
                { name: 'SLEEP', value: 'false' },
              ],
              volumeMounts: [
                { mountPath: '/host/opt/cni/bin', name: 'cni-bin-dir' },
                { mountPath: '/host/etc/cni/net.d', name: 'cni-net-dir' },
              ],
              securityContext: { privileged: true },
            },
          ],
          containers: [
            {
              name: 'calico-node',
              image: image(images, 'calico-node'),
              imagePullPolicy: 'IfNotPresent',
              ...apiserverEnv,
              env: [
                { name: 'DATASTORE_TYPE', value: 'kubernetes' },
                { name: 'WAIT_FOR_DATASTORE', value: 'true' },
                fieldEnv('NODENAME', 'spec.nodeName'),
                configEnv('CALICO_NETWORKING_BACKEND', 'calico_backend'),
                { name: 'CLUSTER_TYPE', value: 'k8s' },
                { name: 'IP', value: 'autodetect' },
                { name: 'IP_AUTODETECTION_METHOD', value: autodetection(site) },
                { name: 'CALICO_IPV4POOL_CIDR', value: site.kubernetes.podCIDR },
                { name: 'CALICO_IPV4POOL_VXLAN', value: 'Always' },
                { name: 'CALICO_IPV4POOL_IPIP', value: 'Never' },
                { name: 'CALICO_IPV4POOL_NAT_OUTGOING', value: 'true' },
                configEnv('FELIX_VXLANMTU', 'veth_mtu'),
                { name: 'CALICO_DISABLE_FILE_LOGGING', value: 'true' },
                { name: 'FELIX_DEFAULTENDPOINTTOHOSTACTION', value: 'ACCEPT' },
                { name: 'FELIX_IPV6SUPPORT', value: 'false' },
                { name: 'FELIX_HEALTHENABLED', value: 'true' },
                // Under ipvs, Felix must know which ports kube-proxy answers on.
                { name: 'FELIX_KUBENODEPORTRANGES', value: `${range.from}:${range.to}` },
              ],
              securityContext: { privileged: true },
              resources: { requests: { cpu: '250m' } },
              lifecycle: { preStop: { exec: { command: ['/bin/calico-node', '-shutdown'] } } },
              // VXLAN without BGP: no BIRD to ask, Felix alone says whether the node is up.
              livenessProbe: {
                exec: { command: ['/bin/calico-node', '-felix-live'] },
                periodSeconds: 10,
                initialDelaySeconds: 10,
                failureThreshold: 6,
                timeoutSeconds: 10,
              },
              readinessProbe: { exec: { command: ['/bin/calico-node', '-felix-ready'] }, periodSeconds: 10, timeoutSeconds: 10 },
              volumeMounts: [
                { mountPath: '/host/etc/cni/net.d', name: 'cni-net-dir', readOnly: false },
                { mountPath: '/lib/modules', name: 'lib-modules', readOnly: true },
                { mountPath: '/run/xtables.lock', name: 'xtables-lock', readOnly: false },
                { mountPath: '/var/run/calico', name: 'var-run-calico', readOnly: false },
                { mountPath: '/var/lib/calico', name: 'var-lib-calico', readOnly: false },
                { mountPath: '/var/run/nodeagent', name: 'policysync' },
                { mountPath: '/var/log/calico/cni', name: 'cni-log-dir', readOnly: true },
              ],
            },
          ],
          volumes: [
            hostPath('lib-modules', '/lib/modules'),
            hostPath('var-run-calico', '/var/run/calico', 'DirectoryOrCreate'),
            hostPath('var-lib-calico', '/var/lib/calico', 'DirectoryOrCreate'),
            hostPath('xtables-lock', '/run/xtables.lock', 'FileOrCreate'),
            hostPath('cni-bin-dir', NODE.cniBin, 'DirectoryOrCreate'),
            hostPath('cni-net-dir', NODE.cniConf),
            hostPath('cni-log-dir', '/var/log/calico/cni'),
            hostPath('policysync', '/var/run/nodeagent', 'DirectoryOrCreate'),
          ],
        },
      },
    },
  };
}

function kubeControllers(images: PlannedImage[]): Obj {
  const labels = { 'k8s-app': 'calico-kube-controllers' };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta('calico-kube-controllers', 'kube-system', labels),
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      strategy: { type: 'Recreate' },
      template: {
        metadata: { name: 'calico-kube-controllers', namespace: 'kube-system', labels },
        spec: {
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          tolerations: [
            { key: 'CriticalAddonsOnly', operator: 'Exists' },
            { key: 'node-role.kubernetes.io/master', effect: 'NoSchedule' },
            { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' },
          ],
          serviceAccountName: 'calico-kube-controllers',
          priorityClassName: 'system-cluster-critical',
          containers: [
            {
              name: 'calico-kube-controllers',
              image: image(images, 'calico-kube-controllers'),
              imagePullPolicy: 'IfNotPresent',
              env: [
                { name: 'ENABLED_CONTROLLERS', value: 'node,loadbalancer' },
                { name: 'DATASTORE_TYPE', value: 'kubernetes' },
              ],
              livenessProbe: {
                exec: { command: ['/usr/bin/check-status', '-l'] },
                periodSeconds: 10,
                initialDelaySeconds: 10,
                failureThreshold: 6,
                timeoutSeconds: 10,
              },
              readinessProbe: { exec: { command: ['/usr/bin/check-status', '-r'] }, periodSeconds: 10 },
              securityContext: {
                runAsNonRoot: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
            },
          ],
        },
      },
    },
  };
}

export function calico(site: ResolvedSite, images: PlannedImage[]): Obj[] {
  const ep = site.controlPlane.endpoint;
  return [
    ...CALICO_TYPES.map((t) => crd(CALICO_GROUP, 'v1', t)),
    ...ANP_TYPES.map((t) => crd(ANP_GROUP, 'v1alpha1', t, ANP_APPROVAL)),
    ...rbac(),
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta('calico-config', 'kube-system'),
      data: { typha_service_name: 'none', calico_backend: 'vxlan', veth_mtu: '0', cni_network_config: cniConfig() },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta('kubernetes-services-endpoint', 'kube-system'),
      data: { KUBERNETES_SERVICE_HOST: ep.host, KUBERNETES_SERVICE_PORT: String(ep.port) },
    },
    node(site, images),
    kubeControllers(images),
  ];
}

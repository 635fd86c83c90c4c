import { stringify } from 'yaml';
import { quirk } from '../catalog/quirks.js';
import type { PlannedImage, ResolvedSite } from '../model/index.js';

/** Cluster manifests applied once by the bootstrap node, as objects; one YAML file per add-on. */
type Obj = Record<string, unknown>;

const meta = (name: string, namespace?: string, labels?: Record<string, string>) => ({ name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}) });
const sa = (name: string, ns = 'kube-system'): Obj => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(name, ns) });
const crb = (name: string, role: string, subjects: Obj[]): Obj => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: meta(name), roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects });
const saSubject = (name: string, ns = 'kube-system') => ({ kind: 'ServiceAccount', name, namespace: ns });

function doc(objects: Obj[]): string {
  return objects.map((o) => stringify(o)).join('---\n');
}

function image(images: PlannedImage[], name: string): string {
  const img = images.find((i) => i.name === name);
  if (!img) throw new Error(`internal: image ${name} is not in the plan`);
  return img.ref;
}

/** From 1.29 the admin credential's group only has rights through this binding (kubeadm creates it; binary mode must too). */
function clusterAdmins(site: ResolvedSite): Obj[] {
  if (!quirk('clusterAdminsGroup', site.kubernetes.minor)) return [];
  return [crb('kubeadm:cluster-admins', 'cluster-admin', [{ kind: 'Group', name: 'kubeadm:cluster-admins', apiGroup: 'rbac.authorization.k8s.io' }])];
}

function coredns(site: ResolvedSite, images: PlannedImage[]): Obj[] {
  const labels = { 'k8s-app': 'kube-dns' };
  const corefile = [
    '.:53 {',
    '    errors',
    '    health {',
    '        lameduck 5s',
    '    }',
    '    ready',
    `    kubernetes ${site.kubernetes.clusterDomain} in-addr.arpa ip6.arpa {`,
    '        pods insecure',
    '        fallthrough in-addr.arpa ip6.arpa',
    '        ttl 30',
    '    }',
    '    prometheus :9153',
    '    forward . /etc/resolv.conf {',
    '        max_concurrent 1000',
    '    }',
    '    cache 30',
    '    loop',
    '    reload',
    '    loadbalance',
    '}',
    '',
  ].join('\n');
  return [
    sa('coredns'),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: meta('system:coredns'),
      rules: [
        { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    },
    crb('system:coredns', 'system:coredns', [saSubject('coredns')]),
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('coredns', 'kube-system'), data: { Corefile: corefile } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta('coredns', 'kube-system', labels),
      spec: {
        replicas: 2,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            priorityClassName: 'system-cluster-critical',
            serviceAccountName: 'coredns',
            tolerations: [{ key: 'CriticalAddonsOnly', operator: 'Exists' }, { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }],
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            containers: [
              {
                name: 'coredns',
                image: image(images, 'coredns'),
                imagePullPolicy: 'IfNotPresent',
                args: ['-conf', '/etc/coredns/Corefile'],
                resources: { limits: { memory: '170Mi' }, requests: { cpu: '100m', memory: '70Mi' } },
                volumeMounts: [{ name: 'config-volume', mountPath: '/etc/coredns', readOnly: true }],
                ports: [
                  { containerPort: 53, name: 'dns', protocol: 'UDP' },
                  { containerPort: 53, name: 'dns-tcp', protocol: 'TCP' },
                  { containerPort: 9153, name: 'metrics', protocol: 'TCP' },
                ],
                securityContext: { allowPrivilegeEscalation: false, capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] }, readOnlyRootFilesystem: true },
                livenessProbe: { httpGet: { path: '/health', port: 8080 }, initialDelaySeconds: 60, timeoutSeconds: 5 },
                readinessProbe: { httpGet: { path: '/ready', port: 8181 } },
              },
            ],
            dnsPolicy: 'Default',
            volumes: [{ name: 'config-volume', configMap: { name: 'coredns', items: [{ key: 'Corefile', path: 'Corefile' }] } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { ...meta('kube-dns', 'kube-system', { ...labels, 'kubernetes.io/name': 'CoreDNS' }), annotations: { 'prometheus.io/port': '9153', 'prometheus.io/scrape': 'true' } },
      spec: {
        selector: labels,
        clusterIP: site.kubernetes.clusterDNS,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
          { name: 'metrics', port: 9153, protocol: 'TCP' },
        ],
      },
    },
  ];
}

function metricsServer(images: PlannedImage[]): Obj[] {
  const labels = { 'k8s-app': 'metrics-server' };
  return [
    sa('metrics-server'),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { ...meta('system:aggregated-metrics-reader'), labels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true', 'rbac.authorization.k8s.io/aggregate-to-edit': 'true', 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } },
      rules: [{ apiGroups: ['metrics.k8s.io'], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: meta('system:metrics-server'),
      rules: [
        { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta('metrics-server-auth-reader', 'kube-system'), roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'extension-apiserver-authentication-reader' }, subjects: [saSubject('metrics-server')] },
    crb('metrics-server:system:auth-delegator', 'system:auth-delegator', [saSubject('metrics-server')]),
    crb('system:metrics-server', 'system:metrics-server', [saSubject('metrics-server')]),
    { apiVersion: 'v1', kind: 'Service', metadata: meta('metrics-server', 'kube-system', labels), spec: { selector: labels, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 'https' }] } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta('metrics-server', 'kube-system', labels),
      spec: {
        selector: { matchLabels: labels },
        strategy: { rollingUpdate: { maxUnavailable: 0 } },
        template: {
          metadata: { labels },
          spec: {
            priorityClassName: 'system-cluster-critical',
            serviceAccountName: 'metrics-server',
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            containers: [
              {
                name: 'metrics-server',
                image: image(images, 'metrics-server'),
                imagePullPolicy: 'IfNotPresent',
                // Kubelet serving certificates are issued by the cluster CA, so metrics-server verifies them.
                args: ['--cert-dir=/tmp', '--secure-port=10250', '--kubelet-preferred-address-types=InternalIP', '--kubelet-use-node-status-port', '--metric-resolution=15s', '--kubelet-certificate-authority=/etc/kubernetes/ca/ca.crt'],
                ports: [{ containerPort: 10250, name: 'https', protocol: 'TCP' }],
                readinessProbe: { httpGet: { path: '/readyz', port: 'https', scheme: 'HTTPS' }, initialDelaySeconds: 20, periodSeconds: 10 },
                livenessProbe: { httpGet: { path: '/livez', port: 'https', scheme: 'HTTPS' }, periodSeconds: 10 },
                resources: { requests: { cpu: '100m', memory: '200Mi' } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: 1000, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
                volumeMounts: [{ name: 'tmp-dir', mountPath: '/tmp' }, { name: 'cluster-ca', mountPath: '/etc/kubernetes/ca', readOnly: true }],
              },
            ],
            volumes: [{ name: 'tmp-dir', emptyDir: {} }, { name: 'cluster-ca', configMap: { name: 'kube-root-ca.crt' } }],
          },
        },
      },
    },
    {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { ...meta('v1beta1.metrics.k8s.io'), labels },
      spec: { group: 'metrics.k8s.io', groupPriorityMinimum: 100, insecureSkipTLSVerify: true, service: { name: 'metrics-server', namespace: 'kube-system' }, version: 'v1beta1', versionPriority: 100 },
    },
  ];
}

function flannel(site: ResolvedSite, images: PlannedImage[]): Obj[] {
  const ns = 'kube-flannel';
  const labels = { app: 'flannel', 'k8s-app': 'flannel' };
  const netConf = { Network: site.kubernetes.podCIDR, Backend: { Type: 'vxlan' } };
  const cniConf = { name: 'cbr0', cniVersion: '0.3.1', plugins: [{ type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } }, { type: 'portmap', capabilities: { portMappings: true } }] };
  const iface = site.network.interface ? [`--iface=${site.network.interface}`] : [];
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } },
    sa('flannel', ns),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: meta('flannel'),
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
      ],
    },
    crb('flannel', 'flannel', [saSubject('flannel', ns)]),
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('kube-flannel-cfg', ns, labels), data: { 'cni-conf.json': `${JSON.stringify(cniConf, null, 2)}\n`, 'net-conf.json': `${JSON.stringify(netConf, null, 2)}\n` } },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: meta('kube-flannel-ds', ns, labels),
      spec: {
        selector: { matchLabels: { app: 'flannel' } },
        template: {
          metadata: { labels },
          spec: {
            hostNetwork: true,
            priorityClassName: 'system-node-critical',
            serviceAccountName: 'flannel',
            tolerations: [{ operator: 'Exists', effect: 'NoSchedule' }],
            initContainers: [
              { name: 'install-cni-plugin', image: image(images, 'flannel-cni-plugin'), imagePullPolicy: 'IfNotPresent', command: ['cp'], args: ['-f', '/flannel', '/opt/cni/bin/flannel'], volumeMounts: [{ name: 'cni-plugin', mountPath: '/opt/cni/bin' }] },
              { name: 'install-cni', image: image(images, 'flannel'), imagePullPolicy: 'IfNotPresent', command: ['cp'], args: ['-f', '/etc/kube-flannel/cni-conf.json', '/etc/cni/net.d/10-flannel.conflist'], volumeMounts: [{ name: 'cni', mountPath: '/etc/cni/net.d' }, { name: 'flannel-cfg', mountPath: '/etc/kube-flannel/' }] },
            ],
            containers: [
              {
                name: 'kube-flannel',
                image: image(images, 'flannel'),
                imagePullPolicy: 'IfNotPresent',
                command: ['/opt/bin/flanneld'],
                args: ['--ip-masq', '--kube-subnet-mgr', ...iface],
                resources: { requests: { cpu: '100m', memory: '50Mi' } },
                securityContext: { privileged: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } },
                env: [
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'EVENT_QUEUE_DEPTH', value: '5000' },
                ],
                volumeMounts: [
                  { name: 'run', mountPath: '/run/flannel' },
                  { name: 'flannel-cfg', mountPath: '/etc/kube-flannel/' },
                  { name: 'xtables-lock', mountPath: '/run/xtables.lock' },
                ],
              },
            ],
            volumes: [
              { name: 'run', hostPath: { path: '/run/flannel' } },
              { name: 'cni-plugin', hostPath: { path: '/opt/cni/bin' } },
              { name: 'cni', hostPath: { path: '/etc/cni/net.d' } },
              { name: 'flannel-cfg', configMap: { name: 'kube-flannel-cfg' } },
              { name: 'xtables-lock', hostPath: { path: '/run/xtables.lock', type: 'FileOrCreate' } },
            ],
          },
        },
      },
    },
  ];
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
        nodes: site.nodes.map((n) => `${n.name}=${n.ip}`).join(','),
      },
    },
  ];
}

/** What the bootstrap node applies, by file name (applied in name order). */
export function clusterManifests(site: ResolvedSite, images: PlannedImage[]): Record<string, string> {
  const out: Record<string, string> = { '00-kubeseed-site.yaml': doc(siteInfo(site)) };
  const admins = clusterAdmins(site);
  if (admins.length) out['01-cluster-admins.yaml'] = doc(admins);
  if (site.network.plugin === 'flannel') out['10-flannel.yaml'] = doc(flannel(site, images));
  if (site.network.plugin === 'calico') throw new UnsupportedError('the calico network plugin has no manifests yet; use flannel or bridge');
  for (const addon of site.addons) {
    if (addon === 'coredns') out['20-coredns.yaml'] = doc(coredns(site, images));
    else if (addon === 'metrics-server') out['30-metrics-server.yaml'] = doc(metricsServer(images));
    else throw new UnsupportedError(`the ${addon} add-on has no manifests yet; remove it from spec.addons`);
  }
  return out;
}

export class UnsupportedError extends Error {}

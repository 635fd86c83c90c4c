import type { PlannedImage, ResolvedSite } from '../../model/index.js';
import { NODE } from '../../model/layout.js';
import { crb, image, meta, sa, saSubject, type Obj } from './common.js';

/** flannel (VXLAN) over the site's pod CIDR. */
export function flannel(site: ResolvedSite, images: PlannedImage[]): Obj[] {
  const ns = 'kube-flannel';
  const labels = { app: 'flannel', 'k8s-app': 'flannel' };
  const netConf = { Network: site.kubernetes.podCIDR, Backend: { Type: 'vxlan' } };
  const cniConf = {
    name: 'cbr0',
    cniVersion: '0.3.1',
    plugins: [
      { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  const iface = site.network.interface ? [`--iface=${site.network.interface}`] : [];
  // flannel's CNI plugin has its own image (flannel-io/cni-plugin) since the reference CNI plugins
  // dropped it in v1.0.0 (containernetworking/plugins#633); a release without that image carries
  // CNI plugins that still include it (v0.9.0 for 1.20.2), so there is nothing to copy.
  const cniPlugin = images.find((i) => i.name === 'flannel-cni-plugin');
  const installPlugin = cniPlugin
    ? [
        {
          name: 'install-cni-plugin',
          image: cniPlugin.ref,
          imagePullPolicy: 'IfNotPresent',
          command: ['cp'],
          args: ['-f', '/flannel', `${NODE.cniBin}/flannel`],
          volumeMounts: [{ name: 'cni-plugin', mountPath: NODE.cniBin }],
        },
      ]
    : [];
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
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta('kube-flannel-cfg', ns, labels),
      data: { 'cni-conf.json': `${JSON.stringify(cniConf, null, 2)}\n`, 'net-conf.json': `${JSON.stringify(netConf, null, 2)}\n` },
    },
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
              ...installPlugin,
              {
                name: 'install-cni',
                image: image(images, 'flannel'),
                imagePullPolicy: 'IfNotPresent',
                command: ['cp'],
                args: ['-f', '/etc/kube-flannel/cni-conf.json', `${NODE.cniConf}/10-flannel.conflist`],
                volumeMounts: [
                  { name: 'cni', mountPath: NODE.cniConf },
                  { name: 'flannel-cfg', mountPath: '/etc/kube-flannel/' },
                ],
              },
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
              ...(cniPlugin ? [{ name: 'cni-plugin', hostPath: { path: NODE.cniBin } }] : []),
              { name: 'cni', hostPath: { path: NODE.cniConf } },
              { name: 'flannel-cfg', configMap: { name: 'kube-flannel-cfg' } },
              { name: 'xtables-lock', hostPath: { path: '/run/xtables.lock', type: 'FileOrCreate' } },
            ],
          },
        },
      },
    },
  ];
}

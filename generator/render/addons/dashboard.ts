import type { PlannedImage } from '../../model/index.js';
import { clusterRole, crb, image, meta, namespace, rb, role, rule, sa, saSubject, type Obj } from './common.js';

/**
 * Kubernetes Dashboard v2 and its metrics scraper, in their own namespace. It gets no cluster
 * rights of its own: operators sign in with a token of an account they choose.
 */
const NS = 'kubernetes-dashboard';
const dashLabels = { 'k8s-app': 'kubernetes-dashboard' };
const scraperLabels = { 'k8s-app': 'dashboard-metrics-scraper' };
const secret = (name: string, data?: Record<string, string>): Obj => ({
  apiVersion: 'v1',
  kind: 'Secret',
  type: 'Opaque',
  metadata: meta(name, NS, dashLabels),
  ...(data ? { data } : {}),
});
const restricted = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsUser: 1001,
  runAsGroup: 2001,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};
const placement = {
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  tolerations: [
    { key: 'node-role.kubernetes.io/master', effect: 'NoSchedule' },
    { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' },
  ],
};

function deployment(name: string, labels: Record<string, string>, container: Obj, volumes: Obj[]): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(name, NS, labels),
    spec: {
      replicas: 1,
      revisionHistoryLimit: 10,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          ...placement,
          serviceAccountName: 'kubernetes-dashboard',
          securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
          containers: [container],
          volumes,
        },
      },
    },
  };
}

export function dashboard(images: PlannedImage[]): Obj[] {
  return [
    namespace(NS),
    sa('kubernetes-dashboard', NS),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('kubernetes-dashboard', NS, dashLabels),
      spec: { selector: dashLabels, ports: [{ port: 443, targetPort: 8443 }] },
    },
    secret('kubernetes-dashboard-certs'),
    // The dashboard fills these in at start; they must exist for its Role to name them.
    secret('kubernetes-dashboard-csrf', { csrf: '' }),
    secret('kubernetes-dashboard-key-holder'),
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('kubernetes-dashboard-settings', NS, dashLabels) },
    role('kubernetes-dashboard', NS, [
      rule([''], ['secrets'], ['get', 'update', 'delete'], ['kubernetes-dashboard-key-holder', 'kubernetes-dashboard-certs', 'kubernetes-dashboard-csrf']),
      rule([''], ['configmaps'], ['get', 'update'], ['kubernetes-dashboard-settings']),
      rule([''], ['services'], ['proxy'], ['heapster', 'dashboard-metrics-scraper']),
      rule([''], ['services/proxy'], ['get'], ['heapster', 'http:heapster:', 'https:heapster:', 'dashboard-metrics-scraper', 'http:dashboard-metrics-scraper']),
    ]),
    clusterRole('kubernetes-dashboard', [rule(['metrics.k8s.io'], ['pods', 'nodes'], ['get', 'list', 'watch'])]),
    rb('kubernetes-dashboard', NS, 'kubernetes-dashboard', [saSubject('kubernetes-dashboard', NS)]),
    crb('kubernetes-dashboard', 'kubernetes-dashboard', [saSubject('kubernetes-dashboard', NS)]),
    deployment(
      'kubernetes-dashboard',
      dashLabels,
      {
        name: 'kubernetes-dashboard',
        image: image(images, 'dashboard'),
        imagePullPolicy: 'IfNotPresent',
        ports: [{ containerPort: 8443, protocol: 'TCP' }],
        args: ['--auto-generate-certificates', `--namespace=${NS}`],
        volumeMounts: [
          { name: 'kubernetes-dashboard-certs', mountPath: '/certs' },
          { mountPath: '/tmp', name: 'tmp-volume' },
        ],
        livenessProbe: { httpGet: { scheme: 'HTTPS', path: '/', port: 8443 }, initialDelaySeconds: 30, timeoutSeconds: 30 },
        securityContext: restricted,
      },
      [
        { name: 'kubernetes-dashboard-certs', secret: { secretName: 'kubernetes-dashboard-certs' } },
        { name: 'tmp-volume', emptyDir: {} },
      ],
    ),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('dashboard-metrics-scraper', NS, scraperLabels),
      spec: { selector: scraperLabels, ports: [{ port: 8000, targetPort: 8000 }] },
    },
    deployment(
      'dashboard-metrics-scraper',
      scraperLabels,
      {
        name: 'dashboard-metrics-scraper',
        image: image(images, 'dashboard-metrics-scraper'),
        imagePullPolicy: 'IfNotPresent',
        ports: [{ containerPort: 8000, protocol: 'TCP' }],
        livenessProbe: { httpGet: { scheme: 'HTTP', path: '/', port: 8000 }, initialDelaySeconds: 30, timeoutSeconds: 30 },
        volumeMounts: [{ mountPath: '/tmp', name: 'tmp-volume' }],
        securityContext: restricted,
      },
      [{ name: 'tmp-volume', emptyDir: {} }],
    ),
  ];
}
